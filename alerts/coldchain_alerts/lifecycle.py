"""An alert's life in the database: events from ingest, and what people do with it.

The rules are `coldchain.alerting`'s: this module loads an alert and its
occurrence, lets the rules apply an event or a person's step, stores what they
return, and journals their steps (an audit-log entry and an InfluxDB point each,
`journal`). Applying the same event twice changes nothing, so redeliveries are
harmless. Callers commit.

Several alerts instances may store events at once, even the same event (each takes
every event from the broker; a redelivery reaches another instance). On PostgreSQL
their transactions therefore store events one after the other (`_one_at_a_time`):
the second reads what the first committed and finds the event applied, instead of
opening the same alert again and failing on the unique condition. SQLite's writing
transactions take turns anyway (db.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from coldchain import alerting, measurements
from coldchain.alerting import Closing, Decision, WorkflowError
from coldchain.contract import AlertEvent, Severity
from coldchain_alerts import audit
from coldchain_alerts.models import Alert, Occurrence
from coldchain_alerts.outbox import queue
from coldchain_io.lineprotocol import Field, nanoseconds, point


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
    _one_at_a_time(session)
    occurrences = {
        occurrence.key: occurrence
        for occurrence in session.scalars(
            select(Occurrence).where(Occurrence.key.in_({event.key for event in events}))
        )
    }
    conditions = {alerting.condition_of(event) for event in events if event.key not in occurrences}
    # Every alert the events touch, locked in one statement in the order of their ids,
    # as escalation locks them: two transactions never wait for each other in a circle.
    touched = (
        select(Alert)
        .where(
            or_(
                Alert.id.in_({occurrence.alert_id for occurrence in occurrences.values()}),
                and_(Alert.condition.in_(conditions), Alert.status != alerting.Status.CLOSED),
            )
        )
        .order_by(Alert.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    unclosed = {
        alert.condition: alert
        for alert in session.scalars(touched)
        if alert.status != alerting.Status.CLOSED
    }
    batch = _Batch(session, now, occurrences, unclosed)
    with session.no_autoflush:
        applied = [_apply(batch, event) for event in events]
    session.flush()  # the new alerts' ids, for their journal
    for alert, step in batch.steps:
        journal(session, alert, step.action, audit.SYSTEM, now, step.detail, step.severity)
    return applied


#: The transaction-level advisory lock of storing events ("coldchain-alerts events").
EVENTS_LOCK = 0x636F6C64_65767473


def _one_at_a_time(session: Session) -> None:
    """Wait until no other transaction stores events; held until this one ends. Taken
    before any other lock, so it never closes a circle of waits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(EVENTS_LOCK)))


@dataclass
class _Batch:
    """The alerts and occurrences of one call's events, as read or made so far, and
    the steps to journal once the new alerts have their ids."""

    session: Session
    now: datetime
    occurrences: dict[str, Occurrence]
    unclosed: dict[str, Alert]
    """Alerts not closed, by condition."""
    steps: list[tuple[Alert, alerting.Step]] = field(default_factory=list)


def _apply(batch: _Batch, event: AlertEvent) -> Applied:
    row = batch.occurrences.get(event.key)
    alert = row.alert if row is not None else batch.unclosed.get(alerting.condition_of(event))
    applied = alerting.apply(
        _facts(alert) if alert is not None else None,
        _occurrence_facts(row) if row is not None else None,
        event,
        batch.now,
    )
    if applied.opened or alert is None:
        alert = Alert(created_at=batch.now, escalation_level=0, escalation_level_ok=False)
        batch.session.add(alert)
    if row is None:
        row = Occurrence(alert=alert)
        batch.session.add(row)
        batch.occurrences[event.key] = row
        _store(row, applied.occurrence)
    if applied.changed:
        _store(alert, applied.alert)
        _store(row, applied.occurrence)
        alert.updated_at = batch.now
    if alert.status != alerting.Status.CLOSED:  # also one closed while present, reopened
        batch.unclosed[alert.condition] = alert
    if applied.restarted:
        _restart_escalation(alert)
    batch.steps += [(alert, step) for step in applied.steps]
    return Applied(alert, changed=applied.changed, needs_telling=applied.needs_telling)


def _restart_escalation(alert: Alert) -> None:
    """Escalation starts again from level 1 (`escalation_since` is set by the rules)."""
    alert.escalation_level = 0
    alert.escalation_level_at = None
    alert.escalation_level_ok = False


def _facts(row: Alert) -> alerting.Alert:
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(alerting.Alert)}
    values["severity"] = Severity(row.severity)
    values["status"] = alerting.Status(row.status)
    decision = row.product_decision
    values["product_decision"] = alerting.ProductDecision(decision) if decision else None
    values["closed_while_active"] = bool(row.closed_while_active)
    return alerting.Alert(**values)


def _occurrence_facts(row: Occurrence) -> alerting.Occurrence:
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(alerting.Occurrence)}
    values["severity"] = Severity(row.severity)
    return alerting.Occurrence(**values)


def _store(row: Alert | Occurrence, facts: alerting.Alert | alerting.Occurrence) -> None:
    """Copy what the rules hold into the row; enumerations as their values."""
    for name, value in dataclasses.asdict(facts).items():
        stored = value.value if isinstance(value, Enum) else value
        if getattr(row, name) != stored:
            setattr(row, name, stored)


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
    facts, step = alerting.acknowledge(_facts(alert), user, comment, now)
    return _done(session, alert, facts, step, user, now)


def decide(
    session: Session, alert_id: int, user: str, decision: Decision, now: datetime | None = None
) -> Alert:
    """Record cause, corrective action and product decision, also while it lasts."""
    now = now or datetime.now(UTC)
    alert = get(session, alert_id, lock=True)
    facts, step = alerting.decide(_facts(alert), user, decision, now)
    return _done(session, alert, facts, step, user, now)


def close(
    session: Session, alert_id: int, user: str, closing: Closing, now: datetime | None = None
) -> Alert:
    """Close the alert with what was done about it (coldchain.alerting.close)."""
    now = now or datetime.now(UTC)
    alert = get(session, alert_id, lock=True)
    facts, step = alerting.close(_facts(alert), user, closing, now)
    return _done(session, alert, facts, step, user, now)


def _done(
    session: Session,
    alert: Alert,
    facts: alerting.Alert,
    step: alerting.Step,
    user: str,
    now: datetime,
) -> Alert:
    _store(alert, facts)
    alert.updated_at = now
    journal(session, alert, step.action, user, now, step.detail)
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
    severity: Severity | str | None = None,
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
        sites=(alert.site,),
    )
    tags = {
        "site": alert.site,
        "alert_id": str(alert.id),
        "action": action,
        "severity": str(severity or alert.severity),
        "asset": alert.asset,
        "sensor": alert.sensor,
        "gateway": alert.gateway,
    }
    fields: dict[str, Field | None] = {
        "actor": actor,
        "started_ns": nanoseconds(alert.opened_at),
        # What the alert asks of people after this step: the latest point of an alert
        # tells the dashboards its standing, by the same definition as the API's.
        "standing": alert.standing.value,
    }
    fields |= {k: detail[k] for k in _FIELDS if detail.get(k) not in (None, "")}
    if detail.get("deliveries"):
        # Grafana shows one text per step: who was told how, and whether it arrived.
        fields["comment"] = "; ".join(
            f"{d['contact']}: {d['channel']} {'ok' if d['ok'] else 'failed'}"
            for d in detail["deliveries"]
        )
    queue(session, point(measurements.ALERT_ACTION, tags, fields, entry.at))
