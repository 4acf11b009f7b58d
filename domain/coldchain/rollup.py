"""The daily compliance rollup: one record per sensor and local day, for dashboards.

A year of readings is too much to aggregate in a dashboard query, so each local
day's numbers are computed once by `coldchain.compliance.daily_stats` (the
same function the reports use, so both show the same numbers) and stored as one
point of `measurements.COMPLIANCE_DAILY`: 365 points a year per sensor.

A day is computed again whenever a reading that can change it arrives, also days
later (a van back from a dead zone, a gateway back from an outage), and once
when it ends, so a day without any reading gets its record too (coverage 0 %).
`touched_days` says which days a reading can change through the time it covers;
excursions are judged over all the readings `judged_readings` reads, so a reading
within those can change the day too, and so can any later reading while a stretch
that starts on the day goes on undecided (`DayRecord.undecided`). Pure: no clock
is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from coldchain.calibration import Calibration, Marking, mark
from coldchain.compliance import (
    BERLIN,
    Band,
    Deviation,
    Excursion,
    GraceEvent,
    PeriodStats,
    Rules,
    Sample,
    daily_stats,
    local_day_bounds,
    period_stats,
    reach_s,
)


@dataclass(frozen=True)
class DayRecord:
    """The compliance of one sensor on one local day, against the alarm band and the legal maximum.

    `start` is the day's local midnight in UTC: the point's time, so computing the
    day again overwrites its record. Temperatures in °C, durations in seconds,
    degree-minutes in K·min, shares in % of the whole day (23, 24 or 25 hours).
    A `preliminary` record is of a day not ended yet: its numbers are those of the
    part of the day that has passed (`alarm.duration_s` long), and the record of the
    whole day overwrites it once the day has ended.
    """

    day: date
    start: datetime
    interval_s: float
    alarm_band: Band
    legal_max_c: float
    alarm: PeriodStats
    legal: PeriodStats
    preliminary: bool = False
    limit_periods: int = 1
    """How many sets of limits judged the day: more than 1 when a limit changed during
    it; `alarm_band` and `legal_max_c` are then those in force at its end."""
    calibration: Marking | None = None
    """Which of the day's readings the probe took while unverified (`marked`)."""

    def marked(
        self, checks: Sequence[Calibration], tz: str, times: Sequence[datetime]
    ) -> DayRecord:
        """The record with the day's readings marked by the probe's calibration `checks`
        (oldest first): `times` are the reading times read for it, sorted, UTC."""
        marking = mark(checks, self.start, self.alarm.end, tz, times)
        return replace(self, calibration=marking)

    @property
    def undecided(self) -> bool:
        """Whether a stretch beyond a limit that starts on the day goes on past the last
        reading without having become an excursion yet: a later reading can make it one.
        (An excursion going on changes none of the day's fields any more.)"""
        return any(d.ongoing for stats in (self.alarm, self.legal) for d in stats.short_deviations)

    def fields(self) -> dict[str, bool | float | int | str]:
        """The record's fields by name; min, max, mean and MKT only when the day has
        readings, `calibration` and `unverified_readings` only when it was `marked`."""
        alarm, legal = self.alarm, self.legal
        above = sum(1 for e in alarm.excursions if e.above)
        marking = self.calibration
        fields: dict[str, bool | float | int | str | None] = {
            "preliminary": self.preliminary,
            "limit_periods": self.limit_periods,
            "duration_s": alarm.duration_s,
            "interval_s": float(self.interval_s),
            "samples": alarm.samples,
            "covered_s": alarm.covered_s,
            "coverage_pct": alarm.coverage_pct,
            "alarm_max_c": self.alarm_band.max_c,
            "alarm_min_c": self.alarm_band.min_c,
            "in_range_s": alarm.in_range_s,
            "time_in_range_pct": alarm.time_in_range_pct,
            "excursion_s": alarm.excursion_s,
            "degree_minutes": alarm.degree_minutes,
            "excursions": len(alarm.excursions),
            "excursions_above": above,
            "excursions_below": len(alarm.excursions) - above,
            "short_deviations": len(alarm.short_deviations),
            "legal_max_c": self.legal_max_c,
            "time_in_legal_range_pct": legal.time_in_range_pct,
            "above_legal_s": legal.excursion_s,
            "legal_degree_minutes": legal.degree_minutes,
            "legal_excursions": len(legal.excursions),
            "min_c": alarm.min_c,
            "max_c": alarm.max_c,
            "mean_c": alarm.mean_c,
            "mkt_c": alarm.mkt_c,
            "calibration": marking.label if marking else None,
            "unverified_readings": marking.readings if marking else None,
        }
        return {name: value for name, value in fields.items() if value is not None}


def day_records(
    samples: Sequence[Sample],
    first_day: date,
    last_day: date,
    alarm_band: Band,
    legal_max_c: float,
    interval_s: float,
    tz: str = BERLIN,
    rules: Rules | None = None,
    events: Sequence[GraceEvent] = (),
) -> list[DayRecord]:
    """The record of each local day of `tz` from first_day to last_day, inclusive.

    `samples` and `events` must be those `judged_readings` reads for the days (with
    `rules`, against both bands); the numbers are then exactly those of daily_stats
    over all of the sensor's readings.
    """
    legal = Band(max_c=legal_max_c)
    rules = rules or Rules(timezone=tz)
    alarm_days = daily_stats(
        samples, first_day, last_day, alarm_band, interval_s, tz, rules, events
    )
    legal_days = daily_stats(samples, first_day, last_day, legal, interval_s, tz, rules, events)
    return [
        DayRecord(day, alarm.start, interval_s, alarm_band, legal_max_c, alarm, legal_stats)
        for (day, alarm), (_, legal_stats) in zip(alarm_days, legal_days, strict=True)
    ]


def day_so_far(
    samples: Sequence[Sample],
    day: date,
    until: datetime,
    alarm_band: Band,
    legal_max_c: float,
    interval_s: float,
    tz: str = BERLIN,
    rules: Rules | None = None,
    events: Sequence[GraceEvent] = (),
) -> DayRecord:
    """The preliminary record of the local day `day` of `tz` from its midnight to `until`.

    The numbers of the day's part that has passed, by the code of a whole day
    (period_stats, as daily_stats computes each day): coverage and time in range are
    shares of that part, so the rest of the day does not count as uncovered before it
    has come. `samples` and `events` as for day_records, read up to `until`.
    """
    start, end = local_day_bounds(day, tz)
    if not start < until <= end:
        raise ValueError(f"{until.isoformat()} is not within the local day {day} of {tz}")
    rules = rules or Rules(timezone=tz)
    alarm = period_stats(samples, start, until, alarm_band, interval_s, rules, events)
    legal_band = Band(max_c=legal_max_c)
    legal = period_stats(samples, start, until, legal_band, interval_s, rules, events)
    return DayRecord(day, start, interval_s, alarm_band, legal_max_c, alarm, legal, True)


@dataclass(frozen=True)
class Part:
    """A part of a day judged by one set of limits: UTC [start, end), the alarm band, the
    legal maximum and the rules in force then, and the readings and events
    `judged_readings` reads for that part with those limits."""

    start: datetime
    end: datetime
    alarm_band: Band
    legal_max_c: float
    rules: Rules
    samples: Sequence[Sample]
    events: Sequence[GraceEvent] = ()


def day_in_parts(
    parts: Sequence[Part], day: date, interval_s: float, preliminary: bool = False
) -> DayRecord:
    """The record of a local day whose limits changed during it, from its parts in time
    order (from the day's midnight to its end, or to now for a preliminary record).

    Each part is judged by its own limits: its time-weighted numbers (coverage, time in
    range, time beyond, degree-minutes) are its share of the day's, so they add up.
    A stretch beyond a limit is judged as a whole by the limits in force when it
    starts and counted in that part; one of the new limits already going on at the
    change counts in the new part unless one of the old limits on the same side is
    still going on then (it is the same warm or cold spell). Readings, minimum,
    maximum, mean and MKT are over the whole day's readings.
    """
    if not parts:
        raise ValueError(f"day {day} needs at least one part")
    start, end = parts[0].start, parts[-1].end
    everything = [sample for part in parts for sample in part.samples]
    last = parts[-1]
    whole = period_stats(everything, start, end, last.alarm_band, interval_s, last.rules)
    alarm = _joined([_part_stats(p, p.alarm_band, interval_s) for p in parts], whole)
    legal = _joined([_part_stats(p, Band(max_c=p.legal_max_c), interval_s) for p in parts], whole)
    return DayRecord(
        day, start, interval_s, last.alarm_band, last.legal_max_c, alarm, legal,
        preliminary, len(parts),
    )  # fmt: skip


def _part_stats(part: Part, band: Band, interval_s: float) -> PeriodStats:
    return period_stats(
        part.samples, part.start, part.end, band, interval_s, part.rules, part.events
    )


def _joined(stats: Sequence[PeriodStats], whole: PeriodStats) -> PeriodStats:
    """One day's numbers from those of its consecutive parts (see day_in_parts)."""
    excursions: list[Excursion] = []
    deviations: list[Deviation] = []
    before: PeriodStats | None = None
    for part in stats:
        excursions += part.excursions
        deviations += part.short_deviations
        if before is not None:
            excursions += [e for e in part.carried if not _going_on(before, e.above, part.start)]
        before = part
    duration_s = whole.duration_s
    covered_s = sum(part.covered_s for part in stats)
    in_range_s = sum(part.in_range_s for part in stats)
    return PeriodStats(
        start=whole.start,
        end=whole.end,
        duration_s=duration_s,
        covered_s=covered_s,
        coverage_pct=covered_s * 100 / duration_s,
        in_range_s=in_range_s,
        time_in_range_pct=in_range_s * 100 / duration_s,
        excursions=excursions,
        excursion_s=sum(part.excursion_s for part in stats),
        degree_minutes=sum(part.degree_minutes for part in stats),
        samples=whole.samples,
        min_c=whole.min_c,
        max_c=whole.max_c,
        mean_c=whole.mean_c,
        mkt_c=whole.mkt_c,
        short_deviations=deviations,
        carried=stats[0].carried,
    )


def _going_on(stats: PeriodStats, above: bool, moment: datetime) -> bool:
    """Whether a stretch of `stats`' limits on that side is still going on at `moment`."""
    found: list[Excursion | Deviation] = [*stats.excursions, *stats.short_deviations]
    found += stats.carried
    return any(s.above == above and s.start < moment < s.end for s in found)


def touched_days(
    first: datetime, last: datetime, interval_s: float, tz: str = BERLIN
) -> list[date]:
    """The local days of `tz` whose numbers readings taken from `first` to `last` can change.

    A reading changes the time it covers (up to GAP_FACTOR × interval after it)
    and how long the reading before it holds (up to GAP_FACTOR × interval before
    it), so every day that [first - reach, last + reach] overlaps. Times are
    timezone-aware; `last` must not be before `first`.
    """
    if last < first:
        raise ValueError(f"last reading time {last} is before the first {first}")
    reach = timedelta(seconds=reach_s(interval_s))
    zone = ZoneInfo(tz)
    day = (first - reach).astimezone(zone).date()
    final = (last + reach).astimezone(zone).date()
    days = []
    while day <= final:
        days.append(day)
        day += timedelta(days=1)
    return days


def local_date(moment: datetime, tz: str = BERLIN) -> date:
    """The local calendar day of `tz` that a timezone-aware moment falls on."""
    if moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; pass an aware UTC datetime")
    return moment.astimezone(ZoneInfo(tz)).date()
