"""Applying alert events to stored alerts.

An event names its occurrence by `key`; applying the same event twice changes
nothing, so redeliveries are harmless. A later `raised` event with the same key
is an escalation (a more severe level passed): the alert takes its rule and
severity. A `raised` event arriving after the `cleared` one changes nothing. A
`cleared` event for an occurrence we never saw raised still creates the record:
the excursion happened.
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
            gateway=event.gateway,
            kind=event.rule,
            severity=event.severity.value,
            status=OPEN,
            opened_at=event.started_at,
            value_c=event.value_c,
            limit_c=event.limit_c,
            regulatory_limit_c=event.regulatory_limit_c,
            delay_s=event.delay_s,
        )
        session.add(alert)
    if event.state is AlertState.RAISED:
        if alert.status == CLEARED:
            return alert
        alert.raised_at = alert.raised_at or event.at
        alert.kind, alert.severity = event.rule, event.severity.value
        alert.limit_c, alert.value_c = event.limit_c, event.value_c
        alert.delay_s = event.delay_s
    else:
        alert.status = CLEARED
        alert.cleared_at = event.at
        alert.duration_s = event.duration_s
        alert.degree_minutes = event.degree_minutes
    if event.peak_c is not None:
        alert.peak_c = event.peak_c
    alert.updated_at = datetime.now(UTC)
    return alert
