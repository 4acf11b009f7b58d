"""The over_max rule: delay, clearing, peak, redelivery, independence, determinism."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldchain.contract import AlertEvent, AlertState, Reading, Severity
from coldchain.fleet import Asset
from coldchain.rules import OVER_MAX, OverMaxRule

T0 = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
SITE = "dortmund-hub"
SENSOR = "cold-room-1.air"
LIMIT = 6.0  # meat_products

Series = list[tuple[float, float]]
"""(seconds after T0, °C) for one sensor."""


def asset(delay_s: float = 60.0, max_c: float | None = None) -> Asset:
    return Asset(
        id="cold-room-1",
        name={"de": "Kühlraum 1", "en": "Cold room 1"},
        category="meat_products",
        max_c=max_c,
        delay_s=delay_s,
    )


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def reading(seconds: float, temp_c: float, sensor: str = SENSOR) -> Reading:
    return Reading(sensor=sensor, ts=at(seconds), temp_c=temp_c)


def run(series: Series, delay_s: float, rule: OverMaxRule | None = None) -> list[AlertEvent]:
    rule = rule or OverMaxRule()
    watched = asset(delay_s)
    events = [rule.observe(SITE, watched, reading(s, t)) for s, t in series]
    return [event for event in events if event is not None]


# (state, started_at s, at s, value_c, peak_c)
Expected = tuple[AlertState, float, float, float, float]
RAISED, CLEARED = AlertState.RAISED, AlertState.CLEARED

CASES = [
    pytest.param(60, [(0, 5.0), (60, 5.9), (120, 4.0)], [], id="below-limit"),
    pytest.param(60, [(0, 6.0), (60, 6.0), (120, 6.0)], [], id="at-limit-is-not-above"),
    pytest.param(60, [(0, 7.0), (30, 7.0), (59, 7.5)], [], id="above-shorter-than-delay"),
    pytest.param(
        60, [(0, 7.0), (30, 7.5), (60, 7.2)], [(RAISED, 0, 60, 7.2, 7.5)], id="above-for-delay"
    ),
    pytest.param(
        60,
        [(0, 7.0), (60, 7.0), (120, 8.0), (180, 9.0)],
        [(RAISED, 0, 60, 7.0, 7.0)],
        id="raised-once",
    ),
    pytest.param(
        60,
        [(0, 7.0), (30, 9.0), (60, 8.0), (90, 10.0), (120, 5.0)],
        [(RAISED, 0, 60, 8.0, 9.0), (CLEARED, 0, 120, 5.0, 10.0)],
        id="peak-tracked",
    ),
    pytest.param(
        60,
        [(0, 7.0), (60, 7.0), (70, 6.0)],
        [(RAISED, 0, 60, 7.0, 7.0), (CLEARED, 0, 70, 6.0, 7.0)],
        id="back-at-limit-clears",
    ),
    pytest.param(60, [(0, 7.0), (30, 5.0), (60, 7.0)], [], id="dip-before-delay"),
    pytest.param(
        60,
        [(0, 7.0), (45, 6.0), (60, 7.0), (90, 7.0), (119, 7.0), (120, 7.0)],
        [(RAISED, 60, 120, 7.0, 7.0)],
        id="dip-resets-delay",
    ),
    pytest.param(0, [(0, 6.1)], [(RAISED, 0, 0, 6.1, 6.1)], id="delay-0-first-reading"),
    pytest.param(
        0,
        [(0, 6.1), (5, 4.0)],
        [(RAISED, 0, 0, 6.1, 6.1), (CLEARED, 0, 5, 4.0, 6.1)],
        id="delay-0-clears",
    ),
    pytest.param(
        60,
        [(0, 7.0), (60, 7.0), (70, 5.0), (80, 8.0), (140, 8.0)],
        [(RAISED, 0, 60, 7.0, 7.0), (CLEARED, 0, 70, 5.0, 7.0), (RAISED, 80, 140, 8.0, 8.0)],
        id="second-excursion",
    ),
    pytest.param(
        60,
        [(0, 7.0), (60, 7.0), (30, 5.0), (60, 5.0), (90, 5.0)],
        [(RAISED, 0, 60, 7.0, 7.0), (CLEARED, 0, 90, 5.0, 7.0)],
        id="older-or-equal-ts-ignored",
    ),
    pytest.param(
        60,
        [(0, 7.0), (30, 7.0), (0, 7.0), (30, 7.0), (60, 7.0)],
        [(RAISED, 0, 60, 7.0, 7.0)],
        id="redelivered-readings-ignored",
    ),
    pytest.param(60, [(60, 7.0), (0, 7.0), (90, 7.0)], [], id="straggler-does-not-start-excursion"),
]


@pytest.mark.parametrize(("delay_s", "series", "expected"), CASES)
def test_over_max(delay_s: float, series: Series, expected: list[Expected]) -> None:
    events = run(series, delay_s)
    got = [(e.state, e.started_at, e.at, e.value_c, e.peak_c) for e in events]
    assert got == [(state, at(s), at(a), v, p) for state, s, a, v, p in expected]
    for event in events:
        assert event.key == f"{OVER_MAX}/{SENSOR}/{event.started_at.isoformat()}"
        assert (event.rule, event.severity, event.site) == (OVER_MAX, Severity.CRITICAL, SITE)
        assert (event.asset, event.sensor) == ("cold-room-1", SENSOR)
        assert (event.limit_c, event.delay_s) == (LIMIT, delay_s)


def test_raised_and_cleared_share_the_key() -> None:
    raised, cleared = run([(0, 7.0), (60, 7.0), (90, 5.0)], 60)
    assert raised.key == cleared.key


def test_asset_max_c_overrides_the_category() -> None:
    rule = OverMaxRule()
    event = rule.observe(SITE, asset(delay_s=0, max_c=3.0), reading(0, 3.5))
    assert event is not None
    assert event.limit_c == 3.0


def test_frozen_category_limit() -> None:
    freezer = Asset(id="freezer-1", name={"de": "TK", "en": "Freezer"}, category="quick_frozen")
    rule = OverMaxRule()
    assert rule.observe(SITE, freezer, reading(0, -18.0)) is None
    assert rule.observe(SITE, freezer, reading(10, -17.5)) is None  # delay 900 s by default
    event = rule.observe(SITE, freezer, reading(910, -17.0))
    assert event is not None
    assert (event.state, event.limit_c, event.peak_c) == (RAISED, -18.0, -17.0)


def test_sensors_are_independent() -> None:
    rule = OverMaxRule()
    watched = asset(60)
    series = [
        reading(0, 7.0, "a.air"),
        reading(0, 5.0, "b.air"),
        reading(30, 7.0, "b.air"),
        reading(30, 7.0, "a.air"),
        reading(60, 5.0, "b.air"),  # b's dip must not reset a
        reading(60, 7.0, "a.air"),
        reading(50, 5.0, "a.air"),  # older than a's last: ignored even though b is at 60
    ]
    events = [e for e in (rule.observe(SITE, watched, r) for r in series) if e is not None]
    assert [(e.sensor, e.state, e.at) for e in events] == [("a.air", RAISED, at(60))]


def test_a_fresh_rule_gives_identical_events() -> None:
    series = [(0, 7.0), (30, 9.5), (60, 7.0), (75, 4.0), (90, 8.0), (150, 8.0)]
    first, second = run(series, 60), run(series, 60)
    assert first == second
    assert [e.key for e in first] == [e.key for e in second]
    assert len(first) == 3


# --- property -------------------------------------------------------------------------------

steps = st.tuples(
    st.sampled_from(["a.air", "b.air"]),
    st.integers(-30, 120),  # seconds after the previous reading; <= 0 is a straggler
    st.one_of(st.sampled_from([5.0, LIMIT, 7.0, 9.0]), st.floats(0.0, 12.0)),
)


@settings(max_examples=200, deadline=None)
@given(delay_s=st.sampled_from([0.0, 1.0, 30.0, 60.0, 90.5]), plan=st.lists(steps, max_size=60))
def test_events_alternate_and_respect_the_delay(
    delay_s: float, plan: list[tuple[str, int, float]]
) -> None:
    rule = OverMaxRule()
    watched = asset(delay_s)
    clock = T0
    events: list[AlertEvent] = []
    for sensor, step_s, temp_c in plan:
        clock += timedelta(seconds=step_s)
        event = rule.observe(SITE, watched, Reading(sensor=sensor, ts=clock, temp_c=temp_c))
        if event is not None:
            events.append(event)
    for sensor in ("a.air", "b.air"):
        mine = [e for e in events if e.sensor == sensor]
        assert [e.state for e in mine] == [[RAISED, CLEARED][i % 2] for i in range(len(mine))]
        for event in mine:
            if event.state is RAISED:
                assert (event.at - event.started_at).total_seconds() >= delay_s
                assert event.value_c > LIMIT
            else:
                assert event.value_c <= LIMIT
            assert event.peak_c >= max(event.value_c, LIMIT)
        for raised, cleared in zip(mine[::2], mine[1::2], strict=False):
            assert cleared.key == raised.key
            assert cleared.at > raised.at
