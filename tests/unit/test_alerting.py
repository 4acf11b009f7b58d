"""An alert's life as pure rules: events, people's steps, and properties over random
orders of real event sequences from the rule engine."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldchain import alerting
from coldchain.alerting import (
    MAX_TEXT,
    Alert,
    Closing,
    Decision,
    Occurrence,
    ProductDecision,
    Standing,
    Status,
    WorkflowError,
    condition_of,
    more_severe,
    standing,
)
from coldchain.contract import AlertEvent, AlertState, Reading, Severity
from coldchain.engine import EngineState, RuleEngine
from coldchain.fleet import Fleet

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
KEY = "temperature_above/van-2.chilled/2026-11-26T02:00:00+00:00"
COMPLETE = Decision(
    cause="compressor failed",
    corrective_action="goods moved to cold room 2",
    product_decision=ProductDecision.QUARANTINE,
)


def event(state: AlertState, minute: float, **values: object) -> AlertEvent:
    fields: dict[str, object] = {
        "key": KEY,
        "state": state,
        "rule": "over_max",
        "severity": Severity.CRITICAL,
        "site": "dortmund-hub",
        "asset": "van-2-chilled",
        "sensor": "van-2.chilled",
        "started_at": T0,
        "at": T0 + timedelta(minutes=minute),
        "limit_c": 7.0,
        "delay_s": 900.0,
    }
    return AlertEvent.model_validate(fields | values)


@dataclass
class Store:
    """What the alerts service keeps, in memory: alerts, occurrences, journal."""

    alerts: list[Alert] = field(default_factory=list)
    occurrences: dict[str, tuple[int, Occurrence]] = field(default_factory=dict)
    steps: list[tuple[int, alerting.Step]] = field(default_factory=list)

    def apply(self, event: AlertEvent, now: datetime = NOW) -> alerting.Applied:
        known = self.occurrences.get(event.key)
        if known is not None:
            index: int | None = known[0]
            applied = alerting.apply(self.alerts[known[0]], known[1], event, now)
        else:
            index = self.unclosed(condition_of(event))
            alert = self.alerts[index] if index is not None else None
            applied = alerting.apply(alert, None, event, now)
        if applied.opened or index is None:
            self.alerts.append(applied.alert)
            index = len(self.alerts) - 1
        self.alerts[index] = applied.alert
        self.occurrences[event.key] = (index, applied.occurrence)
        self.steps += [(index, step) for step in applied.steps]
        return applied

    def unclosed(self, condition: str) -> int | None:
        for index, alert in enumerate(self.alerts):
            if alert.condition == condition and alert.status is not Status.CLOSED:
                return index
        return None


def raised_alert(**changes: object) -> Alert:
    store = Store()
    store.apply(event(AlertState.RAISED, 15, value_c=8.0, peak_c=8.0))
    return replace(store.alerts[0], **changes)  # type: ignore[arg-type]


# --- events ---------------------------------------------------------------------------


def test_the_condition_is_the_key_without_its_start() -> None:
    assert condition_of(event(AlertState.RAISED, 15)) == "temperature_above/van-2.chilled"


def test_more_severe() -> None:
    assert more_severe("warning", Severity.CRITICAL) is Severity.CRITICAL
    assert more_severe(Severity.WARNING, "warning") is Severity.WARNING


def test_peak_current_value_and_duration_follow_the_readings() -> None:
    """Van 2's compressor: raised at 12.8 °C, the compartment reaches 26 °C."""
    store = Store()
    store.apply(event(AlertState.RAISED, 15, value_c=12.8, peak_c=12.8, degree_minutes=40.0))
    for minute, value in ((16, 18.0), (17, 26.0), (18, 24.5)):
        applied = store.apply(
            event(
                AlertState.UPDATED,
                minute,
                value_c=value,
                peak_c=max(value, 12.8 if minute < 17 else 26.0),
                degree_minutes=40.0 + 10 * (minute - 15),
            )
        )
        assert applied.changed and not applied.steps and not applied.needs_telling
    alert = store.alerts[0]
    assert (alert.value_c, alert.peak_c) == (24.5, 26.0)
    assert alert.value_at == T0 + timedelta(minutes=18)
    assert alert.duration_s == 18 * 60
    assert alert.degree_minutes == 70.0
    assert [step.action for _, step in store.steps] == ["opened"]


def test_an_update_whose_raise_was_lost_opens_the_alert() -> None:
    store = Store()
    store.apply(event(AlertState.UPDATED, 16, value_c=9.0, peak_c=9.5))
    alert = store.alerts[0]
    assert alert.active and alert.status is Status.OPEN
    assert (alert.value_c, alert.peak_c) == (9.0, 9.5)


def test_a_late_older_reading_does_not_replace_the_current_value() -> None:
    store = Store()
    store.apply(event(AlertState.RAISED, 15, value_c=9.0, peak_c=9.0))
    store.apply(event(AlertState.UPDATED, 20, value_c=11.0, peak_c=11.0))
    store.apply(event(AlertState.UPDATED, 17, value_c=10.0, peak_c=10.0))
    assert (store.alerts[0].value_c, store.alerts[0].peak_c) == (11.0, 11.0)


def test_a_higher_level_after_acknowledging_opens_it_again_and_restarts_escalation() -> None:
    store = Store()
    store.apply(event(AlertState.RAISED, 15, value_c=8.0, peak_c=8.0), NOW)
    acknowledged, _ = alerting.acknowledge(store.alerts[0], "anna", "driver told", NOW)
    store.alerts[0] = acknowledged
    later = NOW + timedelta(minutes=5)
    applied = store.apply(
        event(AlertState.RAISED, 20, rule="over_absolute", value_c=13.0, peak_c=13.0), later
    )
    assert applied.needs_telling and applied.restarted
    assert applied.alert.status is Status.OPEN
    assert applied.alert.escalation_since == later
    assert [step.action for step in applied.steps] == ["severity_raised"]


def test_what_follows_a_closing_after_recovery_changes_nothing() -> None:
    alert = raised_alert(status=Status.ACKNOWLEDGED, active=False)
    closed, _ = alerting.close(alert, "anna", Closing(**vars(COMPLETE)), NOW)
    occurrence = Occurrence(KEY, "over_max", Severity.CRITICAL, T0, raised_at=T0)
    for state in AlertState:
        for rule in ("over_max", "over_absolute"):
            later = event(state, 30, rule=rule, value_c=30.0, peak_c=30.0)
            applied = alerting.apply(closed, occurrence, later, NOW)
            assert applied.alert == closed and not applied.changed and not applied.steps


def test_an_alert_closed_while_it_lasts_follows_it_and_opens_again_when_it_gets_worse() -> None:
    """An officer closes a warning while it lasts; the same excursion then passes the
    absolute limit: a critical alarm nobody is told of would be the worst outcome."""
    store = Store()
    store.apply(event(AlertState.RAISED, 15, rule="over_warning", severity=Severity.WARNING))
    alert, _ = alerting.acknowledge(store.alerts[0], "anna", "door fixed", NOW)
    closed, _ = alerting.close(
        alert, "anna", Closing(comment="cooling down", while_active=True), NOW
    )
    store.alerts[0] = closed
    followed = store.apply(event(AlertState.UPDATED, 20, value_c=6.5, peak_c=6.5))
    assert followed.alert.status is Status.CLOSED and followed.alert.value_c == 6.5
    assert not followed.steps and not followed.needs_telling
    later = NOW + timedelta(minutes=30)
    worse = event(AlertState.RAISED, 25, rule="over_absolute", value_c=13.0, peak_c=13.0)
    reopened = store.apply(worse, later)
    assert reopened.alert.status is Status.OPEN and reopened.alert.severity is Severity.CRITICAL
    assert reopened.needs_telling and reopened.restarted
    assert reopened.alert.escalation_since == later
    assert reopened.alert.closed_at is None and not reopened.alert.closed_while_active
    (step,) = reopened.steps
    assert step.action == "reopened"
    assert step.detail["closing"]["close_comment"] == "cooling down"


# --- what people do -------------------------------------------------------------------


def test_acknowledging_needs_an_open_alert_and_a_comment() -> None:
    alert, step = alerting.acknowledge(raised_alert(), "anna", "  on my way  ", NOW)
    assert alert.status is Status.ACKNOWLEDGED and alert.acknowledge_comment == "on my way"
    assert step.action == "acknowledged"
    with pytest.raises(WorkflowError) as empty:
        alerting.acknowledge(raised_alert(), "anna", "   ", NOW)
    assert empty.value.code == "comment_required"
    with pytest.raises(WorkflowError) as twice:
        alerting.acknowledge(alert, "bernd", "again", NOW)
    assert twice.value.code == "not_open"
    with pytest.raises(WorkflowError) as long:
        alerting.acknowledge(raised_alert(), "anna", "x" * (MAX_TEXT + 1), NOW)
    assert long.value.code == "too_long"


def test_the_decision_is_recorded_while_the_condition_lasts() -> None:
    alert = raised_alert(status=Status.ACKNOWLEDGED)
    assert alert.active and standing(alert) is Standing.DECISION_DUE
    decided, step = alerting.decide(
        alert, "anna", Decision(product_decision=ProductDecision.QUARANTINE), NOW
    )
    assert decided.product_decision is ProductDecision.QUARANTINE
    assert (decided.decided_by, decided.decided_at) == ("anna", NOW)
    assert step.detail["while_active"] is True
    assert standing(decided) is Standing.DECISION_DUE, "cause and action still missing"
    complete, _ = alerting.decide(decided, "anna", replace(COMPLETE, product_decision=None), NOW)
    assert complete.product_decision is ProductDecision.QUARANTINE, "kept from before"
    assert standing(complete) is Standing.ACKNOWLEDGED
    with pytest.raises(WorkflowError) as open_alert:
        alerting.decide(raised_alert(), "anna", COMPLETE, NOW)
    assert open_alert.value.code == "not_acknowledged"
    with pytest.raises(WorkflowError) as empty:
        alerting.decide(alert, "anna", Decision(cause="  "), NOW)
    assert empty.value.code == "decision_empty"


def test_closing_while_the_condition_lasts_needs_a_reason() -> None:
    alert = raised_alert(status=Status.ACKNOWLEDGED)
    with pytest.raises(WorkflowError) as active:
        alerting.close(alert, "anna", Closing(**vars(COMPLETE)), NOW)
    assert active.value.code == "still_active"
    with pytest.raises(WorkflowError) as no_reason:
        alerting.close(alert, "anna", Closing(**vars(COMPLETE), while_active=True), NOW)
    assert no_reason.value.code == "reason_required"
    closed, step = alerting.close(
        alert,
        "anna",
        Closing(**vars(COMPLETE), while_active=True, comment="van taken out of service"),
        NOW,
    )
    assert closed.status is Status.CLOSED and closed.closed_while_active
    assert step.detail["while_active"] is True
    assert step.detail["comment"] == "van taken out of service"


def test_closing_a_critical_alert_needs_cause_action_and_decision() -> None:
    cleared = raised_alert(status=Status.ACKNOWLEDGED, active=False)
    for missing in (
        Closing(cause="", corrective_action="x", product_decision=ProductDecision.DISCARD),
        Closing(cause="x", corrective_action=" ", product_decision=ProductDecision.DISCARD),
        Closing(cause="x", corrective_action="y", product_decision=None),
    ):
        with pytest.raises(WorkflowError) as incomplete:
            alerting.close(cleared, "anna", missing, NOW)
        assert incomplete.value.code == "closing_incomplete"
    decided, _ = alerting.decide(cleared, "anna", COMPLETE, NOW)
    closed, step = alerting.close(decided, "bernd", Closing(comment="all done"), NOW)
    assert closed.status is Status.CLOSED and not closed.closed_while_active
    assert step.detail["product_decision"] == "quarantine", "the closing names the decision"


def test_a_warning_closes_with_a_comment_only() -> None:
    warning = raised_alert(status=Status.ACKNOWLEDGED, active=False, severity=Severity.WARNING)
    assert standing(warning) is Standing.ACKNOWLEDGED
    closed, _ = alerting.close(warning, "anna", Closing(comment=" ok "), NOW)
    assert closed.close_comment == "ok"


def test_closing_needs_it_acknowledged() -> None:
    with pytest.raises(WorkflowError) as unacknowledged:
        alerting.close(raised_alert(active=False), "anna", Closing(**vars(COMPLETE)), NOW)
    assert unacknowledged.value.code == "not_acknowledged"


# --- properties over real event sequences ---------------------------------------------

FLEET = Fleet.model_validate(
    {
        "sites": [
            {
                "id": "dortmund-hub",
                "name": "Hub",
                "assets": [
                    {
                        "id": "van-2-chilled",
                        "name": {"de": "Van 2", "en": "Van 2"},
                        "category": "meat_products",
                        "limits": {"delay_s": 300, "max_rate_k_per_min": None},
                    }
                ],
                "gateways": [
                    {"id": "van-2", "sensors": [{"id": "van-2.chilled", "asset": "van-2-chilled"}]}
                ],
            }
        ]
    }
)

temperatures = st.lists(
    st.floats(min_value=-2.0, max_value=30.0, allow_nan=False).map(lambda v: round(v, 1)),
    min_size=5,
    max_size=80,
)


def engine_events(values: list[float]) -> list[AlertEvent]:
    """What the rule engine says about van 2's compartment, a reading a minute."""
    engine = RuleEngine(FLEET, EngineState(started_at=T0))
    readings = [
        Reading(sensor="van-2.chilled", ts=T0 + timedelta(minutes=i), temp_c=value)
        for i, value in enumerate(values)
    ]
    return [e for e in engine.observe(readings, []).alerts if e.sensor == "van-2.chilled"]


def delivered(events: list[AlertEvent], seed: int) -> list[AlertEvent]:
    """The events as a broker and ingest's redelivery may hand them over: shuffled,
    some twice."""
    rng = random.Random(seed)
    copies = events + [e for e in events if rng.random() < 0.3]
    rng.shuffle(copies)
    return copies


def worst(alert: Alert, peaks: list[float]) -> float:
    return max(peaks) if alert.condition.startswith("temperature_above") else min(peaks)


@settings(max_examples=200, deadline=None)
@given(temperatures, st.integers(0, 2**32))
def test_no_order_of_events_loses_the_peak(values: list[float], seed: int) -> None:
    events = engine_events(values)
    store = Store()
    for item in delivered(events, seed):
        store.apply(item)
    for alert in store.alerts:
        peaks = [
            e.peak_c for e in events if condition_of(e) == alert.condition and e.peak_c is not None
        ]
        if peaks:
            assert alert.peak_c == worst(alert, peaks)


@settings(max_examples=200, deadline=None)
@given(temperatures, st.integers(0, 2**32))
def test_delivering_again_changes_nothing(values: list[float], seed: int) -> None:
    events = engine_events(values)
    once, twice = Store(), Store()
    for item in events:
        once.apply(item)
    for item in events + delivered(events, seed):
        twice.apply(item)
    assert twice.alerts == once.alerts
    assert [s for _, s in twice.steps] == [s for _, s in once.steps]


@settings(max_examples=200, deadline=None)
@given(temperatures, st.integers(0, 2**32), st.integers(0, 80))
def test_no_change_of_state_goes_unrecorded_and_a_closed_alert_changes_only_as_allowed(
    values: list[float], seed: int, close_after: int
) -> None:
    """Whatever the order: a change of status, presence or severity comes with a step
    for the audit log; an alert closed after recovery never changes again, and one
    closed while it lasted only follows the readings, or opens again with a record."""
    events = delivered(engine_events(values), seed)
    store = Store()
    closed: dict[int, Alert] = {}
    for number, item in enumerate(events):
        before = copy.deepcopy(store.alerts)
        applied = store.apply(item)
        index = store.alerts.index(applied.alert)
        if index < len(before):
            was = before[index]
            moved = (was.status, was.active, was.severity) != (
                applied.alert.status,
                applied.alert.active,
                applied.alert.severity,
            )
            assert not moved or applied.steps, "a change without an audit step"
        elif applied.alert.status is not Status.CLOSED:
            assert applied.steps and applied.steps[0].action == "opened"
        for kept, alert in list(closed.items()):
            now_ = store.alerts[kept]
            if now_ == alert:
                continue
            assert alert.closed_while_active, "an alert closed after recovery changed"
            if now_.status is not Status.CLOSED:
                assert applied.steps[0].action == "reopened", "reopened without a record"
                del closed[kept]
            else:  # it lasts: what was measured follows, what people recorded does not
                recorded = ("closed_at", "closed_by", "close_comment", "product_decision")
                assert [getattr(now_, n) for n in recorded] == [getattr(alert, n) for n in recorded]
                closed[kept] = now_
        if number == close_after and store.alerts:
            index = len(store.alerts) - 1
            alert = store.alerts[index]
            if alert.status is Status.OPEN:
                alert, _ = alerting.acknowledge(alert, "anna", "on it", NOW)
                alert, _ = alerting.close(
                    alert,
                    "anna",
                    Closing(**vars(COMPLETE), comment="closed", while_active=alert.active),
                    NOW,
                )
                store.alerts[index] = alert
                closed[index] = alert
