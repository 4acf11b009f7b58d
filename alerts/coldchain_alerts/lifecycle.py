"""An alert's life in the database: events from ingest, and what people do with it.

`apply_events` turns alert events into alerts (one per condition until closed,
coldchain.workflow); `acknowledge` and `close` are the hygiene officer's steps.
Every change is a step in the audit log and a point in InfluxDB (`journal`).
Applying the same event twice changes nothing, so redeliveries are harmless.
Callers commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
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


def apply_events(
    session: Session, events: Sequence[AlertEvent], now: datetime | None = None
) -> list[Applied]:
    """Store `events`, in order, in the alerts of their conditions; `now` is the
    service's clock (UTC).

    The alerts and occurrences the events concern are read at once, and what the
    events change is written together: a few statements for the whole batch
    instead of several per event, because this transaction is on the way from a
    reading to the hygiene officer's phone.
    """
    now = now or datetime.now(UTC)
    occurrences = {
        occurrence.key: occurrence
        for occurrence in session.scalars(
            select(Occurrence).where(Occurrence.key.in_({event.key for event in events}))
        )
    }
    conditions = {condition_of(event) for event in events if event.key not in occurrences}
    # Every alert the events touch, locked in one statement in the order of their ids,
    # as escalation locks them: two transactions never wait for each other in a circle.
    touched = (
        select(Alert)
        .where(
            or_(
                Alert.id.in_({occurrence.alert_id for occurrence in occurrences.values()}),
                and_(Alert.condition.in_(conditions), Alert.status != Status.CLOSED),
            )
        )
        .order_by(Alert.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    unclosed = {
        alert.condition: alert
        for alert in session.scalars(touched)
        if alert.status != Status.CLOSED
    }
    batch = _Batch(session, now, occurrences, unclosed)
    with session.no_autoflush:
        applied = [_apply(batch, event) for event in events]
    session.flush()  # the new alerts' ids, for their journal
    for step in batch.steps:
        journal(session, step.alert, step.action, audit.SYSTEM, now, step.detail, step.severity)
    return applied


@dataclass
class _Batch:
    """The alerts and occurrences of one call's events, as read or made so far, and
    the steps to journal once the new alerts have their ids."""

    session: Session
    now: datetime
    occurrences: dict[str, Occurrence]
    unclosed: dict[str, Alert]
    """Alerts not closed, by condition."""
    steps: list[_Step] = field(default_factory=list)

    def step(self, alert: Alert, action: str, detail: Mapping[str, Any]) -> None:
        self.steps.append(_Step(alert, action, detail, alert.severity))


@dataclass(frozen=True)
class _Step:
    alert: Alert
    action: str
    detail: Mapping[str, Any]
    severity: str
    """The alert's severity when the step was taken: a later event may raise it."""


def _apply(batch: _Batch, event: AlertEvent) -> Applied:
    occurrence = batch.occurrences.get(event.key)
    if occurrence is not None:
        return _update_occurrence(batch, occurrence, event)
    alert = batch.unclosed.get(condition_of(event))
    if alert is None:
        return _open(batch, event)
    occurrence = _occurrence(batch, event, alert)
    alert.occurrences += 1
    if event.state is AlertState.CLEARED:
        _clear(batch, alert, occurrence, event)
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
        _restart_escalation(alert, batch.now)
        if worse or (acknowledged and not was_active)
        else False
    )
    batch.step(alert, step, _event_detail(event) | {"reopened": reopened})
    alert.updated_at = batch.now
    return Applied(alert, changed=True, needs_telling=reopened or alert.status == Status.OPEN)


def _open(batch: _Batch, event: AlertEvent) -> Applied:
    lasting = event.rule not in MOMENTARY_RULES
    now = batch.now
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
    batch.session.add(alert)
    batch.unclosed[alert.condition] = alert
    occurrence = _occurrence(batch, event, alert)
    batch.step(alert, "opened", _event_detail(event))
    if event.state is AlertState.CLEARED:
        _clear(batch, alert, occurrence, event)
    return Applied(alert, changed=True, needs_telling=True)


def _update_occurrence(batch: _Batch, occurrence: Occurrence, event: AlertEvent) -> Applied:
    alert = occurrence.alert
    if event.peak_c is not None and occurrence.cleared_at is None:
        occurrence.peak_c = event.peak_c
        alert.peak_c = _worse_peak(alert, event.peak_c)
    if alert.status == Status.CLOSED or occurrence.cleared_at is not None:
        return Applied(alert, changed=False, needs_telling=False)
    if event.state is AlertState.CLEARED:
        _clear(batch, alert, occurrence, event)
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
    reopened = _restart_escalation(alert, batch.now) if worse else False
    batch.step(
        alert,
        "severity_raised" if worse else "raised",
        _event_detail(event) | {"reopened": reopened},
    )
    alert.updated_at = batch.now
    return Applied(alert, changed=True, needs_telling=worse)


def _occurrence(batch: _Batch, event: AlertEvent, alert: Alert) -> Occurrence:
    occurrence = Occurrence(
        key=event.key,
        alert=alert,
        rule=event.rule,
        severity=event.severity.value,
        started_at=event.started_at,
        raised_at=event.at if event.state is AlertState.RAISED else None,
        peak_c=event.peak_c,
    )
    batch.session.add(occurrence)
    batch.occurrences[event.key] = occurrence
    return occurrence


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


def _clear(batch: _Batch, alert: Alert, occurrence: Occurrence, event: AlertEvent) -> None:
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
        # The sum over the alert's occurrences: each is cleared once.
        alert.degree_minutes = (alert.degree_minutes or 0.0) + event.degree_minutes
    alert.updated_at = batch.now
    batch.step(alert, "cleared", _event_detail(event))


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
    severity: str | None = None,
) -> None:
    """Record one step of `alert`: an audit-log entry and an `alert_action` point.

    `severity` is the alert's at that step, when it has changed since."""
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
        "severity": severity or alert.severity,
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
