"""/api/v1/audit: the audit log for auditors, as JSON pages or a CSV export, and its check."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select

from coldchain_alerts import audit
from coldchain_alerts.api.deps import ERRORS, AuditReader, ChainChecker, SessionDep, TokenRoute
from coldchain_alerts.models import AuditEntry

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=ERRORS, route_class=TokenRoute)
_COLUMNS = [
    "seq",
    "at",
    "actor",
    "action",
    "subject",
    "alert_id",
    "detail",
    "prev_sha256",
    "sha256",
]


class EntryOut(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    alert_id: int | None
    detail: str
    prev_sha256: str
    sha256: str


class VerdictOut(BaseModel):
    ok: bool
    entries: int
    first_bad_seq: int | None
    problem: str
    compared_with_influxdb: bool


@router.get("", response_model=list[EntryOut])
def entries(
    session: SessionDep,
    user: AuditReader,
    after_seq: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[AuditEntry]:
    """Entries after `after_seq`; a user of some sites gets only those about their sites
    (their alerts, fleet changes, gateways, policies and calibration checks)."""
    query = audit.of_sites(select(AuditEntry).where(AuditEntry.seq > after_seq), user.audited())
    return list(session.scalars(query.order_by(AuditEntry.seq).limit(limit)))


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def export(request: Request, user: AuditReader) -> StreamingResponse:
    """Every entry, as CSV with the hashes, for checking outside the service; a user of
    some sites gets only those about their sites, each with its hashes."""
    sessions = request.app.state.sessions
    sites = user.audited()

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(_COLUMNS)
        with sessions() as session:
            for entry in audit.entries(session, sites=sites):
                writer.writerow(
                    [
                        entry.seq,
                        entry.at.isoformat(),
                        entry.actor,
                        entry.action,
                        entry.subject,
                        "" if entry.alert_id is None else entry.alert_id,
                        entry.detail,
                        entry.prev_sha256,
                        entry.sha256,
                    ]
                )
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        rows(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="coldchain-audit.csv"'},
    )


@router.get("/verify", response_model=VerdictOut)
def verify(request: Request, user: ChainChecker) -> VerdictOut:
    """Check the chain and its head now, and against the copy in InfluxDB when the
    service has one: `ok` is false when the copy (or the database) cannot be read. The
    chain links every entry, so only users of every site check it (403 for others)."""
    checked = request.app.state.service.verify_audit()
    return VerdictOut(**vars(checked.verdict), compared_with_influxdb=checked.compared)
