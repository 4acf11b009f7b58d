"""The daily compliance rollup's pure part: which days a reading touches, and the day records."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coldchain.categories import PRESETS
from coldchain.compliance import (
    BERLIN,
    Band,
    GraceEvent,
    Rules,
    Sample,
    daily_stats,
    judged_readings,
    local_day_bounds,
)
from coldchain.contract import EventKind
from coldchain.rollup import Part, day_in_parts, day_records, local_date, touched_days

CHILLED = Band(max_c=6.0, min_c=-1.0)
LEGAL_MAX_C = 7.0
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)


def test_a_reading_in_the_middle_of_a_day_touches_that_day_only() -> None:
    noon = datetime(2026, 6, 1, 10, tzinfo=UTC)
    assert touched_days(noon, noon, 60) == [date(2026, 6, 1)]


def test_a_reading_near_midnight_touches_both_days() -> None:
    start, _ = local_day_bounds(date(2026, 6, 2))
    assert touched_days(start - timedelta(seconds=30), start - timedelta(seconds=30), 60) == [
        date(2026, 6, 1),
        date(2026, 6, 2),
    ], "it covers into the next day"
    assert touched_days(start + timedelta(seconds=60), start + timedelta(seconds=60), 60) == [
        date(2026, 6, 1),
        date(2026, 6, 2),
    ], "it shortens the hold of the previous day's last reading"
    assert touched_days(start + timedelta(seconds=91), start + timedelta(seconds=91), 60) == [
        date(2026, 6, 2)
    ]


def test_a_backlog_touches_every_day_it_spans() -> None:
    first = datetime(2026, 3, 28, 12, tzinfo=UTC)
    assert touched_days(first, first + timedelta(days=2), 300) == [
        date(2026, 3, 28),
        SPRING,
        date(2026, 3, 30),
    ]
    with pytest.raises(ValueError, match="before the first"):
        touched_days(first, first - timedelta(seconds=1), 60)


def test_local_date_is_the_day_in_berlin() -> None:
    assert local_date(datetime(2026, 10, 24, 22, 30, tzinfo=UTC)) == AUTUMN
    assert local_date(datetime(2026, 10, 24, 21, 59, tzinfo=UTC)) == date(2026, 10, 24)
    with pytest.raises(ValueError, match="no time zone"):
        local_date(datetime(2026, 10, 24, 22, 30))


def _minutely(first: datetime, last: datetime, temp: float = 3.0) -> list[Sample]:
    count = int((last - first).total_seconds() // 60)
    return [Sample(first + timedelta(minutes=n), temp) for n in range(count)]


@pytest.mark.parametrize(("day", "hours"), [(SPRING, 23), (AUTUMN, 25), (date(2026, 6, 1), 24)])
def test_a_record_is_the_days_daily_stats_also_on_clock_change_days(day: date, hours: int) -> None:
    start, end = local_day_bounds(day)
    samples = _minutely(start - timedelta(hours=1), end + timedelta(hours=1))
    samples[200] = Sample(samples[200].ts, 8.5)  # above the band and the legal maximum
    samples[400] = Sample(samples[400].ts, -2.0)  # below the band
    (record,) = day_records(samples, day, day, CHILLED, LEGAL_MAX_C, 60)
    ((_, alarm),) = daily_stats(samples, day, day, CHILLED, 60)
    ((_, legal),) = daily_stats(samples, day, day, Band(max_c=LEGAL_MAX_C), 60)
    fields = record.fields()
    assert record.start == start
    assert fields["duration_s"] == hours * 3600.0
    assert fields["samples"] == hours * 60 == alarm.samples
    assert fields["coverage_pct"] == 100.0
    assert fields["excursions"] == 2
    assert (fields["excursions_above"], fields["excursions_below"]) == (1, 1)
    assert fields["excursion_s"] == alarm.excursion_s == 120.0
    assert fields["degree_minutes"] == alarm.degree_minutes == pytest.approx(2.5 + 1.0)
    assert fields["time_in_range_pct"] == alarm.time_in_range_pct
    assert fields["above_legal_s"] == legal.excursion_s == 60.0
    assert fields["legal_excursions"] == 1
    assert fields["legal_degree_minutes"] == pytest.approx(1.5)
    assert fields["time_in_legal_range_pct"] == legal.time_in_range_pct
    assert (fields["min_c"], fields["max_c"]) == (-2.0, 8.5)
    assert fields["mean_c"] == alarm.mean_c and fields["mkt_c"] == alarm.mkt_c
    assert (fields["alarm_max_c"], fields["alarm_min_c"], fields["legal_max_c"]) == (6.0, -1.0, 7.0)
    assert fields["interval_s"] == 60.0


def test_a_day_without_readings_has_a_record_of_zero_coverage() -> None:
    (record,) = day_records([], SPRING, SPRING, Band(max_c=-18.0), -18.0, 300)
    fields = record.fields()
    assert fields["samples"] == 0 and fields["coverage_pct"] == 0.0
    assert fields["time_in_range_pct"] == 0.0 and fields["excursions"] == 0
    assert not {"min_c", "max_c", "mean_c", "mkt_c", "alarm_min_c"} & set(fields)


class Stored:
    """A sensor's readings and its asset's events in a list: what judged_readings reads
    through an adapter, to check what it asks for."""

    def __init__(self, samples: list[Sample], events: list[GraceEvent]) -> None:
        # One reading per time, the last written, as InfluxDB keeps one point per series
        # and time.
        latest = {sample.ts: sample for sample in samples}
        self.samples = sorted(latest.values(), key=lambda s: s.ts)
        self.events = events
        self.read = 0

    def readings(self, first: datetime, last: datetime) -> list[Sample]:
        found = [s for s in self.samples if first <= s.ts <= last]
        self.read += len(found)
        return found

    def last_time(
        self, since: datetime, before: datetime, low_c: float, high_c: float
    ) -> datetime | None:
        times = [
            s.ts for s in self.samples if since <= s.ts < before and low_c <= s.temp_c <= high_c
        ]
        return max(times, default=None)

    def first_time(
        self, after: datetime, until: datetime, low_c: float, high_c: float
    ) -> datetime | None:
        times = [
            s.ts for s in self.samples if after < s.ts <= until and low_c <= s.temp_c <= high_c
        ]
        return min(times, default=None)

    def grace_events(self, first: datetime, last: datetime) -> list[GraceEvent]:
        return [e for e in self.events if first <= e.ts <= last]


RULES = Rules(PRESETS["meat_products"].limits(delay_s=600, door_grace_s=1200))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3 * 24 * 60), st.floats(-5, 12, allow_nan=False)),
        max_size=80,
    ),
    st.lists(st.integers(0, 3 * 24 * 60), max_size=4),
    st.sampled_from([30.0, 60.0, 300.0]),
)
# Two readings at one time: the store, like InfluxDB, keeps the last (found in CI).
@example(readings=[(0, 7.0), (1, 0.0), (1, 6.0), (1440, 7.0)], doors=[], interval_s=30.0)
@example(readings=[(0, 7.0), (1, 0.0), (1, 6.0), (1440, 6.0)], doors=[], interval_s=30.0)
def test_days_judged_from_what_judged_readings_reads_equal_daily_stats_over_everything(
    readings: list[tuple[int, float]], doors: list[int], interval_s: float
) -> None:
    """The rollup reads a day and as much around it as its excursions need; that gives
    the numbers of all readings and events."""
    t0, _ = local_day_bounds(date(2026, 3, 28))
    samples = [Sample(t0 + timedelta(minutes=m), temp) for m, temp in readings]
    events = [GraceEvent(t0 + timedelta(minutes=m), EventKind.DOOR_OPEN) for m in doors]
    first_day, last_day = date(2026, 3, 28), date(2026, 3, 30)
    everything = dict(
        daily_stats(samples, first_day, last_day, CHILLED, interval_s, BERLIN, RULES, events)
    )
    legal = dict(
        daily_stats(samples, first_day, last_day, Band(LEGAL_MAX_C), interval_s, BERLIN, RULES,
                    events)
    )  # fmt: skip
    store = Stored(samples, events)
    for day in (first_day, SPRING, last_day):
        start, end = local_day_bounds(day)
        bands = [CHILLED, Band(LEGAL_MAX_C)]
        judged = judged_readings(store, start, end, interval_s, bands, RULES)
        (record,) = day_records(
            judged.samples, day, day, CHILLED, LEGAL_MAX_C, interval_s, BERLIN, RULES,
            judged.events,
        )  # fmt: skip
        expected = everything[day]
        for name in ("covered_s", "in_range_s", "excursion_s", "degree_minutes"):
            assert math.isclose(record.fields()[name], getattr(expected, name), abs_tol=1e-9)
        assert record.alarm.excursions == expected.excursions
        assert record.alarm.short_deviations == expected.short_deviations
        assert record.alarm.carried == expected.carried
        assert record.legal.excursions == legal[day].excursions
        assert record.alarm.samples == expected.samples


def test_a_quiet_day_reads_no_more_than_its_reach() -> None:
    start, end = local_day_bounds(date(2026, 6, 1))
    store = Stored(_minutely(start - timedelta(days=2), end + timedelta(days=2)), [])
    judged = judged_readings(store, start, end, 60, [CHILLED], RULES)
    assert (judged.first, judged.last) == (
        start - timedelta(seconds=90),
        end + timedelta(seconds=90),
    )
    assert store.read == 1 + 24 * 60 + 2, "the day's readings and those within reach"


def test_an_excursion_across_both_midnights_is_read_to_its_ends_and_no_further() -> None:
    start, end = local_day_bounds(date(2026, 6, 1))
    samples = _minutely(start - timedelta(days=2), end + timedelta(days=2))
    warm = (start - timedelta(hours=3), end + timedelta(hours=2))
    samples = [Sample(s.ts, 8.0) if warm[0] <= s.ts < warm[1] else s for s in samples]
    store = Stored(samples, [])
    judged = judged_readings(store, start, end, 60, [CHILLED], RULES)
    assert judged.first == warm[0] - timedelta(minutes=1), "the last reading that ends it before"
    assert judged.last == warm[1], "the first reading that ends it"
    ((_, day),) = daily_stats(judged.samples, date(2026, 6, 1), date(2026, 6, 1), CHILLED, 60,
                              BERLIN, RULES)  # fmt: skip
    assert day.excursions == [] and [(e.start, e.end) for e in day.carried] == [warm]


def test_a_day_is_undecided_while_a_stretch_going_on_may_still_become_an_excursion() -> None:
    day = date(2026, 6, 1)
    start, end = local_day_bounds(day)
    quiet = _minutely(start - timedelta(minutes=2), end - timedelta(minutes=5))
    late_rise = [Sample(end - timedelta(minutes=5 - n), 8.0) for n in range(5)]
    (record,) = day_records(quiet + late_rise, day, day, CHILLED, LEGAL_MAX_C, 60, BERLIN, RULES)
    assert record.undecided, "5 minutes beyond at the last reading: the delay is 10"
    long_rise = [Sample(end - timedelta(minutes=15 - n), 8.0) for n in range(15)]
    quiet = _minutely(start - timedelta(minutes=2), end - timedelta(minutes=15))
    (record,) = day_records(quiet + long_rise, day, day, CHILLED, LEGAL_MAX_C, 60, BERLIN, RULES)
    assert record.fields()["excursions"] == 1 and record.alarm.excursions[0].ongoing
    assert not record.undecided, "an excursion going on changes none of the day's fields"


def test_an_excursion_longer_than_the_bound_is_judged_from_the_bound() -> None:
    """Readings are read at most JUDGING_BOUND_S (7 days) before the day."""
    start, end = local_day_bounds(date(2026, 6, 10))
    began = start - timedelta(days=9)
    samples = [Sample(s.ts, 8.0 if s.ts >= began else 3.0) for s in _minutely(
        start - timedelta(days=10), end)]  # fmt: skip
    store = Stored(samples, [])
    judged = judged_readings(store, start, end, 60, [CHILLED], RULES)
    bound = start - timedelta(days=7)
    assert judged.first == bound and judged.samples[0].ts == bound
    assert judged.last == end + timedelta(days=7), "still going on: forward to the bound"
    ((_, day),) = daily_stats(judged.samples, date(2026, 6, 10), date(2026, 6, 10), CHILLED, 60,
                              BERLIN, RULES)  # fmt: skip
    (carried,) = day.carried
    assert carried.start == bound and carried.ongoing


def test_a_limit_lowered_below_a_spell_going_on_counts_it_from_the_new_part() -> None:
    """5 °C from 10:00 to 14:00 local, 3 °C otherwise, every minute; the alarm maximum
    goes from 6 to 4 °C at 12:00. Before noon 5 °C is in range, so the spell is an
    excursion of the new limit: 2 h (7200 s) 1 K above, 120 K·min, one excursion."""
    day = date(2026, 6, 10)
    start, end = local_day_bounds(day)
    noon = start + timedelta(hours=12)
    samples = [
        Sample(start + timedelta(minutes=m), 5.0 if 600 <= m < 840 else 3.0)
        for m in range(-5, 24 * 60 + 5)
    ]
    parts = [
        Part(start, noon, CHILLED, 6.0, Rules(PRESETS["meat_products"].limits()), samples),
        Part(
            noon, end, Band(4.0, -1.0), 6.0,
            Rules(PRESETS["meat_products"].limits(max_c=4.0)), samples,
        ),
    ]  # fmt: skip
    record = day_in_parts(parts, day, 60.0)
    assert record.limit_periods == 2 and record.alarm_band == Band(4.0, -1.0)
    fields = record.fields()
    assert (fields["excursion_s"], fields["degree_minutes"]) == (7200.0, pytest.approx(120.0))
    assert (fields["excursions"], fields["short_deviations"]) == (1, 0)
    assert (fields["samples"], fields["coverage_pct"]) == (1440, 100.0)
    assert fields["above_legal_s"] == 0.0


def test_one_part_gives_the_record_of_day_records() -> None:
    day = date(2026, 3, 29)
    start, end = local_day_bounds(day)
    samples = [Sample(start + timedelta(minutes=m), 4.0 + (m % 97) / 10) for m in range(-3, 1400)]
    rules = Rules(PRESETS["meat_products"].limits(delay_s=300))
    (expected,) = day_records(samples, day, day, CHILLED, LEGAL_MAX_C, 60.0, BERLIN, rules)
    record = day_in_parts([Part(start, end, CHILLED, LEGAL_MAX_C, rules, samples)], day, 60.0)
    assert record.fields() == pytest.approx(expected.fields())
