"""An alert's life in the database: events from ingest, and what people do with it.

`apply_event` turns alert events into alerts (one per condition until closed,
coldchain.workflow); `acknowledge` and `close` are the hygiene officer's steps.
Every change is a step in the audit log and a point in InfluxDB (`journal`).
Applying the same event twice changes nothing, so redeliveries are harmless.
Callers commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain import measurements
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain.lineprotocol import Field, nanoseconds, point
from coldchain.workflow import (
    MOMENTARY_RULES,
    Closing,
    Status,
    WorkflowError,
    check_acknowledge,
    check_close,
    condition_of,
    gets_worse,
    more_severe,
)
from coldchain_alerts import audit
from coldchain_alerts.models import Alert, Occurrence
from coldchain_alerts.outbox import queue


class AlertNotFound(WorkflowError):
    def __init__(self, alert_id: int) -> None:
        super().__init__("not_found", f"there is no alert {alert_id}")


@dataclass(frozen=True)
class Applied:
    """What an event did: the alert, and whether escalation must look at it again."""

    alert: Alert
    changed: bool
    needs_telling: bool


def apply_event(session: Session, event: AlertEvent, now: datetime | None = None) -> Applied:
    """Store `event` in the alert of its condition; `now` is the service's clock (UTC)."""
    now = now or datetime.now(UTC)
    occurrence = session.scalars(
        select(Occurrence).where(Occurrence.key == event.key)
    ).one_or_none()
    if occurrence is not None:
        return _update_occurrence(session, occurrence, event, now)
    alert = session.scalars(
        select(Alert)
        .where(Alert.condition == condition_of(event), Alert.status != Status.CLOSED)
        .with_for_update()
    ).one_or_none()
    if alert is None:
        return _open(session, event, now)
    occurrence = _occurrence(event, alert)
    session.add(occurrence)
    alert.occurrences += 1
    if event.state is AlertState.CLEARED:
        _clear(session, alert, occurrence, event, now)
        return Applied(alert, changed=True, needs_telling=False)
    was_active = alert.active
    worse = gets_worse(alert.rule, alert.severity, event)
    alert.active = event.rule not in MOMENTARY_RULES
    alert.cleared_at = None if alert.active else event.at
    _raise_values(alert, event)
    alert.severity = more_severe(alert.severity, event.severity).value
    step = "fired_again" if not was_active else "severity_raised" if worse else "raised"
    acknowledged = alert.status == Status.ACKNOWLEDGED
    reopened = (
        _restart_escalation(alert, now) if worse or (acknowledged and not was_active) else False
    )
    journal(session, alert, step, audit.SYSTEM, now, _event_detail(event) | {"reopened": reopened})
    alert.updated_at = now
    return Applied(alert, changed=True, needs_telling=reopened or alert.status == Status.OPEN)


def _open(session: Session, event: AlertEvent, now: datetime) -> Applied:
    lasting = event.rule not in MOMENTARY_RULES
    alert = Alert(
        condition=condition_of(event),
        site=event.site,
        asset=event.asset,
        sensor=event.sensor,
        gateway=event.gateway,
        rule=event.rule,
        severity=event.severity.value,
        status=Status.OPEN.value,
        active=event.state is AlertState.RAISED and lasting,
        occurrences=1,
        opened_at=event.started_at,
        value_c=event.value_c,
        peak_c=event.peak_c,
        limit_c=event.limit_c,
        regulatory_limit_c=event.regulatory_limit_c,
        delay_s=event.delay_s,
        escalation_since=now,
        escalation_level=0,
        escalation_level_ok=False,
        created_at=now,
        updated_at=now,
    )
    if event.state is AlertState.RAISED:
        alert.raised_at = event.at
        if not alert.active:
            alert.cleared_at = event.at
    session.add(alert)
    occurrence = _occurrence(event, alert)
    session.add(occurrence)
    session.flush()  # the alert's id, for its journal
    journal(session, alert, "opened", audit.SYSTEM, now, _event_detail(event))
    if event.state is AlertState.CLEARED:
        _clear(session, alert, occurrence, event, now)
    return Applied(alert, changed=True, needs_telling=True)


def _update_occurrence(
    session: Session, occurrence: Occurrence, event: AlertEvent, now: datetime
) -> Applied:
    alert = occurrence.alert
    if event.peak_c is not None and occurrence.cleared_at is None:
        occurrence.peak_c = event.peak_c
        alert.peak_c = _worse_peak(alert, event.peak_c)
    if alert.status == Status.CLOSED or occurrence.cleared_at is not None:
        return Applied(alert, changed=False, needs_telling=False)
    if event.state is AlertState.CLEARED:
        _clear(session, alert, occurrence, event, now)
        return Applied(alert, changed=True, needs_telling=False)
    if occurrence.raised_at is not None and not gets_worse(
        occurrence.rule, occurrence.severity, event
    ):
        # A redelivery, or an earlier level of this occurrence arriving late.
        return Applied(alert, changed=False, needs_telling=False)
    worse = gets_worse(alert.rule, alert.severity, event)
    occurrence.raised_at = occurrence.raised_at or event.at
    occurrence.rule, occurrence.severity = event.rule, event.severity.value
    alert.raised_at = alert.raised_at or event.at
    _raise_values(alert, event)
    alert.severity = more_severe(alert.severity, event.severity).value
    reopened = _restart_escalation(alert, now) if worse else False
    journal(
        session,
        alert,
        "severity_raised" if worse else "raised",
        audit.SYSTEM,
        now,
        _event_detail(event) | {"reopened": reopened},
    )
    alert.updated_at = now
    return Applied(alert, changed=True, needs_telling=worse)


def _occurrence(event: AlertEvent, alert: Alert) -> Occurrence:
    return Occurrence(
        key=event.key,
        alert=alert,
        rule=event.rule,
        severity=event.severity.value,
        started_at=event.started_at,
        raised_at=event.at if event.state is AlertState.RAISED else None,
        peak_c=event.peak_c,
    )


def _raise_values(alert: Alert, event: AlertEvent) -> None:
    alert.rule = event.rule
    alert.value_c, alert.limit_c = event.value_c, event.limit_c
    alert.delay_s = event.delay_s
    if event.regulatory_limit_c is not None:
        alert.regulatory_limit_c = event.regulatory_limit_c
    if event.peak_c is not None:
        alert.peak_c = _worse_peak(alert, event.peak_c)


def _worse_peak(alert: Alert, peak: float) -> float:
    if alert.peak_c is None:
        return peak
    above = alert.rule.startswith("over") or alert.condition.startswith("temperature_above")
    return max(alert.peak_c, peak) if above else min(alert.peak_c, peak)


def _restart_escalation(alert: Alert, now: datetime) -> bool:
    """Escalate from level 1 again; an acknowledged alert is open again: people must look.

    For an alert that got worse, or an acknowledged one that fired again. An open
    alert that fires again keeps escalating where it is. True when it was reopened.
    """
    alert.escalation_since = now
    alert.escalation_level = 0
    alert.escalation_level_at = None
    alert.escalation_level_ok = False
    if alert.status == Status.ACKNOWLEDGED:
        alert.status = Status.OPEN.value
        return True
    return False


def _clear(
    session: Session, alert: Alert, occurrence: Occurrence, event: AlertEvent, now: datetime
) -> None:
    occurrence.cleared_at = event.at
    occurrence.duration_s = event.duration_s
    occurrence.degree_minutes = event.degree_minutes
    if event.peak_c is not None:
        occurrence.peak_c = event.peak_c
        alert.peak_c = _worse_peak(alert, event.peak_c)
    alert.active = False
    alert.cleared_at = event.at
    alert.duration_s = (event.at - alert.opened_at).total_seconds()
    if event.degree_minutes is not None:
        alert.degree_minutes = sum(o.degree_minutes or 0.0 for o in alert.occurrence_list)
    alert.updated_at = now
    journal(session, alert, "cleared", audit.SYSTEM, now, _event_detail(event))


def _event_detail(event: AlertEvent) -> dict[str, Any]:
    return {
        "key": event.key,
        "rule": event.rule,
        "severity": event.severity.value,
        "reading_at": event.at.isoformat(),
        "value_c": event.value_c,
        "peak_c": event.peak_c,
        "limit_c": event.limit_c,
    }


def get(session: Session, alert_id: int, lock: bool = False) -> Alert:
    query = select(Alert).where(Alert.id == alert_id)
    alert = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if alert is None:
        raise AlertNotFound(alert_id)
    return alert


def acknowledge(
    session: Session, alert_id: int, user: str, comment: str, now: datetime | None = None
) -> Alert:
    """Record that `user` has seen the alert and is acting; stops its escalation."""
    now = now or datetime.now(UTC)
    alert = get(session, alert_id, lock=True)
    text = check_acknowledge(Status(alert.status), comment)
    alert.status = Status.ACKNOWLEDGED.value
    alert.acknowledged_at, alert.acknowledged_by, alert.acknowledge_comment = now, user, text
    alert.updated_at = now
    journal(session, alert, "acknowledged", user, now, {"comment": text})
    return alert


def close(
    session: Session, alert_id: int, user: str, closing: Closing, now: datetime | None = None
) -> Alert:
    """Close the alert with what was done about it (coldchain.workflow.check_close)."""
    now = now or datetime.now(UTC)
    alert = get(session, alert_id, lock=True)
    done = check_close(Status(alert.status), alert.active, Severity(alert.severity), closing)
    decision = done.product_decision.value if done.product_decision else None
    alert.status = Status.CLOSED.value
    alert.closed_at, alert.closed_by = now, user
    alert.cause, alert.corrective_action = done.cause or None, done.corrective_action or None
    alert.product_decision, alert.close_comment = decision, done.comment or None
    alert.updated_at = now
    journal(
        session,
        alert,
        "closed",
        user,
        now,
        {
            "cause": done.cause,
            "corrective_action": done.corrective_action,
            "product_decision": decision,
            "comment": done.comment,
        },
    )
    return alert


#: Detail keys copied into the InfluxDB point as fields, as they are.
_FIELDS = ("comment", "cause", "corrective_action", "product_decision", "level")


def journal(
    session: Session,
    alert: Alert,
    action: str,
    actor: str,
    at: datetime,
    detail: Mapping[str, Any],
) -> None:
    """Record one step of `alert`: an audit-log entry and an `alert_action` point."""
    entry = audit.append(
        session,
        actor=actor,
        action=f"alert.{action}",
        subject=f"alert:{alert.id}",
        alert_id=alert.id,
        detail={k: v for k, v in detail.items() if v is not None},
        at=at,
    )
    tags = {
        "site": alert.site,
        "alert_id": str(alert.id),
        "action": action,
        "severity": alert.severity,
        "asset": alert.asset,
        "sensor": alert.sensor,
        "gateway": alert.gateway,
    }
    fields: dict[str, Field | None] = {
        "actor": actor,
        "started_ns": nanoseconds(alert.opened_at),
    }
    fields |= {k: detail[k] for k in _FIELDS if detail.get(k) not in (None, "")}
    if detail.get("deliveries"):
        # Grafana shows one text per step: who was told how, and whether it arrived.
        fields["comment"] = "; ".join(
            f"{d['contact']}: {d['channel']} {'ok' if d['ok'] else 'failed'}"
            for d in detail["deliveries"]
        )
    queue(session, point(measurements.ALERT_ACTION, tags, fields, entry.at))
