"""Finding alerts and their timelines: the queries the API and the pages share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, select
from sqlalchemy.orm import Session

from coldchain.alerting import Status
from coldchain_alerts.models import Alert, AuditEntry

#: Most alerts skipped before a page of them: bounded so the database is never handed an
#: absurd OFFSET.
MAX_OFFSET = 10_000_000


@dataclass(frozen=True)
class Filters:
    """Which alerts: every field that is set must match. Times are reading times (UTC)."""

    status: Status | None = None
    site: str | None = None
    asset: str | None = None
    active: bool | None = None
    since: datetime | None = None
    """Alerts whose condition began at or after this."""
    until: datetime | None = None
    """Alerts whose condition began before this."""


def search(session: Session, filters: Filters, limit: int, offset: int = 0) -> list[Alert]:
    """Newest first, except that open alerts come before all others when no status is asked."""
    query: Select[tuple[Alert]] = select(Alert)
    if filters.status is not None:
        query = query.where(Alert.status == filters.status.value)
    if filters.site is not None:
        query = query.where(Alert.site == filters.site)
    if filters.asset is not None:
        query = query.where(Alert.asset == filters.asset)
    if filters.active is not None:
        query = query.where(Alert.active == filters.active)
    if filters.since is not None:
        query = query.where(Alert.opened_at >= filters.since)
    if filters.until is not None:
        query = query.where(Alert.opened_at < filters.until)
    rank = case(
        (Alert.status == Status.OPEN.value, 0),
        (Alert.status == Status.ACKNOWLEDGED.value, 1),
        else_=2,
    )
    ordered = query.order_by(rank, Alert.opened_at.desc(), Alert.id.desc())
    return list(session.scalars(ordered.limit(limit).offset(offset)))


@dataclass(frozen=True)
class Step:
    """One line of an alert's timeline: an audit-log entry about it."""

    seq: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]


def timeline(session: Session, alert_id: int) -> list[Step]:
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.alert_id == alert_id).order_by(AuditEntry.seq)
    )
    return [
        Step(
            seq=row.seq,
            at=row.at,
            actor=row.actor,
            action=row.action.removeprefix("alert."),
            detail=json.loads(row.detail),
        )
        for row in rows
    ]
