"""Compliance math: coverage, time in range, excursions, MKT, daily reports, digest.

Tables give readings as (minute after T0, °C) with the exact numbers they must
give; properties check what must hold for any readings.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldchain.categories import PRESETS
from coldchain.compliance import (
    BERLIN,
    DELTA_H_OVER_R_K,
    Band,
    Excursion,
    GraceEvent,
    HeldBack,
    PeriodStats,
    Rules,
    Sample,
    daily_stats,
    digest,
    local_day_bounds,
    mean_kinetic_temperature_c,
    period_stats,
)
from coldchain.contract import EventKind

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
CHILLED = Band(max_c=6.0, min_c=-1.0)
HOUR = 3600.0


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def readings(*rows: tuple[float, float]) -> list[Sample]:
    return [Sample(at(minute), temp_c) for minute, temp_c in rows]


def mkt_by_hand(temps_c: list[float]) -> float:
    """The BRIEF's formula, written out without any numerical care."""
    mean = sum(math.exp(-DELTA_H_OVER_R_K / (t + 273.15)) for t in temps_c) / len(temps_c)
    return DELTA_H_OVER_R_K / -math.log(mean) - 273.15


# --- mean kinetic temperature ---------------------------------------------------------


def test_mkt_of_a_pair_by_hand() -> None:
    mkt = mean_kinetic_temperature_c([20.0, 30.0])
    assert mkt == pytest.approx(mkt_by_hand([20.0, 30.0]), abs=1e-9)
    assert round(mkt, 2) == 26.26, "above the arithmetic mean of 25 °C"


def test_mkt_of_a_chilled_week_by_hand() -> None:
    temps = [4.0] * 160 + [12.0] * 8
    assert mean_kinetic_temperature_c(temps) == pytest.approx(mkt_by_hand(temps), abs=1e-9)


def test_mkt_takes_another_activation_energy() -> None:
    assert mean_kinetic_temperature_c([0.0, 40.0], 5000.0) == pytest.approx(
        5000.0 / -math.log((math.exp(-5000 / 273.15) + math.exp(-5000 / 313.15)) / 2) - 273.15
    )


@pytest.mark.parametrize(
    ("temps", "delta_h_over_r_k", "message"),
    [
        ([], DELTA_H_OVER_R_K, "at least one"),
        ([4.0], 0.0, "positive"),
        ([-273.15], DELTA_H_OVER_R_K, "absolute zero"),
    ],
)
def test_mkt_refuses_what_has_none(
    temps: list[float], delta_h_over_r_k: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        mean_kinetic_temperature_c(temps, delta_h_over_r_k)


temperatures = st.floats(min_value=-60.0, max_value=80.0, allow_nan=False)


@given(temperatures, st.integers(min_value=1, max_value=50))
def test_mkt_of_a_constant_temperature_is_that_temperature(temp_c: float, n: int) -> None:
    assert mean_kinetic_temperature_c([temp_c] * n) == pytest.approx(temp_c, abs=1e-9)


@settings(max_examples=60)
@given(st.lists(temperatures, min_size=1, max_size=50))
def test_mkt_is_at_least_the_mean_and_within_the_readings(temps: list[float]) -> None:
    mkt = mean_kinetic_temperature_c(temps)
    assert mkt >= math.fsum(temps) / len(temps) - 1e-9
    assert min(temps) - 1e-9 <= mkt <= max(temps) + 1e-9


# --- one period -------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    rows: list[tuple[float, float]]
    covered_s: float
    in_range_s: float
    excursions: list[tuple[float, float, float, float]] = field(default_factory=list)
    """(start minute, end minute, peak °C, K·min)"""
    period: tuple[float, float] = (0, 10)
    band: Band = CHILLED
    interval_s: float = 60.0
    samples: int | None = None
    beyond_s: float | None = None
    """Covered time beyond the band; by default the excursions' lengths."""


CASES = [
    Case("all in range", [(m, 4.0) for m in range(10)], 600, 600),
    Case(
        "degree-minutes by hand: 2 K for 1 min + 3 K for 1 min",
        [(0, 4.0), (1, 8.0), (2, 9.0), (3, 5.0)],
        240,
        120,
        [(1, 3, 9.0, 5.0)],
        period=(0, 4),
    ),
    Case(
        "an uncovered gap is not compliant and ends no excursion (as in the engine)",
        [(0, 8.0), (1, 8.0), (5, 8.0)],
        180,
        0,
        [(0, 6, 8.0, 6.0)],
        period=(0, 6),
        beyond_s=180,
    ),
    Case(
        "an in-range reading splits an excursion",
        [(0, 8.0), (1, 5.0), (2, 7.0)],
        180,
        60,
        [(0, 1, 8.0, 2.0), (2, 3, 7.0, 1.0)],
        period=(0, 3),
    ),
    Case(
        "held by the reading before the start: an excursion begun before is carried, not counted",
        [(-1, 9.0), (1, 10.0), (3, 7.0)],
        240,
        0,
        [],
        period=(0, 4),
        interval_s=120,
        samples=2,
        beyond_s=240,
    ),
    Case(
        "the reading 30 s before the start covers 30 s into the period",
        [(-0.5, 4.0)],
        30,
        30,
        period=(0, 1),
        samples=0,
    ),
    Case(
        "a reading a whole interval before the start covers nothing",
        [(-1, 9.0)],
        0,
        0,
        period=(0, 1),
        samples=0,
    ),
    Case(
        "below the minimum",
        [(0, -3.0), (1, -2.0), (2, 0.0)],
        180,
        60,
        [(0, 2, -3.0, 2.0 + 1.0)],
        period=(0, 3),
    ),
    Case(
        "a jump from above to below is two excursions",
        [(0, 8.0), (1, -3.0)],
        120,
        0,
        [(0, 1, 8.0, 2.0), (1, 2, -3.0, 2.0)],
        period=(0, 2),
    ),
    Case("a reading holds for one interval only", [(0, 8.0)], 60, 0, [(0, 1, 8.0, 2.0)]),
    Case("exactly at the limits is in range", [(0, 6.0), (1, -1.0)], 120, 120, period=(0, 2)),
    Case("no limits: all covered time is in range", [(0, 40.0)], 60, 60, band=Band(None)),
    Case(
        "duplicates: the last reading given for a time wins",
        [(0, 8.0), (1, 4.0), (0, 4.0)],
        120,
        120,
        period=(0, 2),
        samples=2,
    ),
    Case(
        "unsorted readings are sorted",
        [(2, 5.0), (0, 5.0), (1, 9.0)],
        180,
        120,
        [(1, 2, 9.0, 3.0)],
        period=(0, 3),
    ),
    Case(
        "a reading at the period end belongs to the next period",
        [(0, 4.0), (10, 99.0)],
        600,
        600,
        interval_s=900,
        samples=1,
    ),
    Case("no readings", [], 0, 0),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_period_stats(case: Case) -> None:
    start, end = at(case.period[0]), at(case.period[1])
    stats = period_stats(readings(*case.rows), start, end, case.band, case.interval_s)
    duration_s = (end - start).total_seconds()
    excursion_s = case.beyond_s
    if excursion_s is None:
        excursion_s = sum((e - s) * 60 for s, e, _, _ in case.excursions)
    assert (stats.start, stats.end, stats.duration_s) == (start, end, duration_s)
    assert stats.covered_s == case.covered_s
    assert stats.coverage_pct == pytest.approx(case.covered_s / duration_s * 100)
    assert stats.in_range_s == case.in_range_s
    assert stats.time_in_range_pct == pytest.approx(case.in_range_s / duration_s * 100)
    assert stats.excursion_s == excursion_s
    if case.beyond_s is None:
        assert stats.degree_minutes == pytest.approx(sum(dm for *_, dm in case.excursions))
    found = [(e.start, e.end, e.peak_c) for e in stats.excursions]
    assert found == [(at(s), at(e), peak) for s, e, peak, _ in case.excursions]
    by_hand = [dm for *_, dm in case.excursions]
    assert [e.degree_minutes for e in stats.excursions] == pytest.approx(by_hand)
    if case.samples is not None:
        assert stats.samples == case.samples


def test_an_excursion_begun_before_the_period_is_carried_with_its_share_of_degree_minutes() -> None:
    rows = [(-1, 9.0), (1, 10.0), (3, 7.0)]
    stats = period_stats(readings(*rows), at(0), at(4), CHILLED, 120)
    (carried,) = stats.carried
    assert (carried.start, carried.end, carried.peak_c, carried.ongoing) == (
        at(-1),
        at(5),
        10.0,
        True,
    )
    assert carried.degree_minutes == pytest.approx(3.0 * 2 + 4.0 * 2 + 1.0 * 2)
    assert carried.degree_minutes_in_period == pytest.approx(3.0 * 1 + 4.0 * 2 + 1.0 * 1)
    assert stats.degree_minutes == pytest.approx(3.0 * 1 + 4.0 * 2 + 1.0 * 1)


# --- excursions as the rule engine delimits them -------------------------------------------

#: Meat products as the categories give them: alarm 6 °C, hysteresis 0.5 K, delay 900 s,
#: absolute 12 °C, door grace 900 s, defrost grace 2700 s.
MEAT = Rules(PRESETS["meat_products"].limits())


def minutely(temps: list[float], first: float = 0) -> list[Sample]:
    return [Sample(at(first + n), temp) for n, temp in enumerate(temps)]


def test_a_wobble_around_the_limit_is_one_excursion() -> None:
    """60 minutes of ±0.3 K around 6 °C: 30 stretches above the limit, one excursion."""
    temps = [4.0] * 10 + [6.3, 5.7] * 30 + [4.0] * 10
    stats = period_stats(minutely(temps), at(0), at(80), CHILLED, 60, MEAT)
    (excursion,) = stats.excursions
    assert (excursion.start, excursion.end, excursion.peak_c) == (at(10), at(70), 6.3)
    assert excursion.raised_at == at(10 + 15), "the first reading 900 s or more after the start"
    assert excursion.degree_minutes == pytest.approx(30 * 0.3)
    assert stats.short_deviations == []
    assert stats.excursion_s == 30 * 60, "time beyond the limit stays time-weighted"
    bare = period_stats(minutely(temps), at(0), at(80), CHILLED, 60)
    assert len(bare.excursions) == 30, "without hysteresis and delay every stretch counts"


def test_a_spike_shorter_than_the_delay_is_a_short_deviation() -> None:
    temps = [4.0] * 5 + [8.0] * 10 + [4.0] * 5
    stats = period_stats(minutely(temps), at(0), at(20), CHILLED, 60, MEAT)
    assert stats.excursions == []
    (spike,) = stats.short_deviations
    assert (spike.start, spike.end, spike.duration_s, spike.peak_c) == (at(5), at(15), 600, 8.0)
    assert spike.held_back is HeldBack.DELAY and spike.above
    assert spike.degree_minutes == pytest.approx(2.0 * 10)
    assert stats.degree_minutes == pytest.approx(2.0 * 10)


def test_the_delay_is_judged_at_readings_as_the_engine_does() -> None:
    """15 readings beyond at one a minute last 14 minutes at the last of them: < 900 s."""
    short = period_stats(minutely([4.0] + [7.0] * 15 + [4.0]), at(0), at(17), CHILLED, 60, MEAT)
    assert (len(short.excursions), len(short.short_deviations)) == (0, 1)
    long = period_stats(minutely([4.0] + [7.0] * 16 + [4.0]), at(0), at(18), CHILLED, 60, MEAT)
    assert (len(long.excursions), len(long.short_deviations)) == (1, 0)
    assert long.excursions[0].raised_at == at(16)


def test_the_absolute_maximum_makes_an_excursion_at_once() -> None:
    stats = period_stats(minutely([4.0, 13.0, 4.0]), at(0), at(3), CHILLED, 60, MEAT)
    (excursion,) = stats.excursions
    assert (excursion.start, excursion.raised_at, excursion.end) == (at(1), at(1), at(2))


def test_a_door_opening_holds_back_a_rise_for_its_grace_never_longer() -> None:
    rules = Rules(PRESETS["meat_products"].limits(delay_s=300))  # shorter than the grace
    door = [GraceEvent(at(4.5), EventKind.DOOR_OPEN)]  # grace until minute 19.5
    held = [4.0] * 5 + [8.0] * 10 + [4.0] * 5  # past the delay, back within the grace
    stats = period_stats(minutely(held), at(0), at(20), CHILLED, 60, rules, door)
    (deviation,) = stats.short_deviations
    assert deviation.held_back is HeldBack.GRACE and stats.excursions == []
    without = period_stats(minutely(held), at(0), at(20), CHILLED, 60, rules)
    assert without.excursions[0].raised_at == at(5 + 5)
    again = [GraceEvent(at(4.5 + 5 * n), EventKind.DOOR_OPEN) for n in range(6)]
    failing = [4.0] * 5 + [8.0] * 40 + [4.0] * 5
    stats = period_stats(minutely(failing), at(0), at(50), CHILLED, 60, rules, again)
    assert stats.excursions[0].raised_at == at(5 + 20), "at delay + the door grace"
    spike = minutely([4.0] * 5 + [13.0, 4.0])
    absolute = period_stats(spike, at(0), at(7), CHILLED, 60, rules, door)
    assert len(absolute.excursions) == 1, "a door opening does not hold back the absolute limit"


def test_a_scheduled_defrost_holds_back_the_rise_it_causes() -> None:
    rules = Rules(
        PRESETS["meat_products"].limits(defrost_schedule=[{"start": "10:00", "duration_s": 1800}])
    )
    # T0 is 10:00 Berlin (summer time): a 20-minute rise from 10:05.
    temps = [4.0] * 5 + [9.0] * 20 + [4.0] * 5
    stats = period_stats(minutely(temps), at(0), at(30), CHILLED, 60, rules)
    assert stats.excursions == [] and stats.short_deviations[0].held_back is HeldBack.GRACE


def test_implausible_readings_neither_start_nor_end_an_excursion() -> None:
    temps = [4.0, 8.0, 85.0] + [8.0] * 16 + [4.0]
    stats = period_stats(minutely(temps), at(0), at(20), CHILLED, 60, MEAT)
    (excursion,) = stats.excursions
    assert (excursion.start, excursion.end, excursion.peak_c) == (at(1), at(19), 8.0)


def test_an_excursion_still_going_on_when_the_readings_stop_is_marked_ongoing() -> None:
    stats = period_stats(minutely([4.0] + [8.0] * 20), at(0), at(21), CHILLED, 60, MEAT)
    (excursion,) = stats.excursions
    assert excursion.ongoing and excursion.end == at(21)
    undecided = period_stats(minutely([4.0] + [8.0] * 5), at(0), at(6), CHILLED, 60, MEAT)
    (deviation,) = undecided.short_deviations
    assert deviation.ongoing and deviation.held_back is HeldBack.DELAY


def test_summary_is_over_the_readings_inside_the_period() -> None:
    rows = [(-1, 30.0), (0, 2.0), (1, 4.0), (2, 9.0), (3, 30.0)]
    stats = period_stats(readings(*rows), at(0), at(3), CHILLED, 60)
    assert (stats.samples, stats.min_c, stats.max_c) == (3, 2.0, 9.0)
    assert stats.mean_c == pytest.approx(5.0)
    assert stats.mkt_c == pytest.approx(mkt_by_hand([2.0, 4.0, 9.0]))


def test_no_readings_inside_give_no_summary() -> None:
    stats = period_stats(readings((-0.5, 4.0)), at(0), at(1), CHILLED, 60)
    assert (stats.samples, stats.min_c, stats.max_c, stats.mean_c, stats.mkt_c) == (
        0,
        None,
        None,
        None,
        None,
    )


def test_times_in_another_zone_are_reported_in_utc() -> None:
    start = T0.astimezone(timezone(timedelta(hours=2)))
    stats = period_stats([Sample(start, 8.0)], start, start + timedelta(minutes=1), CHILLED, 60)
    assert stats.start == T0 and stats.start.tzinfo is UTC
    assert stats.excursions[0].start == T0 and stats.excursions[0].start.tzinfo is UTC


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: period_stats([], at(0), at(0), CHILLED, 60), "after its start"),
        (lambda: period_stats([], at(0), at(1), CHILLED, 0), "positive"),
        (lambda: period_stats([], T0.replace(tzinfo=None), at(1), CHILLED, 60), "time zone"),
        (lambda: period_stats(readings((0, math.nan)), at(0), at(1), CHILLED, 60), "nan"),
        (lambda: Band(max_c=-1.0, min_c=6.0), "swap"),
        (lambda: local_day_bounds(date(2026, 6, 1), "Europe/Dortmund"), "unknown time zone"),
        (lambda: daily_stats([], date(2026, 6, 2), date(2026, 6, 1), CHILLED, 60), "before"),
        (lambda: digest([], "a,b"), "','"),
    ],
)
def test_bad_arguments_say_what_to_fix(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# --- local days -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "start", "end", "hours"),
    [
        (date(2026, 6, 1), datetime(2026, 5, 31, 22), datetime(2026, 6, 1, 22), 24),
        (date(2026, 3, 29), datetime(2026, 3, 28, 23), datetime(2026, 3, 29, 22), 23),
        (date(2026, 10, 25), datetime(2026, 10, 24, 22), datetime(2026, 10, 25, 23), 25),
        (date(2026, 1, 15), datetime(2026, 1, 14, 23), datetime(2026, 1, 15, 23), 24),
    ],
)
def test_local_day_bounds(day: date, start: datetime, end: datetime, hours: int) -> None:
    bounds = local_day_bounds(day, BERLIN)
    assert bounds == (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))
    assert bounds[1] - bounds[0] == timedelta(hours=hours)


def hourly(first: datetime, last: datetime, temp_c: float = 4.0) -> list[Sample]:
    hours = int((last - first) / timedelta(hours=1))
    return [Sample(first + timedelta(hours=h), temp_c) for h in range(hours)]


@pytest.mark.parametrize(
    ("first_day", "hours"),
    [(date(2026, 3, 28), [24, 23, 24]), (date(2026, 10, 24), [24, 25, 24])],
)
def test_dst_days_with_hourly_readings_are_fully_covered(first_day: date, hours: list[int]) -> None:
    last_day = first_day + timedelta(days=2)
    samples = hourly(local_day_bounds(first_day)[0], local_day_bounds(last_day)[1])
    days = daily_stats(samples, first_day, last_day, CHILLED, HOUR)
    assert [day for day, _ in days] == [first_day + timedelta(days=n) for n in range(3)]
    assert [stats.samples for _, stats in days] == hours
    assert [stats.duration_s for _, stats in days] == [h * HOUR for h in hours]
    assert [stats.coverage_pct for _, stats in days] == [100.0] * 3
    assert [stats.time_in_range_pct for _, stats in days] == [100.0] * 3


def test_a_two_hour_gap_is_uncovered_and_not_compliant() -> None:
    day = date(2026, 6, 1)
    start, end = local_day_bounds(day)
    gap = {10, 11}  # local 10:00-12:00
    samples = [s for h, s in enumerate(hourly(start, end)) if h not in gap]
    [(_, stats)] = daily_stats(samples, day, day, CHILLED, HOUR)
    assert stats.samples == 22
    assert stats.covered_s == 22 * HOUR
    assert stats.coverage_pct == pytest.approx((24 - 2) / 24 * 100)
    assert stats.in_range_s == 22 * HOUR
    assert stats.time_in_range_pct == pytest.approx((24 - 2) / 24 * 100)
    assert (stats.excursion_s, stats.excursions) == (0.0, [])


def test_an_excursion_across_midnight_counts_on_its_first_day_its_degree_minutes_split() -> None:
    midnight = local_day_bounds(date(2026, 6, 2))[0]
    samples = [
        Sample(midnight - timedelta(hours=2), 4.0),
        Sample(midnight - timedelta(hours=1), 8.0),
        Sample(midnight + timedelta(hours=1), 4.0),
    ]
    (_, first), (_, second) = daily_stats(
        samples, date(2026, 6, 1), date(2026, 6, 2), CHILLED, 2 * HOUR
    )
    whole = (midnight - timedelta(hours=1), midnight + timedelta(hours=1))
    assert [(e.start, e.end) for e in first.excursions] == [whole]
    assert second.excursions == [] and [(e.start, e.end) for e in second.carried] == [whole]
    assert first.excursions[0].degree_minutes == pytest.approx(2.0 * 120)
    assert first.excursions[0].degree_minutes_in_period == pytest.approx(2.0 * 60)
    assert second.carried[0].degree_minutes_in_period == pytest.approx(2.0 * 60)
    assert first.degree_minutes == second.degree_minutes == pytest.approx(2.0 * 60)


# --- properties ---------------------------------------------------------------------------

DAYS = [date(2026, 3, 28), date(2026, 6, 1), date(2026, 10, 24)]
bands = st.sampled_from(
    [Band(None), Band(6.0), Band(6.0, -1.0), Band(2.0, 2.0), Band(-18.0), Band(None, -1.0)]
)
intervals = st.sampled_from([30.0, 60.0, 300.0, 900.0, 3600.0, 7200.0])
offsets_s = st.integers(min_value=-2 * 3600, max_value=3 * 86400 + 2 * 3600)
reading_temps = st.floats(min_value=-30.0, max_value=15.0, allow_nan=False).map(
    lambda t: round(t, 1)
)


def around(day: date, rows: list[tuple[int, float]]) -> list[Sample]:
    start = local_day_bounds(day)[0]
    return [Sample(start + timedelta(seconds=offset), temp_c) for offset, temp_c in rows]


def assert_consistent(stats: PeriodStats) -> None:
    assert 0 <= stats.in_range_s <= stats.covered_s <= stats.duration_s
    assert 0 <= stats.excursion_s <= stats.covered_s
    assert stats.in_range_s + stats.excursion_s == pytest.approx(stats.covered_s)
    assert 0 <= stats.time_in_range_pct <= stats.coverage_pct <= 100
    listed = [*stats.carried, *stats.excursions, *stats.short_deviations]
    assert math.fsum(e.degree_minutes_in_period for e in listed) <= stats.degree_minutes + 1e-9
    starts = [e.start for e in [*stats.excursions, *stats.short_deviations]]
    assert all(stats.start <= start < stats.end for start in starts)
    assert all(e.start < stats.start < e.end for e in stats.carried)
    assert all(e.start < e.end and e.degree_minutes > 0 for e in listed)


def in_day(excursion: Excursion, days: list[PeriodStats]) -> float:
    """The excursion's degree-minutes on the day it starts, as that day lists it."""
    day = next(s for s in days if s.start <= excursion.start < s.end)
    return next(e for e in day.excursions if e.start == excursion.start).degree_minutes_in_period


JUDGED = st.sampled_from(
    [Rules(), MEAT, Rules(PRESETS["meat_products"].limits(delay_s=120, hysteresis_k=1.0))]
)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(DAYS),
    st.lists(st.tuples(offsets_s, reading_temps), max_size=80),
    bands,
    intervals,
    JUDGED,
)
def test_daily_stats_add_up_to_the_whole_range(
    first_day: date, rows: list[tuple[int, float]], band: Band, interval_s: float, rules: Rules
) -> None:
    last_day = first_day + timedelta(days=2)
    samples = around(first_day, rows)
    days = [
        stats
        for _, stats in daily_stats(samples, first_day, last_day, band, interval_s, rules=rules)
    ]
    start, end = local_day_bounds(first_day)[0], local_day_bounds(last_day)[1]
    whole = period_stats(samples, start, end, band, interval_s, rules)
    for stats in [*days, whole]:
        assert_consistent(stats)
    for name in ("duration_s", "covered_s", "in_range_s", "excursion_s", "degree_minutes"):
        assert math.fsum(getattr(s, name) for s in days) == pytest.approx(getattr(whole, name))
    assert sum(s.samples for s in days) == whole.samples
    assert [e for s in days for e in s.excursions] == [
        replace(e, degree_minutes_in_period=in_day(e, days)) for e in whole.excursions
    ], "each excursion counted once, on the day it starts"
    assert [e.start for s in days for e in s.short_deviations] == [
        e.start for e in whole.short_deviations
    ]
    assert min((s.min_c for s in days if s.min_c is not None), default=None) == whole.min_c
    assert max((s.max_c for s in days if s.max_c is not None), default=None) == whole.max_c


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(offsets_s, reading_temps), max_size=60), st.randoms())
def test_stats_do_not_depend_on_the_order_readings_arrive_in(
    rows: list[tuple[int, float]], rng: random.Random
) -> None:
    unique = list(dict(rows).items())
    shuffled = list(unique)
    rng.shuffle(shuffled)
    start, end = local_day_bounds(DAYS[0])[0], local_day_bounds(DAYS[0] + timedelta(days=3))[0]
    assert period_stats(around(DAYS[0], unique), start, end, CHILLED, 900) == period_stats(
        around(DAYS[0], shuffled), start, end, CHILLED, 900
    )


# --- digest -----------------------------------------------------------------------------


def test_digest_is_the_sha256_of_the_documented_text() -> None:
    samples = [Sample(datetime(2026, 6, 1, 0, 1, tzinfo=UTC), 5), Sample(T0.replace(hour=0), 4.5)]
    text = "van-3.chilled,1780272000000000000,4.5\nvan-3.chilled,1780272060000000000,5.0"
    assert digest(samples, "van-3.chilled") == hashlib.sha256(text.encode()).hexdigest()
    assert digest([], "van-3.chilled") == hashlib.sha256(b"").hexdigest()


def test_digest_keeps_the_last_of_duplicate_readings() -> None:
    once = readings((0, 4.0), (1, 5.0))
    assert digest([*once, Sample(at(0), 4.0)], "s") == digest(once, "s")
    assert digest([Sample(at(0), 9.0), *once], "s") == digest(once, "s")


unique_rows = st.dictionaries(offsets_s, reading_temps, min_size=1, max_size=40)


@settings(max_examples=50)
@given(unique_rows, st.randoms())
def test_digest_is_stable_under_reordering(rows: dict[int, float], rng: random.Random) -> None:
    samples = around(DAYS[1], list(rows.items()))
    shuffled = list(samples)
    rng.shuffle(shuffled)
    assert digest(shuffled, "gw.air") == digest(samples, "gw.air")


@settings(max_examples=60)
@given(
    unique_rows,
    st.integers(min_value=0),
    st.sampled_from([0.1, -0.1, 0.5, 1e-6]),
    st.sampled_from(["temp", "time", "sensor", "drop"]),
)
def test_changing_any_reading_changes_the_digest(
    rows: dict[int, float], pick: int, delta: float, change: str
) -> None:
    samples = around(DAYS[1], sorted(rows.items()))
    i = pick % len(samples)
    changed = list(samples)
    sensor = "gw.air"
    if change == "temp":
        changed[i] = Sample(samples[i].ts, samples[i].temp_c + delta)
    elif change == "time":
        later = samples[-1].ts + timedelta(microseconds=1)
        changed[i] = Sample(later, samples[i].temp_c)
    elif change == "sensor":
        sensor = "gw.core"
    else:
        del changed[i]
    assert digest(changed, sensor) != digest(samples, "gw.air")


def test_jittering_timestamps_are_one_continuous_excursion() -> None:
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    jittered = [
        Sample(start + timedelta(seconds=5 * i, microseconds=300 * (i % 2)), 9.0)
        for i in range(120)
    ]
    stats = period_stats(jittered, start, start + timedelta(minutes=10), Band(max_c=6.0), 5)
    assert len(stats.excursions) == 1
    assert stats.coverage_pct == 100.0
