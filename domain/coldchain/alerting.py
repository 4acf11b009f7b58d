"""An alert's life, as pure rules: what each event and each person's step does to it.

An alert is what a hygiene officer works on: one alarm *condition* (a rule at a
subject, e.g. "temperature above limits at van-2.chilled") from the moment it
fires until someone closes it. The rule engine may raise the same condition
several times while the alert is not closed (it clears and fires again, or gets
worse); each raise is an *occurrence* of the same alert, not a new alert.

    open --acknowledge--> acknowledged --close--> closed
      ^                        |
      +---- fires again -------+   (or gets worse: people must look again)

In HACCP (Reg. (EC) 852/2004) the officer acts *during* the deviation, so the
corrective action and the product decision are recorded whenever the alert is
acknowledged (`decide`), also while the condition is present. Closing waits for
the condition to clear, unless the officer closes it explicitly while it is
still present, with a reason. A critical alert is closed only with a cause, a
corrective action and a product decision. docs/alerts.md has every transition
as a table; the alerts service loads an alert, calls these functions, and
stores what they return and executes their steps (audit entry, escalation).
Times: reading times (UTC) from events, the service's clock (UTC) for people.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain.engine import GATEWAY_EVENT_RULES, LEVEL_RANK
from coldchain.errors import ColdchainError

#: Rules that report a moment, not a state: they are never cleared by the engine.
MOMENTARY_RULES = frozenset(GATEWAY_EVENT_RULES.values())
#: Longest comment, cause or action text accepted (characters).
MAX_TEXT = 4000


class Status(StrEnum):
    """Where people are with an alert."""

    OPEN = "open"
    """Nobody has acknowledged it (yet, or since it fired again or got worse)."""
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class Standing(StrEnum):
    """What an alert asks of people now: the one definition the inbox, the summary,
    the API and the dashboards use. Every alert that is not closed is open work."""

    UNACKNOWLEDGED = "unacknowledged"
    """Nobody has taken it: escalation runs."""
    DECISION_DUE = "decision_due"
    """Acknowledged and critical, but cause, corrective action or product decision is
    not recorded yet: it cannot be closed."""
    ACKNOWLEDGED = "acknowledged"
    """Acknowledged, nothing missing but the closing (which may wait for recovery)."""
    CLOSED = "closed"


class ProductDecision(StrEnum):
    """What happens to the goods the alert concerns."""

    RELEASE = "release"
    QUARANTINE = "quarantine"
    DISCARD = "discard"


class WorkflowError(ColdchainError):
    """A step that is not allowed now; `code` names the reason for translated pages."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Occurrence:
    """One raise of an alert's condition: the events of one key (reading times, °C)."""

    key: str
    rule: str
    severity: Severity
    started_at: datetime
    raised_at: datetime | None = None
    cleared_at: datetime | None = None
    peak_c: float | None = None
    duration_s: float | None = None
    degree_minutes: float | None = None


@dataclass
class Alert:
    """What the rules read and change of one alert (the alerts service stores more)."""

    condition: str
    site: str
    asset: str | None
    sensor: str | None
    gateway: str | None
    rule: str
    severity: Severity
    status: Status
    active: bool
    """The condition is present now (raised and not cleared)."""
    occurrences: int
    opened_at: datetime
    """Reading time the condition first began."""
    escalation_since: datetime
    """When escalation (last) started from level 1: the service's clock."""
    raised_at: datetime | None = None
    cleared_at: datetime | None = None
    value_c: float | None = None
    value_at: datetime | None = None
    """Reading time of `value_c`: the latest reading the rules reported."""
    peak_c: float | None = None
    limit_c: float | None = None
    regulatory_limit_c: float | None = None
    delay_s: float = 0.0
    duration_s: float | None = None
    """From the start to the clearing (or, while present, to `value_at`), seconds."""
    degree_minutes: float | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledge_comment: str | None = None
    cause: str | None = None
    corrective_action: str | None = None
    product_decision: ProductDecision | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    close_comment: str | None = None
    closed_while_active: bool = False


@dataclass(frozen=True)
class Step:
    """A change to record: one audit-log entry (and its InfluxDB point)."""

    action: str
    detail: dict[str, Any]
    severity: Severity
    """The alert's severity when the step was taken: a later event may raise it."""


@dataclass
class Applied:
    """What one event did."""

    alert: Alert
    occurrence: Occurrence
    opened: bool = False
    """`alert` is a new one: the condition had none that was not closed."""
    steps: list[Step] = field(default_factory=list)
    changed: bool = False
    """Something of the alert or its occurrence changed and must be stored."""
    needs_telling: bool = False
    """Escalation must look at the alert again (new, fired again, worse)."""
    restarted: bool = False
    """Escalation starts again from level 1 (`escalation_since` is now)."""


@dataclass(frozen=True)
class Decision:
    """What a person records about the deviation: cause, what was done, the goods."""

    cause: str = ""
    corrective_action: str = ""
    product_decision: ProductDecision | None = None


@dataclass(frozen=True)
class Closing:
    """What a person records when closing an alert: the decision may come with it."""

    cause: str = ""
    corrective_action: str = ""
    product_decision: ProductDecision | None = None
    comment: str = ""
    while_active: bool = False
    """Close although the condition is still present; `comment` says why."""

    @property
    def decision(self) -> Decision:
        return Decision(self.cause, self.corrective_action, self.product_decision)


def condition_of(event: AlertEvent) -> str:
    """The condition an event belongs to: its key without the start time.

    Keys are `{rule family}/{subject}/{started_at}` (coldchain.engine); an ISO
    timestamp holds no slash, so everything before the last slash names the
    condition, the same for every occurrence of it.
    """
    condition, slash, _ = event.key.rpartition("/")
    return condition if slash else event.key


def more_severe(a: Severity | str, b: Severity | str) -> Severity:
    """The more severe of two severities."""
    ranked = [Severity.WARNING, Severity.CRITICAL]
    return max(Severity(a), Severity(b), key=ranked.index)


def gets_worse(rule: str, severity: Severity | str, event: AlertEvent) -> bool:
    """Whether `event` is worse than a raise of `rule` at `severity`: more severe, or a
    higher temperature level of the same condition (the absolute limit after the
    maximum, both critical)."""
    if more_severe(severity, event.severity) is not Severity(severity):
        return True
    return LEVEL_RANK.get(event.rule, 0) > LEVEL_RANK.get(rule, 0)


class Recorded(Protocol):
    """What `standing` reads: an `Alert`, or a stored alert with the same names."""

    @property
    def status(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def cause(self) -> str | None: ...
    @property
    def corrective_action(self) -> str | None: ...
    @property
    def product_decision(self) -> str | None: ...


def standing(alert: Recorded) -> Standing:
    """What the alert asks of people now (see `Standing`)."""
    if alert.status == Status.CLOSED:
        return Standing.CLOSED
    if alert.status == Status.OPEN:
        return Standing.UNACKNOWLEDGED
    if alert.severity == Severity.CRITICAL and missing_decision(alert):
        return Standing.DECISION_DUE
    return Standing.ACKNOWLEDGED


def missing_decision(alert: Recorded) -> list[str]:
    """What a critical alert still lacks to be closed: cause, corrective_action,
    product_decision (in that order; [] when complete)."""
    return [
        name
        for name in ("cause", "corrective_action", "product_decision")
        if not getattr(alert, name)
    ]


#: How the inbox orders alerts: critical first, then what is least done, then newest.
STANDING_RANK = {
    Standing.UNACKNOWLEDGED: 0,
    Standing.DECISION_DUE: 1,
    Standing.ACKNOWLEDGED: 2,
    Standing.CLOSED: 3,
}
SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.WARNING: 1}


# --- events from the rule engine -----------------------------------------------------


def apply(
    alert: Alert | None, occurrence: Occurrence | None, event: AlertEvent, now: datetime
) -> Applied:
    """Apply one event. `occurrence` is the one of the event's key if it is known,
    with its alert (closed or not); else `alert` is the condition's alert that is not
    closed, or None to open one. `now` is the service's clock.

    Applying the same event twice changes nothing, and no order of events loses the
    peak: a redelivered, late or repeated event is harmless.
    """
    if occurrence is not None:
        assert alert is not None, "an occurrence comes with its alert"
        return _known_occurrence(copy.copy(alert), copy.copy(occurrence), event, now)
    if alert is None or alert.status is Status.CLOSED:
        return _open(event, now)
    return _new_occurrence(copy.copy(alert), event, now)


def _open(event: AlertEvent, now: datetime) -> Applied:
    lasting = event.rule not in MOMENTARY_RULES
    raised = event.state is not AlertState.CLEARED
    alert = Alert(
        condition=condition_of(event),
        site=event.site,
        asset=event.asset,
        sensor=event.sensor,
        gateway=event.gateway,
        rule=event.rule,
        severity=event.severity,
        status=Status.OPEN,
        active=raised and lasting,
        occurrences=1,
        opened_at=event.started_at,
        escalation_since=now,
        raised_at=event.at if raised else None,
        cleared_at=None if raised and lasting else event.at,
        limit_c=event.limit_c,
        regulatory_limit_c=event.regulatory_limit_c,
        delay_s=event.delay_s,
    )
    occurrence = _occurrence(event)
    applied = Applied(alert, occurrence, opened=True, changed=True, needs_telling=True)
    _step(applied, "opened", _event_detail(event))
    if event.state is AlertState.CLEARED:
        _clear(applied, event)
    else:
        _follow(applied, event)
    return applied


def _new_occurrence(alert: Alert, event: AlertEvent, now: datetime) -> Applied:
    """The condition fires again (or only now reports its clearing) while not closed."""
    alert.occurrences += 1
    applied = Applied(alert, _occurrence(event), changed=True)
    if event.state is AlertState.CLEARED:
        _clear(applied, event)
        return applied
    was_active = alert.active
    worse = gets_worse(alert.rule, alert.severity, event)
    alert.active = event.rule not in MOMENTARY_RULES
    alert.cleared_at = None if alert.active else event.at
    alert.duration_s = None
    _raise_values(alert, event)
    fired_again = alert.status is Status.ACKNOWLEDGED and not was_active
    reopened = _restart_if(applied, worse or fired_again, now)
    step = "fired_again" if not was_active else "severity_raised" if worse else "raised"
    _step(applied, step, _event_detail(event) | {"reopened": reopened})
    _follow(applied, event)
    applied.needs_telling = reopened or alert.status is Status.OPEN
    return applied


def _known_occurrence(
    alert: Alert, occurrence: Occurrence, event: AlertEvent, now: datetime
) -> Applied:
    applied = Applied(alert, occurrence)
    if occurrence.cleared_at is not None:
        return applied  # what follows a clearing changes nothing
    if alert.status is Status.CLOSED and not alert.closed_while_active:
        return applied  # nor what follows a closing after recovery
    if event.state is AlertState.CLEARED:
        _clear(applied, event)
        return applied
    if alert.status is Status.CLOSED and _worse_than(occurrence, event):
        # Closed while it lasted, and now it got worse: people must look again.
        _reopen(applied, event, now)
        return applied
    if alert.status is Status.CLOSED or not _worse_than(occurrence, event):
        # A reading of a condition still present, a redelivery, or an earlier
        # level of this occurrence arriving late: the values follow, nothing else.
        _follow(applied, event)
        return applied
    worse = gets_worse(alert.rule, alert.severity, event)
    occurrence.raised_at = occurrence.raised_at or event.at
    occurrence.rule, occurrence.severity = event.rule, event.severity
    alert.raised_at = alert.raised_at or event.at
    _raise_values(alert, event)
    reopened = _restart_if(applied, worse, now)
    _step(
        applied,
        "severity_raised" if worse else "raised",
        _event_detail(event) | {"reopened": reopened},
    )
    _follow(applied, event)
    applied.needs_telling = worse
    return applied


def _worse_than(occurrence: Occurrence, event: AlertEvent) -> bool:
    """A raise of a higher level or severity than the occurrence has reached (an update,
    a redelivery or an earlier level arriving late is not)."""
    if event.state is not AlertState.RAISED:
        return False
    return occurrence.raised_at is None or gets_worse(occurrence.rule, occurrence.severity, event)


def _reopen(applied: Applied, event: AlertEvent, now: datetime) -> None:
    """An alert closed while its condition lasted is open again: the condition got worse."""
    alert, occurrence = applied.alert, applied.occurrence
    closing = {
        "closed_by": alert.closed_by,
        "closed_at": alert.closed_at.isoformat() if alert.closed_at else None,
        "close_comment": alert.close_comment,
    }
    alert.status = Status.OPEN
    alert.closed_at = alert.closed_by = alert.close_comment = None
    alert.closed_while_active = False
    alert.escalation_since = now
    occurrence.raised_at = occurrence.raised_at or event.at
    occurrence.rule, occurrence.severity = event.rule, event.severity
    _raise_values(alert, event)
    applied.restarted = applied.needs_telling = applied.changed = True
    _step(applied, "reopened", _event_detail(event) | {"closing": closing})
    _follow(applied, event)


def _occurrence(event: AlertEvent) -> Occurrence:
    raised = event.state is not AlertState.CLEARED
    return Occurrence(
        key=event.key,
        rule=event.rule,
        severity=event.severity,
        started_at=event.started_at,
        raised_at=event.at if raised else None,
        peak_c=event.peak_c,
    )


def _raise_values(alert: Alert, event: AlertEvent) -> None:
    alert.rule = event.rule
    alert.limit_c = event.limit_c
    alert.delay_s = event.delay_s
    alert.severity = more_severe(alert.severity, event.severity)
    if event.regulatory_limit_c is not None:
        alert.regulatory_limit_c = event.regulatory_limit_c


def _follow(applied: Applied, event: AlertEvent) -> None:
    """The latest reading the rules reported: current value, peak, degree-minutes."""
    alert, occurrence = applied.alert, applied.occurrence
    if event.peak_c is not None:
        _worsen_peak(applied, event.peak_c)
    if alert.value_at is None or event.at >= alert.value_at:
        if (alert.value_c, alert.value_at) != (event.value_c, event.at):
            alert.value_c, alert.value_at = event.value_c, event.at
            applied.changed = True
        if alert.active:
            duration = (event.at - alert.opened_at).total_seconds()
            if alert.duration_s != duration:
                alert.duration_s = duration
                applied.changed = True
    if event.degree_minutes is not None and event.degree_minutes > (
        occurrence.degree_minutes or 0.0
    ):
        # They only grow while an excursion lasts, so a late event never lowers them;
        # the alert's are the sum over its occurrences.
        added = event.degree_minutes - (occurrence.degree_minutes or 0.0)
        alert.degree_minutes = (alert.degree_minutes or 0.0) + added
        occurrence.degree_minutes = event.degree_minutes
        applied.changed = True


def _worsen_peak(applied: Applied, peak: float) -> None:
    alert, occurrence = applied.alert, applied.occurrence
    worse_than_occurrence = _worse(alert, occurrence.peak_c, peak)
    worse_than_alert = _worse(alert, alert.peak_c, peak)
    if worse_than_occurrence != occurrence.peak_c or worse_than_alert != alert.peak_c:
        occurrence.peak_c, alert.peak_c = worse_than_occurrence, worse_than_alert
        applied.changed = True


def _worse(alert: Alert, current: float | None, peak: float) -> float:
    if current is None:
        return peak
    above = alert.rule.startswith("over") or alert.condition.startswith("temperature_above")
    return max(current, peak) if above else min(current, peak)


def _clear(applied: Applied, event: AlertEvent) -> None:
    alert, occurrence = applied.alert, applied.occurrence
    _follow(applied, event)
    occurrence.cleared_at = event.at
    occurrence.duration_s = event.duration_s
    alert.active = False
    alert.cleared_at = event.at
    alert.duration_s = (event.at - alert.opened_at).total_seconds()
    applied.changed = True
    _step(applied, "cleared", _event_detail(event))


def _restart_if(applied: Applied, restart: bool, now: datetime) -> bool:
    """Escalate from level 1 again; an acknowledged alert is open again: people must
    look. True when an acknowledged alert was reopened."""
    if not restart:
        return False
    alert = applied.alert
    alert.escalation_since = now
    applied.restarted = True
    if alert.status is Status.ACKNOWLEDGED:
        alert.status = Status.OPEN
        return True
    return False


def _step(applied: Applied, action: str, detail: dict[str, Any]) -> None:
    applied.steps.append(Step(action, detail, applied.alert.severity))


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


# --- what people do ------------------------------------------------------------------


def acknowledge(alert: Alert, user: str, comment: str, now: datetime) -> tuple[Alert, Step]:
    """`user` has seen the alert and is acting; stops its escalation."""
    if alert.status is not Status.OPEN:
        raise WorkflowError(
            "not_open",
            f"the alert is {alert.status.value}; only an open alert can be acknowledged",
        )
    text = _text("comment", comment)
    if not text:
        raise WorkflowError(
            "comment_required", "say in a comment what you are doing about it, then acknowledge"
        )
    changed = copy.copy(alert)
    changed.status = Status.ACKNOWLEDGED
    changed.acknowledged_at, changed.acknowledged_by, changed.acknowledge_comment = now, user, text
    return changed, Step("acknowledged", {"comment": text}, changed.severity)


def decide(alert: Alert, user: str, decision: Decision, now: datetime) -> tuple[Alert, Step]:
    """Record the cause, the corrective action and the product decision, also while the
    condition is present; recording again replaces them (the audit log keeps both)."""
    if alert.status is not Status.ACKNOWLEDGED:
        raise WorkflowError(
            "not_acknowledged",
            f"the alert is {alert.status.value}; acknowledge it before recording a decision",
        )
    cleaned = _decision(decision)
    if not (cleaned.cause or cleaned.corrective_action or cleaned.product_decision):
        raise WorkflowError(
            "decision_empty", "record a cause, a corrective action or a product decision"
        )
    changed = copy.copy(alert)
    _record_decision(changed, cleaned, user, now)
    return changed, Step("decided", _decision_detail(cleaned, alert.active), changed.severity)


def close(alert: Alert, user: str, closing: Closing, now: datetime) -> tuple[Alert, Step]:
    """Close the alert. Needs it acknowledged and its condition cleared, or, to close it
    while the condition is present, `while_active` and a comment saying why. A critical
    alert needs a cause, a corrective action and a product decision, recorded before
    (`decide`) or with the closing."""
    if alert.status is not Status.ACKNOWLEDGED:
        raise WorkflowError(
            "not_acknowledged",
            f"the alert is {alert.status.value}; acknowledge it before closing it",
        )
    comment = _text("comment", closing.comment)
    if alert.active and not closing.while_active:
        raise WorkflowError(
            "still_active",
            "the condition is still present; close the alert once it has cleared, or say "
            "why it is closed while it lasts",
        )
    if alert.active and not comment:
        raise WorkflowError(
            "reason_required", "say in a comment why the alert is closed while the condition lasts"
        )
    given = _decision(closing.decision)
    changed = copy.copy(alert)
    if given.cause or given.corrective_action or given.product_decision:
        _record_decision(changed, given, user, now)
    if changed.severity is Severity.CRITICAL:
        missing = missing_decision(changed)
        if missing:
            raise WorkflowError(
                "closing_incomplete",
                "a critical alert is closed only with a cause, a corrective action and a "
                f"product decision; missing: {', '.join(missing)}",
            )
    changed.status = Status.CLOSED
    changed.closed_at, changed.closed_by = now, user
    changed.close_comment = comment or None
    changed.closed_while_active = alert.active
    # The closing names the whole decision, also what was recorded before it: it is
    # what reports read (coldchain.corrective).
    recorded = Decision(
        changed.cause or "", changed.corrective_action or "", changed.product_decision
    )
    detail = _decision_detail(recorded, alert.active) | {"comment": comment}
    return changed, Step("closed", detail, changed.severity)


def _record_decision(alert: Alert, decision: Decision, user: str, now: datetime) -> None:
    alert.cause = decision.cause or alert.cause
    alert.corrective_action = decision.corrective_action or alert.corrective_action
    alert.product_decision = decision.product_decision or alert.product_decision
    alert.decided_at, alert.decided_by = now, user


def _decision(decision: Decision) -> Decision:
    return Decision(
        cause=_text("cause", decision.cause),
        corrective_action=_text("corrective_action", decision.corrective_action),
        product_decision=decision.product_decision,
    )


def _decision_detail(decision: Decision, active: bool) -> dict[str, Any]:
    return {
        "cause": decision.cause,
        "corrective_action": decision.corrective_action,
        "product_decision": decision.product_decision.value if decision.product_decision else None,
        "while_active": active,
    }


def _text(name: str, text: str) -> str:
    trimmed = text.strip()
    if len(trimmed) > MAX_TEXT:
        raise WorkflowError(
            "too_long", f"{name} is {len(trimmed)} characters long; at most {MAX_TEXT} are kept"
        )
    return trimmed


def maintenance_event(
    rule: str,
    condition: str,
    site: str,
    since: datetime,
    now: datetime,
    state: AlertState,
    key: str | None = None,
    asset: str | None = None,
    sensor: str | None = None,
) -> AlertEvent:
    """The event that raises (or, with the raised event's `key`, clears) a maintenance
    warning the alerts service finds itself (a missing backup, an unverified probe):
    its `condition` holds since `since` (UTC), seen at the service's clock `now`."""
    at = max(now, since)
    cleared = state == AlertState.CLEARED
    return AlertEvent(
        key=key or f"{condition}/{since.isoformat()}",
        state=state,
        rule=rule,
        severity=Severity.WARNING,
        site=site,
        asset=asset,
        sensor=sensor,
        started_at=since,
        at=at,
        ended_at=at if cleared else None,
        duration_s=(at - since).total_seconds() if cleared else None,
    )
