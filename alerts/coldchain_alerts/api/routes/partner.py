"""/partner/v1: what a partner (a receiving kitchen, a platform) reads with its API key.

A partner sees only its own deliveries: another partner's id answers 404, as an id
that does not exist. Failed keys are throttled per address like logins (auth.py):
beyond a few, each next try from there waits twice as long (429 with Retry-After).
The versioned path is the contract: a breaking change gets /partner/v2.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from coldchain_alerts import partners
from coldchain_alerts.api.deps import Problem, SessionDep
from coldchain_alerts.auth import LoginThrottle
from coldchain_alerts.bodies import CLOSE, LimitedRoute
from coldchain_alerts.models import Partner, PartnerDelivery

#: Most deliveries one page holds.
MAX_LIMIT = 100
#: The name failed keys are counted under in the throttle (per address).
_KEYS = "partner-key"

_bearer = HTTPBearer(
    auto_error=False, description="The partner's API key (`coldchain-alerts partner add`)."
)

router = APIRouter(
    prefix="/partner/v1",
    tags=["partner API"],
    route_class=LimitedRoute,
    responses={
        401: {"description": "No API key, or an unknown or revoked one", "model": Problem},
        429: {"description": "Too many failed keys from this address; wait", "model": Problem},
    },
)


def calling_partner(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Partner:
    if credentials is not None:
        partner = partners.partner_for_key(session, credentials.credentials)
        if partner is not None:
            return partner
    address = request.client.host if request.client else "unknown"
    throttle: LoginThrottle = request.app.state.partner_throttle
    wait_s = throttle.attempt(_KEYS, address)
    if wait_s:
        request.app.state.service.metrics.requests_refused.labels(
            reason="partner_key_throttled"
        ).inc()
        raise HTTPException(
            429,
            f"too many failed API keys from your address: try again in {math.ceil(wait_s)} s",
            headers={"Retry-After": str(math.ceil(wait_s))} | CLOSE,
        )
    raise HTTPException(
        401,
        "send Authorization: Bearer <partner API key>"
        if credentials is None
        else "this partner API key is unknown or revoked",
        headers={"WWW-Authenticate": "Bearer"} | CLOSE,
    )


CallingPartner = Annotated[Partner, Depends(calling_partner)]
DeliveryId = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="A delivery's id.")]


class DeliverySummary(BaseModel):
    id: str = Field(description="SHA-256 of the certificate's RFC 8785 form.")
    delivery: str | None = Field(description="The delivery (note) number, if the hub gave one.")
    ended_at: datetime = Field(description="Hand-over: the end of the delivery (UTC).")
    issued_at: datetime = Field(description="When the certificate was issued (UTC).")
    received_at: datetime = Field(description="When the hub stored it for you (UTC).")
    certificate_url: str = Field(description="Path of the signed certificate.")


class DeliveryPage(BaseModel):
    """One page of your deliveries, newest first."""

    deliveries: list[DeliverySummary]
    next_cursor: str | None = Field(
        description="Give it as `cursor` for the next (older) page; null on the last page."
    )


@router.get("/deliveries", response_model=DeliveryPage)
def list_deliveries(
    session: SessionDep,
    partner: CallingPartner,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[
        str | None, Query(pattern=r"^[1-9][0-9]{0,9}$", description="next_cursor of a page.")
    ] = None,
) -> DeliveryPage:
    rows = partners.deliveries(session, partner.id, int(cursor) if cursor else None, limit + 1)
    page = rows[:limit]
    return DeliveryPage(
        deliveries=[_summary(row) for row in page],
        next_cursor=str(page[-1].id) if len(rows) > limit else None,
    )


@router.get(
    "/deliveries/{delivery_id}",
    response_class=Response,
    responses={
        200: {
            "description": "The certificate exactly as the hub posted it (Ed25519 signed)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        404: {"description": "None of your deliveries has this id", "model": Problem},
    },
)
def get_delivery(session: SessionDep, partner: CallingPartner, delivery_id: DeliveryId) -> Response:
    row = partners.delivery(session, partner.id, delivery_id)
    if row is None:
        raise HTTPException(404, f"none of your deliveries has the id {delivery_id}")
    return Response(row.certificate, media_type="application/json")


def _summary(row: PartnerDelivery) -> DeliverySummary:
    return DeliverySummary(
        id=row.sha256,
        delivery=row.delivery,
        ended_at=row.ended_at,
        issued_at=row.issued_at,
        received_at=row.received_at,
        certificate_url=f"/partner/v1/deliveries/{row.sha256}",
    )


API_SCHEMA_ID = "urn:coldchain:partner:deliveries-page.v1"


def json_schema_text() -> str:
    """The JSON Schema of GET /partner/v1/deliveries' answer, as committed in
    docs/partner-api.v1.schema.json (tests/unit/test_partner_interface.py compares)."""
    schema = DeliveryPage.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = API_SCHEMA_ID
    schema["$comment"] = (
        "Generated from coldchain_alerts.api.routes.partner.DeliveryPage (json_schema_text); "
        "do not edit."
    )
    schema["title"] = "coldchain partner API v1: GET /partner/v1/deliveries"
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
