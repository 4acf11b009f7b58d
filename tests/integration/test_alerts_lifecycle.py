"""An alert's life in the alerts database, on SQLite and on PostgreSQL.

Events from ingest become alerts (one per condition until closed); people
acknowledge and close them; every step is in the timeline and queued for
InfluxDB. The schema is Alembic's, and Alembic's migrations match the models.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coldchain.alerting import Closing, ProductDecision, WorkflowError
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts import lifecycle, listing
from coldchain_alerts.db import Base, make_engine, make_sessionmaker, migrate
from coldchain_alerts.models import Alert, InfluxOutbox

SITE = "dortmund-hub"
T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
COMPLETE = Closing(
    cause="compressor of van 2 failed",
    corrective_action="goods moved to cold room 1; compressor repaired",
    product_decision=ProductDecision.QUARANTINE,
)


@pytest.fixture
def sessions(database_url: str) -> sessionmaker[Session]:
    migrate(database_url)
    return make_sessionmaker(make_engine(database_url))


def event(
    state: AlertState,
    at: datetime,
    started: datetime = T0,
    rule: str = "over_max",
    severity: Severity = Severity.CRITICAL,
    sensor: str = "van-2.chilled",
    peak: float = 9.0,
) -> AlertEvent:
    family = "temperature_above" if rule.startswith("over") else rule
    return AlertEvent(
        key=f"{family}/{sensor}/{started.isoformat()}",
        state=state,
        rule=rule,
        severity=severity,
        site=SITE,
        asset="van-2-chilled",
        sensor=sensor,
        started_at=started,
        at=at,
        value_c=peak,
        peak_c=peak,
        limit_c=6.0,
        regulatory_limit_c=7.0,
        delay_s=900,
        duration_s=(at - started).total_seconds() if state is AlertState.CLEARED else None,
        degree_minutes=12.5 if state is AlertState.CLEARED else None,
    )


def apply(sessions: sessionmaker[Session], *events: AlertEvent) -> list[lifecycle.Applied]:
    applied = []
    for item in events:
        with sessions.begin() as session:
            applied += lifecycle.apply_events(session, [item], NOW)
    return applied


def alerts(sessions: sessionmaker[Session]) -> list[Alert]:
    with sessions() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def steps(sessions: sessionmaker[Session], alert_id: int) -> list[str]:
    with sessions() as session:
        return [step.action for step in listing.timeline(session, alert_id)]


def test_migrations_create_exactly_the_models(database_url: str) -> None:
    migrate(database_url)
    migrate(database_url)  # a second run changes nothing
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, type_, *_: name != "apscheduler_jobs",
            },
        )
        assert compare_metadata(context, Base.metadata) == []


def test_events_make_one_alert_and_redeliveries_change_nothing(
    sessions: sessionmaker[Session],
) -> None:
    raised = event(AlertState.RAISED, T0 + timedelta(minutes=15), peak=8.5)
    cleared = event(AlertState.CLEARED, T0 + timedelta(minutes=40), peak=11.0)
    apply(sessions, raised, raised, cleared, raised, cleared)
    (alert,) = alerts(sessions)
    assert (alert.status, alert.active, alert.occurrences) == ("open", False, 1)
    assert alert.opened_at == T0
    assert alert.raised_at == T0 + timedelta(minutes=15)
    assert alert.cleared_at == T0 + timedelta(minutes=40)
    assert alert.peak_c == 11.0
    assert alert.duration_s == 40 * 60
    assert steps(sessions, alert.id) == ["opened", "cleared"]


def test_events_stored_in_one_transaction_end_as_one_by_one(
    sessions: sessionmaker[Session],
) -> None:
    """The consumer stores events that arrive together in one transaction."""
    raised = event(AlertState.RAISED, T0 + timedelta(minutes=15), peak=8.5)
    cleared = event(AlertState.CLEARED, T0 + timedelta(minutes=40), peak=11.0)
    jump = event(AlertState.RAISED, T0 + timedelta(minutes=15), rule="jump")
    with sessions.begin() as session:
        applied = lifecycle.apply_events(session, [raised, jump, cleared, raised], NOW)
    assert [a.needs_telling for a in applied] == [True, True, False, False]
    temperature, jumped = alerts(sessions)
    assert (temperature.rule, temperature.status, temperature.active) == ("over_max", "open", False)
    assert (temperature.occurrences, temperature.peak_c) == (1, 11.0)
    assert temperature.cleared_at == T0 + timedelta(minutes=40)
    assert steps(sessions, temperature.id) == ["opened", "cleared"]
    assert (jumped.rule, jumped.active) == ("jump", True)
    assert steps(sessions, jumped.id) == ["opened"]


def test_a_condition_that_worsens_clears_and_fires_again_in_one_transaction_ends_as_one_by_one(
    sessions: sessionmaker[Session],
) -> None:
    """Every kind of step, stored event by event for one sensor and in one
    transaction for another: the same alerts, timelines and InfluxDB points."""
    again = T0 + timedelta(minutes=50)

    def story(sensor: str) -> list[AlertEvent]:
        worse = event(
            AlertState.RAISED, T0 + timedelta(minutes=20), rule="over_absolute", sensor=sensor
        )
        return [
            event(
                AlertState.RAISED,
                T0 + timedelta(minutes=15),
                severity=Severity.WARNING,
                sensor=sensor,
            ),
            worse,
            event(AlertState.RAISED, T0 + timedelta(minutes=15), rule="jump", sensor=sensor),
            event(AlertState.CLEARED, T0 + timedelta(minutes=40), peak=11.0, sensor=sensor),
            event(AlertState.RAISED, again + timedelta(minutes=5), again, sensor=sensor),
            worse,
            event(AlertState.CLEARED, again + timedelta(minutes=20), again, sensor=sensor),
        ]

    one_by_one = apply(sessions, *story("van-2.chilled"))
    with sessions.begin() as session:
        together = lifecycle.apply_events(session, story("van-3.chilled"), NOW)
    assert [(a.changed, a.needs_telling) for a in together] == [
        (a.changed, a.needs_telling) for a in one_by_one
    ]

    def what(alert: Alert) -> tuple[object, ...]:
        columns = Alert.__table__.columns.keys()
        skip = {"id", "condition", "sensor"}
        return tuple(getattr(alert, name) for name in columns if name not in skip)

    def points(alert_id: int) -> list[str]:
        with sessions() as session:
            lines = session.scalars(select(InfluxOutbox.line).order_by(InfluxOutbox.id))
            tags = [line.split(" ")[0].split(",") for line in lines]
        return [
            ",".join(t for t in tag if t.split("=")[0] in ("action", "severity"))
            for tag in tags
            if f"alert_id={alert_id}" in tag
        ]

    first_temperature, first_jump, temperature, jump = alerts(sessions)
    assert what(temperature) == what(first_temperature)
    assert what(jump) == what(first_jump)
    assert temperature.degree_minutes == 25.0
    for alert, first in ((temperature, first_temperature), (jump, first_jump)):
        assert steps(sessions, alert.id) == steps(sessions, first.id)
        assert points(alert.id) == points(first.id)
    assert steps(sessions, temperature.id) == [
        "opened",
        "severity_raised",
        "cleared",
        "fired_again",
        "cleared",
    ]
    assert points(temperature.id)[:2] == [
        "action=opened,severity=warning",
        "action=severity_raised,severity=critical",
    ]


def test_the_same_condition_firing_again_updates_the_open_alert(
    sessions: sessionmaker[Session],
) -> None:
    second = T0 + timedelta(hours=3)
    apply(
        sessions,
        event(AlertState.RAISED, T0 + timedelta(minutes=15)),
        event(AlertState.CLEARED, T0 + timedelta(minutes=40)),
    )
    (first,) = alerts(sessions)
    with sessions.begin() as session:
        lifecycle.acknowledge(session, first.id, "anna", "on my way", NOW)
    (applied,) = apply(sessions, event(AlertState.RAISED, second + timedelta(minutes=15), second))
    (alert,) = alerts(sessions)
    assert alert.id == first.id
    assert (alert.status, alert.active, alert.occurrences) == ("open", True, 2)
    assert alert.cleared_at is None
    assert applied.needs_telling
    assert steps(sessions, alert.id) == ["opened", "cleared", "acknowledged", "fired_again"]


def test_getting_worse_reopens_an_acknowledged_alert(sessions: sessionmaker[Session]) -> None:
    warning = event(
        AlertState.RAISED,
        T0 + timedelta(minutes=15),
        rule="over_warning",
        severity=Severity.WARNING,
    )
    apply(sessions, warning)
    (alert,) = alerts(sessions)
    with sessions.begin() as session:
        lifecycle.acknowledge(session, alert.id, "anna", "watching it", NOW)
    (applied,) = apply(sessions, event(AlertState.RAISED, T0 + timedelta(minutes=30)))
    (alert,) = alerts(sessions)
    assert (alert.severity, alert.rule, alert.status) == ("critical", "over_max", "open")
    assert applied.needs_telling
    assert steps(sessions, alert.id) == ["opened", "acknowledged", "severity_raised"]


def test_a_cleared_event_never_seen_raised_still_records_the_excursion(
    sessions: sessionmaker[Session],
) -> None:
    apply(sessions, event(AlertState.CLEARED, T0 + timedelta(minutes=40)))
    (alert,) = alerts(sessions)
    assert (alert.status, alert.active, alert.cleared_at) == (
        "open",
        False,
        T0 + timedelta(minutes=40),
    )


def test_a_momentary_alarm_is_never_active(sessions: sessionmaker[Session]) -> None:
    jump = AlertEvent(
        key=f"clock_jump/van-2/{T0.isoformat()}",
        state=AlertState.RAISED,
        rule="clock_jump",
        severity=Severity.WARNING,
        site=SITE,
        gateway="van-2",
        started_at=T0,
        at=T0,
    )
    apply(sessions, jump)
    (alert,) = alerts(sessions)
    assert not alert.active
    with sessions.begin() as session:
        lifecycle.acknowledge(session, alert.id, "anna", "clock fixed", NOW)
        closed = lifecycle.close(session, alert.id, "anna", Closing(comment="NTP set up"), NOW)
    assert closed.status == "closed"


def test_acknowledge_then_close_with_a_corrective_action(sessions: sessionmaker[Session]) -> None:
    apply(sessions, event(AlertState.RAISED, T0 + timedelta(minutes=15)))
    (alert,) = alerts(sessions)
    with sessions.begin() as session, pytest.raises(WorkflowError) as early:
        lifecycle.close(session, alert.id, "anna", COMPLETE, NOW)
    assert early.value.code == "not_acknowledged"
    with sessions.begin() as session:
        lifecycle.acknowledge(session, alert.id, "anna", "  driver told to return  ", NOW)
    with sessions.begin() as session, pytest.raises(WorkflowError) as active:
        lifecycle.close(session, alert.id, "anna", COMPLETE, NOW)
    assert active.value.code == "still_active"
    apply(sessions, event(AlertState.CLEARED, T0 + timedelta(minutes=50)))
    with sessions.begin() as session, pytest.raises(WorkflowError) as incomplete:
        lifecycle.close(session, alert.id, "anna", Closing(cause="x", corrective_action="y"), NOW)
    assert incomplete.value.code == "closing_incomplete"
    with sessions.begin() as session:
        lifecycle.close(session, alert.id, "bernd", COMPLETE, NOW + timedelta(minutes=5))
    (alert,) = alerts(sessions)
    assert alert.status == "closed"
    assert (alert.acknowledged_by, alert.acknowledge_comment) == ("anna", "driver told to return")
    assert (alert.closed_by, alert.product_decision) == ("bernd", "quarantine")
    assert alert.corrective_action == COMPLETE.corrective_action
    assert steps(sessions, alert.id) == ["opened", "acknowledged", "cleared", "closed"]
    with sessions() as session:
        closing_step = listing.timeline(session, alert.id)[-1]
    assert closing_step.actor == "bernd"
    assert closing_step.detail["product_decision"] == "quarantine"


def test_after_closing_the_condition_opens_a_new_alert(sessions: sessionmaker[Session]) -> None:
    apply(
        sessions,
        event(AlertState.RAISED, T0 + timedelta(minutes=15)),
        event(AlertState.CLEARED, T0 + timedelta(minutes=40)),
    )
    (first,) = alerts(sessions)
    with sessions.begin() as session:
        lifecycle.acknowledge(session, first.id, "anna", "checked", NOW)
        lifecycle.close(session, first.id, "anna", COMPLETE, NOW)
    later = T0 + timedelta(days=1)
    apply(sessions, event(AlertState.RAISED, later + timedelta(minutes=15), later))
    old, new = alerts(sessions)
    assert (old.status, new.status, new.opened_at) == ("closed", "open", later)


def test_every_step_is_queued_for_influxdb(sessions: sessionmaker[Session]) -> None:
    apply(sessions, event(AlertState.RAISED, T0 + timedelta(minutes=15)))
    (alert,) = alerts(sessions)
    with sessions.begin() as session:
        lifecycle.acknowledge(session, alert.id, "anna", 'says "on my way"\nnow', NOW)
    with sessions() as session:
        lines = [
            row.line for row in session.scalars(select(InfluxOutbox).order_by(InfluxOutbox.id))
        ]
    actions = [line for line in lines if line.startswith("alert_action,")]
    chain = [line for line in lines if line.startswith("audit_chain ")]
    assert len(actions) == 2 and len(chain) == 2
    assert f"alert_id={alert.id}" in actions[1] and "action=acknowledged" in actions[1]
    assert f"started_ns={T0.timestamp() * 1e9:.0f}i" in actions[1]
    assert 'comment="says \\"on my way\\" now"' in actions[1]


def test_acknowledging_twice_is_refused(sessions: sessionmaker[Session]) -> None:
    apply(sessions, event(AlertState.RAISED, T0 + timedelta(minutes=15)))
    (alert,) = alerts(sessions)
    with sessions.begin() as session:
        lifecycle.acknowledge(session, alert.id, "anna", "mine", NOW)
    with sessions.begin() as session, pytest.raises(WorkflowError) as twice:
        lifecycle.acknowledge(session, alert.id, "bernd", "no, mine", NOW)
    assert twice.value.code == "not_open"
    with sessions.begin() as session, pytest.raises(lifecycle.AlertNotFound):
        lifecycle.acknowledge(session, alert.id + 100, "bernd", "?", NOW)


def test_passing_the_absolute_limit_is_worse_than_the_maximum(
    sessions: sessionmaker[Session],
) -> None:
    """The engine moves an excursion from over_max to over_absolute under the same key,
    both critical: the alert takes the new level and is announced anew, and a late or
    repeated event of the lower level changes nothing."""
    over_max = event(AlertState.RAISED, T0 + timedelta(minutes=15), peak=8.5)
    absolute = event(AlertState.RAISED, T0 + timedelta(minutes=20), rule="over_absolute", peak=13)
    apply(sessions, over_max)
    (alert,) = alerts(sessions)
    with sessions.begin() as session:
        lifecycle.get(session, alert.id).escalation_level = 2
    applied = apply(sessions, absolute, over_max, absolute)
    assert [a.needs_telling for a in applied] == [True, False, False]
    (alert,) = alerts(sessions)
    assert (alert.rule, alert.severity, alert.peak_c) == ("over_absolute", "critical", 13)
    assert (alert.status, alert.escalation_level, alert.occurrences) == ("open", 0, 1)
    assert steps(sessions, alert.id) == ["opened", "severity_raised"]


def test_an_unacknowledged_alert_firing_again_keeps_escalating_where_it_is(
    sessions: sessionmaker[Session],
) -> None:
    apply(
        sessions,
        event(AlertState.RAISED, T0 + timedelta(minutes=15)),
        event(AlertState.CLEARED, T0 + timedelta(minutes=40)),
    )
    (alert,) = alerts(sessions)
    with sessions.begin() as session:
        lifecycle.get(session, alert.id).escalation_level = 2
    second = T0 + timedelta(hours=2)
    apply(sessions, event(AlertState.RAISED, second + timedelta(minutes=15), second))
    (alert,) = alerts(sessions)
    assert (alert.status, alert.active, alert.escalation_level) == ("open", True, 2)
    assert steps(sessions, alert.id)[-1] == "fired_again"
