"""/api/v1/gateways: gateways' broker accounts. Admins only: an admin of some sites
lists, registers and retires their sites' gateways; another site's answer 404.

Registering answers the gateway's provisioning bundle, once: the service keeps no copy
of its password (coldchain_alerts.gateways).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from coldchain.contract import ID_PATTERN
from coldchain_alerts import gateways
from coldchain_alerts.api.deps import (
    ERRORS,
    NO_NUL,
    GatewayAdmin,
    Problem,
    SessionDep,
    SettingsDep,
    TokenRoute,
    WriteSessionDep,
    acting_at,
    missing,
)
from coldchain_alerts.auth import Role
from coldchain_alerts.models import GatewayIdentity

router = APIRouter(prefix="/api/v1", tags=["gateways"], responses=ERRORS, route_class=TokenRoute)
#: A site or gateway id as in the fleet file: anything else could be a wildcard in the
#: gateway's rights on the broker ("+", "#") or reach other topics ("_alerts").
GatewayId = Annotated[str, Field(pattern=ID_PATTERN)]
GatewayIdPath = Annotated[str, Path(pattern=ID_PATTERN)]
ADMINS = frozenset({Role.ADMIN})
BROKER_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"description": "Registered or retired already", "model": Problem},
    503: {"description": "Not configured, or the broker did not answer", "model": Problem},
}


class GatewayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: GatewayId
    gateway: GatewayId


class RetireIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, pattern=NO_NUL)


class GatewayOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    site: str
    gateway: str
    created_at: datetime
    created_by: str
    retired_at: datetime | None
    retired_by: str | None
    reason: str | None


@router.get("/gateways", response_model=list[GatewayOut])
def list_gateways(session: SessionDep, user: GatewayAdmin) -> list[GatewayIdentity]:
    return [row for row in gateways.listing(session) if user.is_admin_at(row.site)]


@router.post("/gateways", status_code=201, responses=BROKER_ERRORS)
def register_gateway(
    body: GatewayIn, session: WriteSessionDep, settings: SettingsDep, user: GatewayAdmin
) -> dict[str, Any]:
    """The gateway's provisioning bundle: `coldchain-gateway enroll BUNDLE` installs it.

    It holds the only copy of the gateway's password; it is not answered again.
    """
    acting_at(user, body.site, f"site {body.site}", ADMINS)
    bundle = gateways.register(session, settings, user.username, body.site, body.gateway)
    session.commit()
    return bundle


@router.post(
    "/gateways/{site}/{gateway}/retire",
    response_model=GatewayOut,
    responses={404: {"model": Problem}, **BROKER_ERRORS},
)
def retire_gateway(
    site: GatewayIdPath,
    gateway: GatewayIdPath,
    body: RetireIn,
    session: WriteSessionDep,
    settings: SettingsDep,
    user: GatewayAdmin,
) -> GatewayIdentity:
    if not user.sees(site):
        raise missing(f"gateway {site}/{gateway} registered through this service")
    acting_at(user, site, f"gateway {site}/{gateway}", ADMINS)
    row = gateways.retire(session, settings, user.username, site, gateway, body.reason)
    session.commit()
    return row
