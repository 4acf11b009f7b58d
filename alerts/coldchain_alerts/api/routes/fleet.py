"""/api/v1/fleet: the fleet registry. Reading for everyone; changing and approving for
officers and admins; a change that loosens a critical limit waits for a second person.

A user of some sites reads those sites of each version, and the requests that touch only
them; changes values and decides requests at the sites where they act; another site's
values and requests answer 404. A whole fleet (PUT) is for users of every site."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from coldchain.contract import MAX_REASON_CHARS
from coldchain.registry import only_sites
from coldchain_alerts import registry
from coldchain_alerts.access import Access
from coldchain_alerts.api.deps import (
    ERRORS,
    NO_NUL,
    FleetChanger,
    HubFleetChanger,
    Id,
    Problem,
    Reader,
    Refusal,
    SessionDep,
    TokenRoute,
    WriteSessionDep,
    acting_at,
    missing,
)
from coldchain_alerts.models import FleetRequest, FleetVersion

router = APIRouter(prefix="/api/v1/fleet", tags=["fleet"], responses=ERRORS, route_class=TokenRoute)
Changer = FleetChanger
Reason = Annotated[
    str | None,
    Field(
        default=None,
        max_length=MAX_REASON_CHARS,
        pattern=NO_NUL,
        description="Why: needed for limits and categories.",
    ),
]
REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem},
    409: {"model": Problem},
    422: {"model": Refusal},
}


class VersionOut(BaseModel):
    version: int
    valid_from: datetime
    created_by: str
    reason: str | None
    approved_by: str | None
    approved_at: datetime | None
    fleet: dict[str, Any] = Field(description="The fleet file's content (coldchain.fleet.Fleet).")


class ChangeOut(BaseModel):
    path: str = Field(description="The value changed, e.g. assets/cold-room-1/limits/max_c.")
    old: Any
    new: Any


class RequestOut(BaseModel):
    id: int
    status: str = Field(description="pending (waits for a second person), applied or refused.")
    base_version: int | None
    version: int | None = Field(description="The version it made, once applied.")
    requested_by: str
    requested_at: datetime
    reason: str | None
    loosens: list[str] = Field(description="What it loosens: why it waits for approval.")
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    changes: list[ChangeOut]


class ValueIn(BaseModel):
    path: str = Field(max_length=300, pattern=NO_NUL, examples=["assets/cold-room-1/limits/max_c"])
    value: Any = Field(description="The new value; null removes a limit override.")
    reason: Reason


class FleetIn(BaseModel):
    fleet: dict[str, Any] = Field(description="A whole fleet, as the fleet file holds it.")
    reason: Reason


class RefusalIn(BaseModel):
    reason: Reason


def version_out(row: FleetVersion, user: Access) -> VersionOut:
    """The version as `user` may see it: only their sites when they have sites."""
    sites = user.visible()
    data = registry.data_of(row)
    return VersionOut(
        version=row.number,
        valid_from=row.valid_from,
        created_by=row.created_by,
        reason=row.reason,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        fleet=data if sites is None else only_sites(data, sites),
    )


def request_out(row: FleetRequest) -> RequestOut:
    return RequestOut(
        id=row.id,
        status=row.status,
        base_version=row.base_version,
        version=row.version,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        reason=row.reason,
        loosens=registry.loosens_of(row),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_reason=row.decision_reason,
        changes=[
            ChangeOut(path=c.path, old=json.loads(c.old), new=json.loads(c.new))
            for c in row.changes
        ],
    )


@router.get("", response_model=VersionOut, responses={404: {"model": Problem}})
def current(session: SessionDep, user: Reader) -> VersionOut:
    """The newest version of the fleet."""
    row = registry.newest(session)
    if row is None:
        raise HTTPException(404, "the registry holds no fleet yet: import one")
    return version_out(row, user)


@router.get("/versions", response_model=list[VersionOut])
def all_versions(session: SessionDep, user: Reader) -> list[VersionOut]:
    return [version_out(row, user) for row in registry.versions(session)]


@router.get("/versions/{number}", response_model=VersionOut, responses={404: {"model": Problem}})
def one_version(number: Id, session: SessionDep, user: Reader) -> VersionOut:
    return version_out(registry.version(session, number), user)


@router.get("/requests", response_model=list[RequestOut])
def list_requests(
    session: SessionDep,
    user: Reader,
    status: Annotated[str | None, Query(pattern="^(pending|applied|refused)$")] = None,
) -> list[RequestOut]:
    """Every change asked for, newest first: the history of the fleet (for a user of some
    sites, the changes that touch only their sites)."""
    rows = registry.requests(session, status)
    sites = user.visible()
    if sites is not None:
        rows = [row for row in rows if registry.sites_of_request(session, row.id) <= sites]
    return [request_out(row) for row in rows]


def _may_change(session: Session, user: Access, path: str) -> None:
    """Refuse a value at a site the user does not see (404) or may not change (403)."""
    if user.everywhere:
        return
    site = registry.site_of_path(session, path)
    if site is None:
        raise missing(f"value {path} at your sites")
    acting_at(user, site, f"value {path}")


def _may_decide(session: Session, user: Access, request_id: int) -> None:
    """Refuse a request that touches a site the user does not see (404) or may not change
    (403)."""
    if user.everywhere:
        return
    sites = registry.sites_of_request(session, request_id)
    if not all(user.sees(site) for site in sites):
        raise missing(f"fleet change request {request_id}")
    for site in sorted(sites):
        acting_at(user, site, f"fleet change request {request_id}")


def _answer(outcome: registry.Outcome, response: Response, request: Request) -> RequestOut:
    if outcome.version is not None:
        response.status_code = 201
        request.app.state.service.publish_fleet()
    else:
        response.status_code = 202
    return request_out(outcome.request)


@router.post(
    "/changes",
    response_model=RequestOut,
    status_code=201,
    responses={202: {"model": RequestOut, "description": "Waits for approval"}, **REFUSALS},
)
def change(
    body: ValueIn, session: WriteSessionDep, user: Changer, response: Response, request: Request
) -> RequestOut:
    """Set one value; 201 with the new version, or 202 when it loosens a critical limit
    and waits for a second person's approval."""
    _may_change(session, user, body.path)
    outcome = registry.change_value(session, user.username, body.path, body.value, body.reason)
    session.commit()
    return _answer(outcome, response, request)


@router.put(
    "",
    response_model=RequestOut,
    status_code=201,
    responses={202: {"model": RequestOut, "description": "Waits for approval"}, **REFUSALS},
)
def replace(
    body: FleetIn,
    session: WriteSessionDep,
    user: HubFleetChanger,
    response: Response,
    request: Request,
) -> RequestOut:
    """Replace the whole fleet (an import); the same rules as one change."""
    outcome = registry.propose(session, user.username, body.fleet, body.reason)
    session.commit()
    return _answer(outcome, response, request)


@router.post("/requests/{request_id}/approve", response_model=RequestOut, responses=REFUSALS)
def approve(
    request_id: Id, session: WriteSessionDep, user: Changer, request: Request
) -> RequestOut:
    """Approve a pending change; not by the one who asked for it."""
    _may_decide(session, user, request_id)
    outcome = registry.approve(session, user.username, request_id)
    session.commit()
    request.app.state.service.publish_fleet()
    return request_out(outcome.request)


@router.post("/requests/{request_id}/refuse", response_model=RequestOut, responses=REFUSALS)
def refuse(request_id: Id, body: RefusalIn, session: WriteSessionDep, user: Changer) -> RequestOut:
    _may_decide(session, user, request_id)
    row = registry.refuse(session, user.username, request_id, body.reason)
    session.commit()
    return request_out(row)
