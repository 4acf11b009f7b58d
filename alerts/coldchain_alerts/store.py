"""Applying alert events to stored alerts.

An event names its occurrence by `key`; applying the same event twice changes
nothing, so redeliveries are harmless. A `cleared` event for an occurrence we
never saw raised still creates the record: the excursion happened.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.contract import AlertEvent, AlertState
from coldchain_alerts.models import Alert

OPEN = "open"
CLEARED = "cleared"


def apply_event(session: Session, event: AlertEvent) -> Alert:
    """Create or update the alert `event` belongs to; the caller commits."""
    alert = session.scalars(select(Alert).where(Alert.key == event.key)).one_or_none()
    if alert is None:
        alert = Alert(
            key=event.key,
            site=event.site,
            asset=event.asset,
            sensor=event.sensor,
            kind=event.rule,
            severity=event.severity.value,
            status=OPEN,
            opened_at=event.started_at,
            value_c=event.value_c,
            limit_c=event.limit_c,
            delay_s=event.delay_s,
            peak_c=event.peak_c,
        )
        session.add(alert)
    alert.peak_c = max(alert.peak_c, event.peak_c)
    if event.state is AlertState.RAISED:
        alert.raised_at = alert.raised_at or event.at
    else:
        alert.status = CLEARED
        alert.cleared_at = event.at
    alert.updated_at = datetime.now(UTC)
    return alert
