"""/api/v1/policies: each site's escalation policy. A user of some sites reads their
sites' policies (not `*`); changing needs an admin of every site (contacts are the hub's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, Field
from sqlalchemy import select

from coldchain_alerts import policies
from coldchain_alerts.api.deps import (
    ERRORS,
    Admin,
    Problem,
    Reader,
    SessionDep,
    TokenRoute,
    WriteSessionDep,
)
from coldchain_alerts.models import EscalationPolicy

router = APIRouter(
    prefix="/api/v1/policies", tags=["policies"], responses=ERRORS, route_class=TokenRoute
)
SitePath = Annotated[
    str, Path(pattern=r"^(\*|[a-z0-9][a-z0-9-]{0,63})$", description="A site id, or * for all")
]


ContactId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class PolicyIn(BaseModel):
    ack_timeout_s: int = Field(ge=60, le=7 * 86400, description="Time a level has to acknowledge.")
    reminder_interval_s: int | None = Field(default=None, ge=60, le=7 * 86400)
    levels: list[Annotated[list[ContactId], Field(min_length=1, max_length=50)]] = Field(
        min_length=1, max_length=10, description="Contact ids of level 1, level 2, ..."
    )


class PolicyOut(PolicyIn):
    site: str


def _out(policy: EscalationPolicy) -> PolicyOut:
    return PolicyOut(
        site=policy.site,
        ack_timeout_s=policy.ack_timeout_s,
        reminder_interval_s=policy.reminder_interval_s,
        levels=policies.levels_of(policy),
    )


@router.get("", response_model=list[PolicyOut])
def list_policies(session: SessionDep, user: Reader) -> list[PolicyOut]:
    return [_out(row) for row in policies.all_policies(session) if user.sees(row.site)]


@router.get("/{site}", response_model=PolicyOut, responses={404: {"model": Problem}})
def get_policy(site: SitePath, session: SessionDep, user: Reader) -> PolicyOut:
    row = session.scalars(
        select(EscalationPolicy).where(EscalationPolicy.site == site)
    ).one_or_none()
    if row is None or not user.sees(site):
        raise HTTPException(404, f"there is no policy for site {site!r}")
    return _out(row)


@router.put("/{site}", response_model=PolicyOut, responses={404: {"model": Problem}})
def set_policy(site: SitePath, body: PolicyIn, session: WriteSessionDep, user: Admin) -> PolicyOut:
    row = policies.set_policy(
        session, user.username, site, body.ack_timeout_s, body.reminder_interval_s, body.levels
    )
    session.commit()
    return _out(row)


@router.delete("/{site}", status_code=204, responses={404: {"model": Problem}})
def delete_policy(site: SitePath, session: WriteSessionDep, user: Admin) -> None:
    policies.delete_policy(session, user.username, site)
    session.commit()
