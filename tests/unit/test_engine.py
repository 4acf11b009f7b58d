"""The rule engine: temperature levels, budget, grace, sensor and gateway health.

Scenarios are tables of readings, one a minute, with the exact alerts they must
give; properties check what must hold for any readings. Times in the tables are
minutes after the scenario's start, so a row reads like a strip chart.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldchain.contract import AlertEvent, AlertState, Event, EventKind, Reading, Severity
from coldchain.engine import GATEWAY_EVENT_RULES, EngineState, Outcome, RuleEngine, latest
from coldchain.fleet import Fleet, Gateway

DEMO_FLEET = Path(__file__).resolve().parents[2] / "fleet" / "dortmund-hub.yaml"
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
SITE = "hub"
AIR = "gw.air"  # meat_products: max 6, warning 5, min -1, warning -0.5, absolute 12
CORE = "gw.core"  # a second probe in the same room
DOOR = "gw.door"
FREEZER = "gw.freezer"  # quick_frozen: max -18, warning -19, absolute -15
FREEZER_DOOR = "gw.freezer-door"
DOOR_OF = {AIR: DOOR, CORE: DOOR, FREEZER: FREEZER_DOOR}
TEMPERATURE_RULES = {"over_warning", "over_max", "under_warning", "under_min"}
RANK = {"over_warning": 1, "over_max": 2, "over_absolute": 3, "under_warning": 1, "under_min": 2}

Brief = tuple[str, str, float, float]
"""(state, rule, started_at, at) of an alert, times in minutes after the start."""


def make_fleet(room: dict[str, Any] | None = None, freezer: dict[str, Any] | None = None) -> Fleet:
    """One site: a chilled room with two probes and a door, a freezer with a door."""
    return Fleet.model_validate(
        {
            "sites": [
                {
                    "id": SITE,
                    "name": "Test hub",
                    "timezone": "Europe/Berlin",
                    "assets": [
                        asset("room", "meat_products", room),
                        asset("freezer", "quick_frozen", freezer),
                    ],
                    "gateways": [
                        {
                            "id": "gw",
                            "battery_low_v": 3.3,
                            "sensors": [
                                {"id": AIR, "asset": "room"},
                                {"id": CORE, "asset": "room"},
                                {"id": DOOR, "asset": "room", "kind": "door"},
                                {"id": FREEZER, "asset": "freezer"},
                                {"id": FREEZER_DOOR, "asset": "freezer", "kind": "door"},
                            ],
                        }
                    ],
                }
            ]
        }
    )


def asset(asset_id: str, category: str, limits: dict[str, Any] | None) -> dict[str, Any]:
    names = {"de": asset_id, "en": asset_id}
    return {"id": asset_id, "name": names, "category": category, "limits": limits or {}}


def new_engine(fleet: Fleet, start: datetime = T0) -> RuleEngine:
    return RuleEngine(fleet, EngineState(started_at=start))


def minute(m: float, start: datetime = T0) -> datetime:
    return start + timedelta(minutes=m)


def hold(value_c: float, minutes: int) -> list[float]:
    return [value_c] * minutes


def readings(values: Sequence[float], sensor: str = AIR, start: datetime = T0) -> list[Reading]:
    """One reading a minute from `start`."""
    return [
        Reading(sensor=sensor, ts=start + timedelta(minutes=i), temp_c=value)
        for i, value in enumerate(values)
    ]


def events(
    marks: Sequence[tuple[float, EventKind]], sensor: str, start: datetime = T0
) -> list[Event]:
    return [Event(sensor=sensor, ts=start + timedelta(minutes=m), kind=k) for m, k in marks]


def live(engine: RuleEngine, batch: Sequence[Reading], happenings: Sequence[Event] = ()) -> Outcome:
    """One observe call per reading or event, in time order, as a live feed delivers them."""
    items: list[tuple[datetime, int, Reading | Event]] = [(e.ts, 0, e) for e in happenings]
    items += [(r.ts, 1, r) for r in batch]
    outcome = Outcome()
    for _, _, item in sorted(items, key=lambda x: x[:2]):
        if isinstance(item, Event):
            outcome.extend(engine.observe([], [item]))
        else:
            outcome.extend(engine.observe([item]))
    return outcome


def brief(alerts: Sequence[AlertEvent], start: datetime = T0) -> list[Brief]:
    """The raises and clearings (updates have tests of their own)."""

    def minute(ts: datetime) -> float:
        return (ts - start).total_seconds() / 60.0

    return [
        (a.state.value, a.rule, minute(a.started_at), minute(a.at))
        for a in alerts
        if a.state is not AlertState.UPDATED
    ]


def dumps(alerts: Sequence[AlertEvent]) -> list[dict[str, Any]]:
    return [a.model_dump() for a in alerts]


def check_keys(alerts: Sequence[AlertEvent]) -> None:
    """Every event of one key has one start; a key ends with its clearing, at most once."""
    open_keys: dict[str, AlertEvent] = {}
    closed: set[str] = set()
    for alert in alerts:
        assert alert.key not in closed, f"{alert.key} continues after it was cleared"
        first = open_keys.get(alert.key)
        if first is None:
            assert alert.state is AlertState.RAISED, f"{alert.key} cleared before raised"
            open_keys[alert.key] = alert
            continue
        assert alert.started_at == first.started_at
        assert (alert.site, alert.asset, alert.sensor, alert.gateway) == (
            first.site,
            first.asset,
            first.sensor,
            first.gateway,
        )
        if alert.state is AlertState.CLEARED:
            del open_keys[alert.key]
            closed.add(alert.key)


# --- temperature scenarios -------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """Readings of one probe, one a minute from `start`, and the alerts they must give."""

    id: str
    values: list[float]
    expected: list[Brief]
    limits: dict[str, Any] = field(default_factory=dict)
    doors: list[tuple[float, EventKind]] = field(default_factory=list)
    sensor: str = AIR
    start: datetime = T0

    def fleet(self) -> Fleet:
        if self.sensor == FREEZER:
            return make_fleet(freezer=self.limits)
        return make_fleet(room=self.limits)


OPEN, CLOSED, DEFROST = EventKind.DOOR_OPEN, EventKind.DOOR_CLOSED, EventKind.DEFROST_START
WOBBLE = [6.3, 5.7] * 30
SPIKE_20 = hold(4.0, 10) + hold(8.0, 20) + hold(4.0, 10)
FAILURE = hold(4.0, 1) + hold(9.0, 119)
DEFROST_RISE = hold(4.0, 1) + hold(9.0, 20) + hold(4.0, 40)
SCHEDULE = {"defrost_schedule": [{"start": "06:00", "duration_s": 1800}]}
AT_DST_HOUR = {"defrost_schedule": [{"start": "01:30", "duration_s": 3600}]}
SPRING = datetime(2026, 3, 29, tzinfo=UTC)  # 02:00 CET becomes 03:00 CEST
AUTUMN = datetime(2026, 10, 25, tzinfo=UTC)  # 03:00 CEST becomes 02:00 CET
SHORT_DELAY = {"delay_s": 300}  # shorter than the door grace (900 s)

CASES = [
    Case("steady inside", hold(4.0, 60), []),
    Case(
        "wobbling ±0.3 K around max for an hour: one over_max",
        WOBBLE + hold(4.0, 5),
        [("raised", "over_max", 0, 15), ("cleared", "over_max", 0, 60)],
    ),
    Case(
        "wobble reached from inside: warning first, then escalated to over_max",
        hold(4.0, 5) + [5.7, 6.3] * 30 + hold(4.0, 5),
        [
            ("raised", "over_warning", 5, 20),
            ("raised", "over_max", 5, 21),
            ("cleared", "over_max", 5, 65),
        ],
    ),
    Case("5-minute spike, 15-minute delay", hold(4.0, 10) + hold(8.0, 5) + hold(4.0, 10), []),
    Case(
        "20-minute spike: raised at minute 15 of it",
        SPIKE_20,
        [("raised", "over_max", 10, 25), ("cleared", "over_max", 10, 30)],
    ),
    Case(
        "cleared only once back inside by the hysteresis (0.5 K)",
        hold(4.0, 10) + hold(8.0, 20) + hold(5.8, 5) + hold(5.5, 5),
        [("raised", "over_max", 10, 25), ("cleared", "over_max", 10, 35)],
        limits={"warn_max_c": None},
    ),
    Case(
        "with a warning level the alarm clears below warning minus hysteresis",
        hold(4.0, 10) + hold(8.0, 20) + hold(5.4, 5) + hold(4.5, 5),
        [("raised", "over_max", 10, 25), ("cleared", "over_max", 10, 35)],
    ),
    Case(
        "passing the absolute limit escalates the open alert (same key)",
        hold(4.0, 10) + hold(8.0, 20) + hold(13.0, 2) + hold(4.0, 5),
        [
            ("raised", "over_max", 10, 25),
            ("raised", "over_absolute", 10, 30),
            ("cleared", "over_absolute", 10, 32),
        ],
    ),
    Case(
        "warning level only",
        hold(4.0, 10) + hold(5.5, 20) + hold(4.0, 5),
        [("raised", "over_warning", 10, 25), ("cleared", "over_warning", 10, 30)],
    ),
    Case(
        "budget used up by three 10-minute excursions",
        (hold(4.0, 10) + hold(7.0, 10)) * 3 + hold(4.0, 10),
        # 600 s are counted per excursion; the 26th minute above exceeds 1500 s.
        [("raised", "budget", 10, 56)],
        limits={"budget_s": 1500},
    ),
    Case(
        "two excursions stay within the budget",
        (hold(4.0, 10) + hold(7.0, 10)) * 2 + hold(4.0, 10),
        [],
        limits={"budget_s": 1500},
    ),
    Case(
        "an open warning does not stop the budget",
        hold(4.0, 5) + hold(5.5, 20) + (hold(7.0, 10) + hold(5.4, 10)) * 3 + hold(4.0, 5),
        [
            ("raised", "over_warning", 5, 20),
            ("raised", "budget", 25, 71),
            ("cleared", "over_warning", 5, 85),
        ],
        limits={"budget_s": 1500},
    ),
    Case(
        "chilled goods below -1 °C",
        hold(2.0, 5) + hold(-2.0, 20) + hold(2.0, 5),
        [("raised", "under_min", 5, 20), ("cleared", "under_min", 5, 25)],
    ),
    Case("defrost with recovery inside its grace", DEFROST_RISE, [], doors=[(0, DEFROST)]),
    Case(
        "the same rise without a defrost alarms",
        DEFROST_RISE,
        [("raised", "over_max", 1, 16), ("cleared", "over_max", 1, 21)],
    ),
    Case(
        "compressor fails during defrost: alarm when the grace ends, from the real start",
        FAILURE,
        [("raised", "over_max", 1, 45)],
        doors=[(0, DEFROST)],
    ),
    Case(
        "defrost repeated: the grace is capped at delay + longest grace",
        FAILURE,
        [("raised", "over_max", 1, 61)],
        doors=[(m, DEFROST) for m in range(0, 120, 30)],
    ),
    Case(
        "scheduled defrost at 06:00 Berlin (04:00 UTC in summer)",
        DEFROST_RISE,
        [],
        limits=SCHEDULE,
        start=datetime(2026, 6, 1, 4, 0, tzinfo=UTC),
    ),
    Case(
        "an hour after the scheduled defrost the rise alarms",
        DEFROST_RISE,
        [("raised", "over_max", 1, 16), ("cleared", "over_max", 1, 21)],
        limits=SCHEDULE,
        start=datetime(2026, 6, 1, 5, 0, tzinfo=UTC),
    ),
    Case(
        "schedule on the spring DST day: 06:00 CEST is 04:00 UTC",
        DEFROST_RISE,
        [],
        limits=SCHEDULE,
        start=SPRING.replace(hour=4),
    ),
    Case(
        "the day before the spring DST day 04:00 UTC is 05:00 CET: no defrost",
        DEFROST_RISE,
        [("raised", "over_max", 1, 16), ("cleared", "over_max", 1, 21)],
        limits=SCHEDULE,
        start=SPRING.replace(day=28, hour=4),
    ),
    Case(
        "schedule on the autumn DST day: 06:00 CET is 05:00 UTC",
        DEFROST_RISE,
        [],
        limits=SCHEDULE,
        start=AUTUMN.replace(hour=5),
    ),
    Case(
        "a window across the spring change lasts its real 60 minutes",
        hold(4.0, 1) + hold(9.0, 50) + hold(4.0, 10),
        [],
        limits=AT_DST_HOUR,
        start=SPRING.replace(hour=0, minute=30),  # 01:30 CET
    ),
    Case(
        "a window across the autumn change does not come back in the repeated hour",
        hold(4.0, 1) + hold(9.0, 30) + hold(4.0, 10),
        [("raised", "over_max", 1, 16), ("cleared", "over_max", 1, 31)],
        limits=AT_DST_HOUR,
        start=AUTUMN.replace(hour=1),  # 02:00 CET, the second time; the window began 23:30 UTC
    ),
    Case(
        "door open longer than door_open_max_s (600 s), then closed",
        hold(4.0, 15),
        [("raised", "door_open", 0, 10), ("cleared", "door_open", 0, 12)],
        doors=[(0, OPEN), (12, CLOSED)],
    ),
    Case(
        "door grace hides a short rise",
        hold(4.0, 1) + hold(8.0, 10) + hold(4.0, 10),
        [],
        limits=SHORT_DELAY,
        doors=[(0, OPEN), (2, CLOSED)],
    ),
    Case(
        "the same rise without the door alarms",
        hold(4.0, 1) + hold(8.0, 10) + hold(4.0, 10),
        [("raised", "over_max", 1, 6), ("cleared", "over_max", 1, 11)],
        limits=SHORT_DELAY,
    ),
    Case(
        "failure outlasting the door grace alarms when the grace ends",
        FAILURE[:60],
        [("raised", "over_max", 1, 15)],
        limits=SHORT_DELAY,
        doors=[(0, OPEN), (2, CLOSED)],
    ),
    Case(
        "door opened again and again: alarm at delay + the door grace (900 s)",
        FAILURE[:70],
        [("raised", "over_max", 1, 21)],
        limits=SHORT_DELAY,
        doors=[e for m in range(0, 70, 10) for e in ((m, OPEN), (m + 2, CLOSED))],
    ),
    Case(
        "frozen: -16 °C for 10 minutes at a delivery stop",
        hold(-20.0, 5) + hold(-16.0, 10) + hold(-20.0, 10),
        [],
        doors=[(5, OPEN), (14, CLOSED)],
        sensor=FREEZER,
    ),
    Case(
        "frozen: -14 °C passes the absolute limit at once, door open or not",
        hold(-20.0, 6) + hold(-14.0, 2) + hold(-20.0, 5),
        [("raised", "over_absolute", 6, 6), ("cleared", "over_absolute", 6, 8)],
        doors=[(5, OPEN), (9, CLOSED)],
        sensor=FREEZER,
    ),
    Case(
        "frozen: absolute first, the later over_max does not alert again",
        hold(-20.0, 5) + hold(-14.0, 20) + hold(-20.0, 5),
        [("raised", "over_absolute", 5, 5), ("cleared", "over_absolute", 5, 25)],
        sensor=FREEZER,
    ),
    Case(
        "implausible value: not a temperature excursion",
        hold(4.0, 3) + hold(85.0, 20) + hold(4.0, 5),
        [("raised", "implausible", 3, 3), ("cleared", "implausible", 3, 23)],
    ),
    Case(
        "implausibly cold",
        hold(4.0, 3) + hold(-60.0, 1) + hold(4.0, 5),
        [("raised", "implausible", 3, 3), ("cleared", "implausible", 3, 4)],
    ),
    Case(
        "stuck for stuck_s, from the first reading of the value; cleared on change",
        [4.0, 4.1, *hold(4.2, 68), 4.3],
        [("raised", "stuck", 2, 62), ("cleared", "stuck", 2, 70)],
        limits={"stuck_s": 3600},
    ),
    Case(
        "jump of 20 K in one minute",
        hold(-40.0, 5) + hold(-20.0, 3),
        [("raised", "jump", 5, 5), ("cleared", "jump", 5, 6)],
        sensor=FREEZER,
    ),
    Case("20 K in ten minutes is no jump", [-40.0 + 2 * i for i in range(11)], [], sensor=FREEZER),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_scenario(case: Case) -> None:
    engine = new_engine(case.fleet(), case.start)
    batch = readings(case.values, case.sensor, case.start)
    outcome = live(engine, batch, events(case.doors, DOOR_OF[case.sensor], case.start))
    assert brief(outcome.alerts, case.start) == case.expected
    check_keys(outcome.alerts)
    assert outcome.late == 0


def test_alert_carries_limits_and_values() -> None:
    engine = new_engine(make_fleet())
    raised, *updated, cleared = live(engine, readings(SPIKE_20)).alerts
    assert [u.state for u in updated] == [AlertState.UPDATED] * 4
    assert [minute_of(u.at) for u in updated] == [26, 27, 28, 29]
    assert {u.key for u in updated} == {raised.key}
    assert raised.model_dump(exclude={"key", "started_at", "at"}) == {
        "v": 1,
        "id": None,  # given by ingest's outbox
        "state": AlertState.RAISED,
        "rule": "over_max",
        "severity": Severity.CRITICAL,
        "site": SITE,
        "asset": "room",
        "sensor": AIR,
        "gateway": None,
        "ended_at": None,
        "value_c": 8.0,
        "peak_c": 8.0,
        "limit_c": 6.0,
        "regulatory_limit_c": 6.0,
        "delay_s": 900.0,
        "duration_s": None,
        "degree_minutes": 2.0 * 15,
    }
    assert cleared.key == raised.key
    assert (cleared.started_at, cleared.ended_at) == (minute(10), cleared.at)
    assert cleared.duration_s == 20 * 60
    assert cleared.value_c == 4.0


def minute_of(ts: datetime) -> float:
    return (ts - T0).total_seconds() / 60.0


def test_a_lasting_excursion_reports_every_reading_with_its_peak() -> None:
    """A compressor that fails: the alert must show 26 °C, not the 8 °C it was raised at."""
    rising = hold(4.0, 10) + [8.0 + k for k in range(19)] + [20.0, 4.0]
    alerts = live(new_engine(make_fleet()), readings(rising)).alerts
    raised = alerts[0]  # the absolute limit, passed at 13 °C
    after = [a for a in alerts if a.key == raised.key and a.at > raised.at]
    *updated, cleared = after
    assert {a.state for a in updated} == {AlertState.UPDATED}
    assert cleared.state is AlertState.CLEARED
    for update in updated:  # one per reading, with that reading
        k = int(minute_of(update.at))
        assert update.value_c == rising[k]
        assert update.peak_c == max(rising[10 : k + 1])
    assert updated[-1].peak_c == 26.0 and updated[-1].value_c == 20.0
    minutes = [u.degree_minutes or 0.0 for u in updated]
    assert minutes == sorted(minutes) and minutes[0] > (raised.degree_minutes or 0.0)
    assert cleared.peak_c == 26.0
    assert (cleared.degree_minutes or 0.0) > minutes[-1]


def test_door_alarm_is_about_the_asset() -> None:
    engine = new_engine(make_fleet())
    happenings = events([(0, OPEN), (12, CLOSED)], DOOR)
    raised, cleared = live(engine, readings(hold(4.0, 15)), happenings).alerts
    assert raised.key == cleared.key
    assert (raised.asset, raised.sensor, raised.severity) == ("room", None, Severity.WARNING)
    assert raised.limit_c is None
    assert raised.delay_s == 600.0


def test_excursion_records() -> None:
    engine = new_engine(make_fleet())
    outcome = live(engine, readings(hold(4.0, 10) + hold(8.0, 5) + hold(4.0, 5) + SPIKE_20))
    ended = [(r.rule, r.alarmed, r.peak_c) for r in outcome.excursions if r.ended_at is not None]
    assert ended == [
        ("over_max", False, 8.0),
        ("over_warning", False, 8.0),
        ("over_max", True, 8.0),
        ("over_warning", True, 8.0),
    ]
    quiet = outcome.excursions[0]
    assert (quiet.started_at, quiet.ended_at) == (minute(10), minute(15))
    assert quiet.degree_minutes == pytest.approx(2.0 * 5)
    assert quiet.limit_c == 6.0
    assert quiet.regulatory_limit_c == 6.0


# --- delivery: bursts, late readings, restarts ------------------------------------------


def two_hours() -> tuple[list[Reading], list[Event]]:
    """Two probes and a door over two hours: an excursion, a long opening, a bad value."""
    air = hold(4.0, 30) + hold(8.0, 30) + hold(4.0, 40) + hold(85.0, 1) + hold(4.5, 19)
    core = [3.0 + (i % 7) * 0.1 for i in range(120)]
    frozen = hold(-20.0, 50) + hold(-14.0, 3) + hold(-21.0, 67)
    batch = readings(air) + readings(core, CORE) + readings(frozen, FREEZER)
    doors = events([(70, OPEN), (85, CLOSED), (90, DEFROST)], DOOR)
    return batch, doors


def test_burst_gives_the_same_alerts_as_live() -> None:
    batch, doors = two_hours()
    expected = live(new_engine(make_fleet()), batch, doors)
    assert brief(expected.alerts) == [
        ("raised", "over_max", 30, 45),
        ("raised", "over_absolute", 50, 50),
        ("cleared", "over_absolute", 50, 53),
        ("cleared", "over_max", 30, 60),
        ("raised", "door_open", 70, 80),
        ("cleared", "door_open", 70, 85),
        ("raised", "implausible", 100, 100),
        ("cleared", "implausible", 100, 101),
    ]
    shuffled_batch, shuffled_doors = batch[:], doors[:]
    random.Random(7).shuffle(shuffled_batch)
    random.Random(8).shuffle(shuffled_doors)
    burst = new_engine(make_fleet()).observe(shuffled_batch, shuffled_doors)
    assert sorted_dumps(burst.alerts) == sorted_dumps(expected.alerts)
    assert sorted(map(repr, burst.excursions)) == sorted(map(repr, expected.excursions))


def sorted_dumps(alerts: Sequence[AlertEvent]) -> list[dict[str, Any]]:
    """Alerts in reading-time order; sensors of one burst interleave differently than live."""
    return sorted(dumps(alerts), key=lambda a: (a["at"], a["key"], a["state"]))


def test_late_reading_is_counted_and_ignored() -> None:
    engine = new_engine(make_fleet())
    live(engine, readings(hold(4.0, 10)))
    straggler = Reading(sensor=AIR, ts=minute(3), temp_c=20.0)
    repeat = Reading(sensor=AIR, ts=minute(9), temp_c=20.0)
    before = engine.state.model_dump()
    outcome = engine.observe([straggler, repeat])
    assert (outcome.alerts, outcome.excursions, outcome.late) == ([], [], 2)
    assert engine.state.model_dump() == before


def test_unknown_sensor_is_skipped() -> None:
    engine = new_engine(make_fleet())
    outcome = engine.observe([Reading(sensor="gw.nowhere", ts=T0, temp_c=99.0)])
    assert (outcome.alerts, outcome.late) == ([], 0)


@pytest.mark.parametrize("cut", [18, 28], ids=["before the raise", "after the raise"])
def test_restart_mid_excursion_continues(cut: int) -> None:
    fleet = make_fleet()
    batch = readings(SPIKE_20)
    uninterrupted = live(new_engine(fleet), batch).alerts

    first = new_engine(fleet)
    alerts = live(first, batch[:cut]).alerts
    rows = first.changes()
    second = RuleEngine(fleet, RuleEngine.restore(T0, rows))
    alerts += live(second, batch[cut:]).alerts

    assert [a.state for a in alerts] == [AlertState.RAISED] + [AlertState.UPDATED] * 4 + [
        AlertState.CLEARED
    ]
    assert dumps(alerts) == dumps(uninterrupted)


def test_changes_name_only_what_changed() -> None:
    engine = new_engine(make_fleet())
    live(engine, readings(hold(4.0, 3)))
    assert [(kind, key) for kind, key, _ in engine.changes()] == [
        ("asset", "room"),
        ("sensor", AIR),
    ]
    assert engine.changes() == []
    engine.gateway_status(SITE, "gw", online=False, at=T0)
    assert [(kind, key) for kind, key, _ in engine.changes()] == [("gateway", "gw")]


def test_a_quiet_batch_saves_its_sensors_and_not_their_unchanged_asset() -> None:
    engine = new_engine(make_fleet())
    live(engine, readings(hold(4.0, 3)))
    engine.changes()
    engine.observe(readings([4.1, 4.0], start=T0 + timedelta(minutes=3)))
    assert [(kind, key) for kind, key, _ in engine.changes()] == [("sensor", AIR)]


# --- sensor and gateway health ----------------------------------------------------------


def test_silent_probe_raises_no_data_once_and_clears_on_data() -> None:
    engine = new_engine(make_fleet())
    alerts: list[AlertEvent] = []
    for m in range(30):
        if m <= 10 or m >= 25:
            alerts += engine.observe(readings([4.0], AIR, minute(m))).alerts
        alerts += engine.observe(readings([3.0], CORE, minute(m))).alerts
        alerts += engine.observe(readings([-20.0 - m % 2], FREEZER, minute(m))).alerts
        alerts += engine.silence(minute(m + 0.5)).alerts
        if m == 11:
            assert engine.silence(minute(12) - timedelta(microseconds=1)).alerts == []
    assert brief(alerts) == [("raised", "no_data", 10, 12), ("cleared", "no_data", 10, 25)]
    assert all(a.sensor == AIR and a.asset == "room" for a in alerts)
    check_keys(alerts)


@pytest.mark.parametrize("now", [12.0, 12.5, 300.0])
def test_no_data_carries_the_time_the_silence_became_too_long(now: float) -> None:
    engine = new_engine(make_fleet())
    engine.observe(readings([4.0], AIR, minute(10)))
    engine.observe(readings([3.0], CORE, minute(now)) + readings([-20.0], FREEZER, minute(now)))
    assert brief(engine.silence(minute(now)).alerts) == [("raised", "no_data", 10, 12)]


def test_never_heard_sensor_counts_from_the_engine_start() -> None:
    engine = new_engine(make_fleet())
    assert engine.silence(minute(1)).alerts == []
    alerts = engine.silence(minute(5)).alerts
    assert sorted(a.sensor or "" for a in alerts) == [AIR, CORE, FREEZER]  # not the doors
    assert {(a.started_at, a.at) for a in alerts} == {(T0, minute(2))}


def test_silence_is_watched_only_for_the_gateways_the_engine_watches() -> None:
    fleet = make_fleet()
    theirs = RuleEngine(fleet, EngineState(started_at=T0), watches=lambda site, gw: gw != "gw")
    ours = RuleEngine(fleet, EngineState(started_at=T0), watches=lambda site, gw: gw == "gw")
    assert theirs.silence(minute(5)).alerts == []
    assert sorted(a.sensor or "" for a in ours.silence(minute(5)).alerts) == [AIR, CORE, FREEZER]


def gateway(fleet: Fleet) -> Gateway:
    found = fleet.gateway("gw")
    assert found is not None
    return found[1]


def test_low_battery_raises_and_clears_with_hysteresis() -> None:
    fleet = make_fleet()
    engine = new_engine(fleet)
    alerts: list[AlertEvent] = []
    for m, volts in enumerate([3.6, 3.29, 3.1, 3.35, 3.39, 3.4, 3.2]):
        alerts += engine.battery(SITE, gateway(fleet), minute(m), volts).alerts
    assert brief(alerts) == [
        ("raised", "battery_low", 1, 1),
        ("cleared", "battery_low", 1, 5),
        ("raised", "battery_low", 6, 6),
    ]
    assert {(a.gateway, a.sensor, a.value_c, a.severity) for a in alerts} == {
        ("gw", None, None, Severity.WARNING)
    }


def test_battery_not_checked_without_a_level() -> None:
    fleet = make_fleet()
    unchecked = gateway(fleet).model_copy(update={"battery_low_v": None})
    assert new_engine(fleet).battery(SITE, unchecked, T0, 0.5).alerts == []


def offline(outcome: Outcome) -> list[AlertEvent]:
    """The offline alarms of an outcome (silence also reports sensors never heard from)."""
    return [alert for alert in outcome.alerts if alert.rule == "offline"]


def test_gateway_offline_and_back() -> None:
    engine = new_engine(make_fleet())
    alerts = engine.gateway_status(SITE, "gw", online=False, at=minute(3)).alerts
    alerts += engine.gateway_status(SITE, "gw", online=False, at=minute(4)).alerts
    alerts += offline(engine.silence(minute(7.99)))
    alerts += offline(engine.silence(minute(8)))
    alerts += offline(engine.silence(minute(9)))
    alerts += engine.gateway_status(SITE, "gw", online=True, at=minute(9)).alerts
    alerts += engine.gateway_status(SITE, "gw", online=True, at=minute(10)).alerts
    assert brief(alerts) == [("raised", "offline", 3, 8), ("cleared", "offline", 3, 9)]
    assert alerts[0].key == alerts[1].key
    assert alerts[0].gateway == "gw"


def test_a_gateway_back_within_its_offline_delay_raised_nothing() -> None:
    """A restart of the broker, of ingest or of the gateway is not an incident."""
    engine = new_engine(make_fleet())
    alerts = engine.gateway_status(SITE, "gw", online=False, at=minute(3)).alerts
    alerts += offline(engine.silence(minute(7)))
    alerts += engine.gateway_status(SITE, "gw", online=True, at=minute(7.5)).alerts
    alerts += offline(engine.silence(minute(20)))
    assert alerts == []


def test_a_gateway_without_offline_delay_alarms_at_once() -> None:
    fleet = make_fleet()
    raw = fleet.model_dump(by_alias=True)
    raw["sites"][0]["gateways"][0]["offline_after_s"] = 0
    engine = new_engine(Fleet.model_validate(raw))
    alerts = engine.gateway_status(SITE, "gw", online=False, at=minute(3)).alerts
    assert brief(alerts) == [("raised", "offline", 3, 3)]


def test_offline_delay_survives_a_restart_of_ingest() -> None:
    engine = new_engine(make_fleet())
    engine.gateway_status(SITE, "gw", online=False, at=minute(3))
    restored = RuleEngine(make_fleet(), RuleEngine.restore(minute(6), engine.changes()))
    assert brief(offline(restored.silence(minute(8)))) == [("raised", "offline", 3, 8)]


def test_demo_fleet_limits_can_be_reset() -> None:
    demo = Fleet.from_yaml(DEMO_FLEET.read_text(encoding="utf-8"))
    raw = demo.model_dump(by_alias=True)
    for site in raw["sites"]:
        for item in site["assets"]:
            item["limits"] = {}
    fleet = Fleet.model_validate(raw)
    engine = new_engine(fleet)
    values = hold(4.0, 10) + hold(8.0, 20) + hold(4.0, 5)
    alerts = live(engine, readings(values, "cold-room-1.air")).alerts
    assert brief(alerts) == [("raised", "over_max", 10, 25), ("cleared", "over_max", 10, 30)]


# --- properties --------------------------------------------------------------------------

PROPERTY_LIMITS = {"delay_s": 300, "budget_s": 600, "budget_window_s": 7200, "stuck_s": 1200}
PROPERTY_FLEET = make_fleet(room=PROPERTY_LIMITS)

values_c = st.one_of(
    st.integers(-8, 30).map(lambda half: half / 2),  # -4 .. 15 °C in 0.5 K steps
    st.floats(-4.0, 15.0, allow_nan=False),
    st.sampled_from([-60.0, 85.0]),  # implausible now and then
)
series = st.lists(st.tuples(st.integers(1, 600), values_c), min_size=1, max_size=80)
"""(seconds since the previous reading, °C) of one probe."""
happenings = st.lists(
    st.tuples(
        st.integers(0, 40_000),
        st.sampled_from([kind for kind in EventKind if kind not in GATEWAY_EVENT_RULES]),
    ),
    max_size=6,
    unique_by=lambda mark: mark[0],  # two events of one door at one instant have no order
)


def as_readings(steps: list[tuple[int, float]]) -> list[Reading]:
    batch, ts = [], T0
    for gap_s, value in steps:
        ts += timedelta(seconds=gap_s)
        batch.append(Reading(sensor=AIR, ts=ts, temp_c=value))
    return batch


def as_events(marks: list[tuple[int, EventKind]]) -> list[Event]:
    return [Event(sensor=DOOR, ts=T0 + timedelta(seconds=s), kind=k) for s, k in marks]


def identity(alert: AlertEvent) -> tuple[str, str]:
    """What cannot be raised twice at once: a side of a sensor's temperature, or one rule."""
    family = alert.key.split("/")[0]
    return family, alert.sensor or alert.asset or alert.gateway or alert.site


@settings(max_examples=150, deadline=None)
@given(series, happenings)
def test_alarms_alternate_and_keep_their_start(
    steps: list[tuple[int, float]], marks: list[tuple[int, EventKind]]
) -> None:
    outcome = live(new_engine(PROPERTY_FLEET), as_readings(steps), as_events(marks))
    current: dict[tuple[str, str], AlertEvent] = {}
    for alert in outcome.alerts:
        assert alert.at >= alert.started_at
        previous = current.get(identity(alert))
        if alert.state is AlertState.CLEARED:
            assert previous is not None, "cleared without being raised"
            assert (alert.key, alert.started_at) == (previous.key, previous.started_at)
            assert alert.ended_at == alert.at
            del current[identity(alert)]
        elif alert.state is AlertState.UPDATED:  # a reading of what is raised, as it is
            assert previous is not None, "updated without being raised"
            assert (alert.key, alert.rule) == (previous.key, previous.rule)
            assert alert.peak_c is not None and previous.peak_c is not None
            worse = max if alert.rule.startswith("over") else min
            assert alert.peak_c == worse(alert.peak_c, previous.peak_c), "the peak never eases"
            current[identity(alert)] = alert
        elif previous is not None:  # only an escalation may follow a raise, under its key
            assert alert.key == previous.key
            assert RANK[alert.rule] > RANK[previous.rule]
            current[identity(alert)] = alert
        else:
            current[identity(alert)] = alert
    check_keys(outcome.alerts)


@settings(max_examples=150, deadline=None)
@given(series, happenings)
def test_temperature_alarms_wait_their_delay(
    steps: list[tuple[int, float]], marks: list[tuple[int, EventKind]]
) -> None:
    outcome = live(new_engine(PROPERTY_FLEET), as_readings(steps), as_events(marks))
    for alert in outcome.alerts:
        if alert.state is AlertState.RAISED and alert.rule in TEMPERATURE_RULES:
            assert (alert.at - alert.started_at).total_seconds() >= PROPERTY_LIMITS["delay_s"]
            assert alert.delay_s == PROPERTY_LIMITS["delay_s"]


@settings(max_examples=150, deadline=None)
@given(series, happenings, st.randoms(use_true_random=False), st.integers(1, 10))
def test_delivery_does_not_change_the_alerts(
    steps: list[tuple[int, float]],
    marks: list[tuple[int, EventKind]],
    shuffler: random.Random,
    chunk: int,
) -> None:
    batch, doors = as_readings(steps), as_events(marks)
    one_by_one = live(new_engine(PROPERTY_FLEET), batch, doors)

    shuffled, shuffled_doors = batch[:], doors[:]
    shuffler.shuffle(shuffled)
    shuffler.shuffle(shuffled_doors)
    burst = new_engine(PROPERTY_FLEET).observe(shuffled, shuffled_doors)

    chunked_engine = new_engine(PROPERTY_FLEET)
    chunked, sent = Outcome(), T0 - timedelta(days=1)
    for i in range(0, len(batch), chunk):
        part = batch[i : i + chunk]
        due = [e for e in doors if sent < e.ts <= part[-1].ts]
        chunked.extend(chunked_engine.observe(part, due))
        sent = part[-1].ts
    chunked.extend(chunked_engine.observe([], [e for e in doors if e.ts > sent]))

    for other in (burst, chunked):
        assert dumps(other.alerts) == dumps(one_by_one.alerts)
        assert other.excursions == one_by_one.excursions


@settings(max_examples=100, deadline=None)
@given(series, happenings, st.integers(0, 80))
def test_restart_at_any_point_changes_nothing(
    steps: list[tuple[int, float]], marks: list[tuple[int, EventKind]], cut: int
) -> None:
    batch, doors = as_readings(steps), as_events(marks)
    uninterrupted = live(new_engine(PROPERTY_FLEET), batch, doors)

    first = new_engine(PROPERTY_FLEET)
    cut_ts = batch[cut].ts if cut < len(batch) else datetime.max.replace(tzinfo=UTC)
    outcome = live(first, batch[:cut], [e for e in doors if e.ts < cut_ts])
    second = RuleEngine(PROPERTY_FLEET, RuleEngine.restore(T0, first.changes()))
    outcome.extend(live(second, batch[cut:], [e for e in doors if e.ts >= cut_ts]))

    assert dumps(outcome.alerts) == dumps(uninterrupted.alerts)


@settings(max_examples=150, deadline=None)
@given(series, happenings)
def test_excursion_records_are_sane(
    steps: list[tuple[int, float]], marks: list[tuple[int, EventKind]]
) -> None:
    outcome = live(new_engine(PROPERTY_FLEET), as_readings(steps), as_events(marks))
    for record in outcome.excursions:
        assert record.degree_minutes >= 0
        if record.ended_at is not None:
            assert record.ended_at >= record.started_at


@pytest.mark.parametrize(
    ("kind", "part", "rule"),
    [
        (EventKind.CLOCK_JUMP, "clock", "clock_jump"),
        (EventKind.OUTBOX_THINNED, "outbox", "outbox_thinned"),
    ],
)
def test_gateway_trouble_reports_are_one_alarm_each(kind: EventKind, part: str, rule: str) -> None:
    engine = new_engine(make_fleet())
    reports = [Event(sensor=f"gw.{part}", ts=minute(m), kind=kind) for m in (1, 11)]
    alerts = engine.observe([], reports).alerts
    assert [(a.rule, a.state, a.gateway, a.at) for a in alerts] == [
        (rule, AlertState.RAISED, "gw", minute(1)),
        (rule, AlertState.RAISED, "gw", minute(11)),
    ]
    assert engine.observe([], [Event(sensor=f"other.{part}", ts=T0, kind=kind)]).alerts == []


def test_a_gateway_reporting_the_same_trouble_again_and_again_raises_one_alarm() -> None:
    """A broken or hostile gateway must not bury the other alarms in its own."""
    engine = new_engine(make_fleet())
    jumps = [Event(sensor="gw.clock", ts=minute(m), kind=EventKind.CLOCK_JUMP) for m in range(30)]
    thinned = [Event(sensor="gw.outbox", ts=minute(3), kind=EventKind.OUTBOX_THINNED)]
    alerts = engine.observe([], jumps + thinned).alerts
    assert brief(alerts) == [
        ("raised", "clock_jump", 0, 0),
        ("raised", "outbox_thinned", 3, 3),
        ("raised", "clock_jump", 10, 10),
        ("raised", "clock_jump", 20, 20),
    ]


def test_only_the_last_update_of_a_key_in_a_batch_is_worth_sending() -> None:
    alerts = live(new_engine(make_fleet()), readings(SPIKE_20)).alerts
    assert [a.state for a in latest(alerts)] == [AlertState.RAISED, AlertState.CLEARED]
    assert latest(alerts[:3]) == [alerts[0], alerts[2]], "the raise and the last update"
