"""/api/v1/deliveries: the hub hands a completed delivery's signed certificate to a partner.

The body is the certificate file as `coldchain-report certificate` wrote it; it is
stored as it came, once per partner, and queued for the partner's webhook
(docs/partners.md). An officer or admin of every site may post (partners are the
hub's, not a site's); a certificate that is not final
and signed by a key of the hub's key list is refused with the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from coldchain_alerts import partners
from coldchain_alerts.api.deps import ERRORS, HubActor, Problem, TokenRoute, WriteSessionDep
from coldchain_alerts.models import Partner

router = APIRouter(
    prefix="/api/v1/deliveries", tags=["partners"], responses=ERRORS, route_class=TokenRoute
)


class DeliveryStored(BaseModel):
    id: str = Field(description="The delivery's id for the partner: SHA-256 of the certificate.")
    partner: str
    delivery: str | None = Field(description="The delivery (note) number in the certificate.")
    new: bool = Field(description="False: this certificate was stored for the partner before.")
    webhook: str = Field(description="none (the partner has no webhook URL), pending, ...")


class InvalidParameters(BaseModel):
    detail: list[dict[str, Any]] = Field(description="FastAPI's list of invalid values.")


async def _raw_body(request: Request) -> bytes:
    return await request.body()


@router.post(
    "",
    response_model=DeliveryStored,
    status_code=201,
    responses={
        200: {"description": "Stored before: nothing changed", "model": DeliveryStored},
        404: {"description": "No such partner", "model": Problem},
        409: {"description": "The partner is revoked", "model": Problem},
        422: {
            "description": "Invalid parameters (a list in `detail`, as everywhere), or not "
            "a final certificate the hub signed, or no key list to verify with (a text in "
            "`detail` saying which)",
            "model": Problem | InvalidParameters,
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The certificate JSON file, as `coldchain-report certificate` wrote it.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
def post_delivery(
    request: Request,
    response: Response,
    partner: Annotated[str, Query(min_length=1, max_length=64, description="The partner's id.")],
    body: Annotated[bytes, Depends(_raw_body)],
    session: WriteSessionDep,
    user: HubActor,
) -> DeliveryStored:
    service = request.app.state.service
    # Verified before the write transaction begins (SQLite: it holds the write lock).
    try:
        certificate = partners.verified_certificate(body, service.settings.public_keys)
    except partners.KeyListUnavailable as exc:
        service.metrics.certificates_refused.inc()
        # Not 5xx: the request cannot succeed until an operator acts, retrying won't help.
        raise HTTPException(422, f"certificate refused: {exc}") from None
    except partners.CertificateRefused as exc:
        service.metrics.certificates_refused.inc()
        raise HTTPException(422, f"certificate refused: {exc}") from None
    receiver = session.get(Partner, partner)
    if receiver is None:
        raise HTTPException(
            404, f"no partner {partner!r}: add it with `coldchain-alerts partner add`"
        )
    if receiver.revoked_at is not None:
        raise HTTPException(409, f"partner {partner!r} is revoked: it receives nothing more")
    text = body.decode("utf-8")
    try:
        stored, new = partners.store(
            session, user.username, receiver, certificate, text, datetime.now(UTC)
        )
        session.commit()
    except IntegrityError:
        # The same certificate posted at the same moment: the other post stored it.
        session.rollback()
        earlier = partners.delivery(session, receiver.id, certificate.sha256)
        if earlier is None:
            raise
        stored, new = earlier, False
    if new:
        service.wake_partner_webhooks()
    else:
        response.status_code = 200
    return DeliveryStored(
        id=stored.sha256,
        partner=receiver.id,
        delivery=stored.delivery,
        new=new,
        webhook=stored.webhook_state,
    )
