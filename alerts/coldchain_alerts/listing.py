"""Finding alerts and their timelines: the queries the API and the pages share.

Alerts are listed in one order everywhere: critical first, then by what they ask of
people (`coldchain.alerting.standing`: unacknowledged, decision due, acknowledged,
closed), then newest first. The database computes the standing for that (`standing_rank`),
so that a page of alerts is one query.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from coldchain.alerting import SEVERITY_RANK, STANDING_RANK, Standing, Status
from coldchain.contract import Severity
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
    standings: Collection[Standing] | None = None
    """Alerts of any of these standings."""
    sites: Collection[str] | None = None
    """Alerts of any of these sites (coldchain_alerts.access: the sites a user sees)."""


def standing_rank() -> ColumnElement[int]:
    """Each alert's STANDING_RANK, as `coldchain.alerting.standing` has it: a text not
    recorded is one that is missing, empty or None."""
    missing = or_(
        *(
            func.coalesce(column, "") == ""
            for column in (Alert.cause, Alert.corrective_action, Alert.product_decision)
        )
    )
    return case(
        (Alert.status == Status.CLOSED.value, STANDING_RANK[Standing.CLOSED]),
        (Alert.status == Status.OPEN.value, STANDING_RANK[Standing.UNACKNOWLEDGED]),
        (
            and_(Alert.severity == Severity.CRITICAL.value, missing),
            STANDING_RANK[Standing.DECISION_DUE],
        ),
        else_=STANDING_RANK[Standing.ACKNOWLEDGED],
    )


def _severity_rank() -> ColumnElement[int]:
    return case(
        *((Alert.severity == severity.value, rank) for severity, rank in SEVERITY_RANK.items()),
        else_=len(SEVERITY_RANK),
    )


def search(session: Session, filters: Filters, limit: int, offset: int = 0) -> list[Alert]:
    """Open work first (closed alerts last), then critical first, then by standing
    (STANDING_RANK), then newest first."""
    query: Select[tuple[Alert]] = select(Alert)
    if filters.status is not None:
        query = query.where(Alert.status == filters.status.value)
    if filters.standings is not None:
        ranks = {STANDING_RANK[standing] for standing in filters.standings}
        query = query.where(standing_rank().in_(ranks))
    if filters.site is not None:
        query = query.where(Alert.site == filters.site)
    if filters.sites is not None:
        query = query.where(Alert.site.in_(filters.sites))
    if filters.asset is not None:
        query = query.where(Alert.asset == filters.asset)
    if filters.active is not None:
        query = query.where(Alert.active == filters.active)
    if filters.since is not None:
        query = query.where(Alert.opened_at >= filters.since)
    if filters.until is not None:
        query = query.where(Alert.opened_at < filters.until)
    closed_last = case((Alert.status == Status.CLOSED.value, 1), else_=0)
    ordered = query.order_by(
        closed_last, _severity_rank(), standing_rank(), Alert.opened_at.desc(), Alert.id.desc()
    )
    return list(session.scalars(ordered.limit(limit).offset(offset)))


def counts(session: Session, sites: Collection[str] | None = None) -> dict[Standing, int]:
    """How many alerts there are of each standing (every standing, 0 for none), at
    `sites` (None: every site)."""
    # Grouped in a subquery: PostgreSQL would not match the CASE's parameters of the
    # GROUP BY to those of the SELECT.
    ranked = select(standing_rank().label("rank"))
    if sites is not None:
        ranked = ranked.where(Alert.site.in_(sites))
    ranks = ranked.subquery()
    grouped = select(ranks.c.rank, func.count()).group_by(ranks.c.rank)
    by_rank = {rank: count for rank, count in session.execute(grouped)}
    return {standing: by_rank.get(r, 0) for standing, r in STANDING_RANK.items()}


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
