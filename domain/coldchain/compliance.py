"""Compliance over a period: coverage, time in range, excursions, MKT, and a digest.

Units: temperatures in °C, durations in seconds, degree-minutes in K·min. Every
timestamp must be timezone-aware; results are in UTC. Pure: readings in, numbers
out; no clock is read.

The rules, so a report can quote them:

- Readings may come unsorted and repeated. They are sorted by time; for a time
  given more than once, the reading given last wins.
- Sample and hold: a reading at `ts` stands until the next reading when that
  comes within GAP_FACTOR × interval_s (real recorders jitter: readings 5.0003 s
  apart at a 5 s interval are continuous); otherwise it stands for interval_s and
  the rest of the gap is uncovered. Coverage always ends at the period end. A
  reading shortly before the period start covers into the period (at start - 30 s
  with interval_s 60 it covers [start, start + 30 s)).
- Time without data is neither in range nor an excursion, and it is never
  compliant: time in range is a share of the whole period, not of covered time.
- A reading above `max_c` or below `min_c` makes the time it covers time beyond
  the limit; a reading exactly at a limit is in range. Time beyond, its
  degree-minutes (K beyond the limit x minutes covered) and every other
  time-weighted number count covered time only.
- Excursions are delimited as the rule engine delimits them, by
  `coldchain.excursion.advance` with the asset's limits (`Rules`): a stretch
  beyond a limit starts at the first reading beyond it and ends at the first
  reading back inside by the hysteresis, so a value wobbling around the limit is
  one stretch, and a gap in the readings does not end it. It is an Excursion
  once it has lasted the alarm delay in reading time; a door opening or a
  defrost holds it back for their grace, but never past the delay plus the
  longest grace in force; a reading beyond the absolute maximum makes it one at
  once (a defrost holds that back, a door opening does not). A stretch that
  ends before that is a Deviation, listed apart with the reason. Readings
  outside the plausible range are a probe fault: they neither start nor end a
  stretch. The peak is the worst reading, the degree-minutes count its whole
  covered time.
- A stretch is judged as a whole and counted in the period it starts in, also
  when it runs past the period's end; its degree-minutes inside the period are
  `degree_minutes_in_period`. One in progress when the period starts is
  `carried` into it.
- The readings that judge a period are read by `judged_readings`: back to the
  last reading before it that ends every stretch (when one may be in progress
  at its start), forward to the first that does (when one is in progress at
  its end), at most JUDGING_BOUND_S beyond either edge; a stretch longer than
  that is judged from the bound on. Door openings and defrost starts are read
  from the longest grace before those readings.
- min, max, mean and MKT are over the readings with start <= ts < end; None
  when there are none.
- Mean kinetic temperature, with T_i in kelvin (°C + 273.15) and ΔH/R in K:
  MKT = (ΔH/R) / -ln((1/n) * Σ exp(-(ΔH/R) / T_i)), returned in °C.
- A day is a local calendar day of a time zone, from local midnight to the next
  local midnight: 23 h or 25 h on daylight-saving days.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from coldchain.contract import EventKind, Severity
from coldchain.excursion import (
    ABSOLUTE_RULE,
    Direction,
    Episode,
    Grace,
    StepKind,
    Threshold,
    advance,
    grace_at,
    grace_until,
)
from coldchain.limits import Limits

BERLIN = "Europe/Berlin"
DELTA_H_OVER_R_K = 10_000.0  # ΔH/R for ΔH = 83.144 kJ/mol (BRIEF)
#: A reading stands until the next one if that comes within this many intervals.
GAP_FACTOR = 1.5
KELVIN_AT_0_C = 273.15
#: How far beyond a period's edges (s) readings are read to judge a stretch beyond a
#: limit in progress there: a week, the longest delivery a certificate covers.
JUDGING_BOUND_S = 7 * 86400.0

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_US_PER_S = 1_000_000
_US_PER_MIN = 60 * _US_PER_S
_NO_GRACE = Grace(door=False, defrost=False, cap_s=0.0)
_GRACE_KINDS = (EventKind.DOOR_OPEN, EventKind.DEFROST_START)


@dataclass(frozen=True)
class Sample:
    """One reading: `ts` timezone-aware (UTC), `temp_c` in °C."""

    ts: datetime
    temp_c: float


@dataclass(frozen=True)
class GraceEvent:
    """A door opening or defrost start of the asset at `ts` (UTC); other kinds start no grace."""

    ts: datetime
    kind: EventKind


@dataclass(frozen=True)
class Band:
    """Limits to judge against, °C; None = no limit on that side."""

    max_c: float | None
    min_c: float | None = None

    def __post_init__(self) -> None:
        if self.max_c is not None and self.min_c is not None and self.min_c > self.max_c:
            raise ValueError(
                f"band minimum {self.min_c} °C is above its maximum {self.max_c} °C; swap them"
            )


@dataclass(frozen=True)
class Rules:
    """How stretches beyond a band are judged: the rule engine's rules with an asset's
    `limits` (alarm delay, hysteresis, absolute maximum, door and defrost graces, defrost
    schedule in the site's `timezone`, plausible range).

    Without limits a stretch is an excursion from its first reading and ends at the
    first reading back inside: no delay, hysteresis, grace or absolute maximum.
    """

    limits: Limits | None = None
    timezone: str = BERLIN

    @property
    def delay_s(self) -> float:
        return self.limits.delay_s if self.limits else 0.0

    @property
    def hysteresis_k(self) -> float:
        return self.limits.hysteresis_k if self.limits else 0.0

    @property
    def lookback_s(self) -> float:
        """How long before a reading (s) a door opening or defrost start can still hold it."""
        if self.limits is None:
            return 0.0
        return max(self.limits.door_grace_s, self.limits.defrost_grace_s)

    def plausible(self) -> tuple[float, float]:
        if self.limits is None:
            return -math.inf, math.inf
        return self.limits.plausible_min_c, self.limits.plausible_max_c


class HeldBack(StrEnum):
    """Why a stretch beyond a limit was not an excursion."""

    DELAY = "delay"
    """It ended before it had lasted the alarm delay."""
    GRACE = "grace"
    """It lasted the delay, but ended while a door opening's or a defrost's grace held it."""


@dataclass(frozen=True)
class Excursion:
    """A stretch beyond a limit that the engine's rules make an excursion; UTC, °C, K·min.

    From `start`, the first reading beyond the limit, to `end`, the first reading
    back inside by the hysteresis; `ongoing` when the readings stop before that,
    and `end` is then where the last one's cover ends. `raised_at`: the reading at
    which it became an excursion. `degree_minutes` is the whole excursion's,
    `degree_minutes_in_period` the part inside the period it is listed for.
    """

    start: datetime
    end: datetime
    peak_c: float
    degree_minutes: float
    above: bool = True
    raised_at: datetime | None = None
    ongoing: bool = False
    degree_minutes_in_period: float = 0.0

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class Deviation:
    """A stretch beyond a limit too short to be an excursion, and why (`held_back`).

    Times, peak and degree-minutes as in Excursion; `ongoing` when the readings stop
    before it ended (then it is not decided yet).
    """

    start: datetime
    end: datetime
    peak_c: float
    degree_minutes: float
    above: bool
    held_back: HeldBack
    ongoing: bool = False
    degree_minutes_in_period: float = 0.0

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class PeriodStats:
    """Compliance of one period, UTC [start, end); durations in s, temperatures in °C.

    `excursions` and `short_deviations` start in the period; `carried` are the
    excursions that started before it and were still going on at its start.
    """

    start: datetime
    end: datetime
    duration_s: float
    covered_s: float
    coverage_pct: float
    in_range_s: float
    time_in_range_pct: float
    excursions: list[Excursion]
    excursion_s: float
    degree_minutes: float
    samples: int
    min_c: float | None
    max_c: float | None
    mean_c: float | None
    mkt_c: float | None
    short_deviations: list[Deviation] = field(default_factory=list)
    carried: list[Excursion] = field(default_factory=list)


def mean_kinetic_temperature_c(
    temps_c: Sequence[float], delta_h_over_r_k: float = DELTA_H_OVER_R_K
) -> float:
    """Mean kinetic temperature in °C of temperatures in °C, with ΔH/R in kelvin.

    MKT = (ΔH/R) / -ln((1/n) * Σ exp(-(ΔH/R) / T_i)), T_i = temp_c + 273.15 K.
    Never below the arithmetic mean: warm spells weigh more than cold ones.
    """
    if len(temps_c) == 0:
        raise ValueError("mean kinetic temperature needs at least one temperature")
    if not delta_h_over_r_k > 0:
        raise ValueError(f"ΔH/R must be a positive number of kelvin, not {delta_h_over_r_k}")
    kelvins = [temp_c + KELVIN_AT_0_C for temp_c in temps_c]
    if not min(kelvins) > 0:
        raise ValueError(f"temperature {min(temps_c)} °C is at or below absolute zero")
    exponents = [-delta_h_over_r_k / kelvin for kelvin in kelvins]
    # Shift by the largest exponent before exp so small terms do not underflow.
    top = max(exponents)
    mean_exp = math.fsum(math.exp(x - top) for x in exponents) / len(exponents)
    return delta_h_over_r_k / -(top + math.log(mean_exp)) - KELVIN_AT_0_C


def period_stats(
    samples: Sequence[Sample],
    start: datetime,
    end: datetime,
    band: Band,
    interval_s: float,
    rules: Rules | None = None,
    events: Sequence[GraceEvent] = (),
) -> PeriodStats:
    """Coverage, time in range, excursions and summary of readings over UTC [start, end).

    `interval_s` is the sensor's reporting interval in seconds: a reading holds
    for at most that long. Stretches beyond the band are judged by `rules` with the
    asset's door openings and defrost starts `events` over every reading given
    (`judged_readings` reads them). The rules are in this module's docstring.
    """
    start_us, end_us = _us(start, "period start"), _us(end, "period end")
    if end_us <= start_us:
        raise ValueError(f"period end {end} must be after its start {start}")
    series, interval_us = _series(samples), _interval_us(interval_s)
    runs = _judge(series, band, rules or Rules(), events, interval_us)
    return _stats(series, start_us, end_us, band, interval_us, runs)


def reach_s(interval_s: float) -> float:
    """How far outside a period (s) a reading still changes its time-weighted numbers:
    GAP_FACTOR × interval.

    The last reading before the start may cover into the period, and the first
    reading after the end decides whether the period's last reading holds until
    the end. Read [start - reach, end + reach] for those numbers; `judged_readings`
    reads that and what an excursion across the period's edges needs besides.
    """
    _interval_us(interval_s)
    return GAP_FACTOR * interval_s


class ReadingStore(Protocol):
    """What `judged_readings` asks of a store of one sensor's readings and its asset's
    events (an adapter: InfluxDB in ingest and in the reports). Times are UTC. It holds
    one reading per time, the last written (InfluxDB keeps one point per series and
    time), so what its queries find agrees with the readings it returns."""

    def readings(self, first: datetime, last: datetime) -> list[Sample]:
        """The readings with first <= ts <= last."""
        ...

    def last_time(
        self, since: datetime, before: datetime, low_c: float, high_c: float
    ) -> datetime | None:
        """The time of the last reading with since <= ts < before and low_c <= temp_c <= high_c."""
        ...

    def first_time(
        self, after: datetime, until: datetime, low_c: float, high_c: float
    ) -> datetime | None:
        """The time of the first reading with after < ts <= until and low_c <= temp_c <= high_c."""
        ...

    def grace_events(self, first: datetime, last: datetime) -> list[GraceEvent]:
        """The asset's door openings and defrost starts with first <= ts <= last."""
        ...


@dataclass(frozen=True)
class Judged:
    """The readings that judge a period (first <= ts <= last, UTC) and the asset's events."""

    samples: list[Sample]
    events: list[GraceEvent]
    first: datetime
    last: datetime


def judged_readings(
    store: ReadingStore,
    start: datetime,
    end: datetime,
    interval_s: float,
    bands: Sequence[Band],
    rules: Rules,
) -> Judged:
    """Read the readings and events that give UTC [start, end) its numbers against `bands`.

    Always reach_s(interval_s) around the period. When a stretch beyond a limit may
    be in progress at `start` (no reading before it among those ends every stretch,
    and the last reading beyond a limit came after the last that does), back to the
    last reading that ends every stretch; when one that starts before `end` is still
    going on at the last reading read, forward to the first that ends every stretch;
    each at most JUDGING_BOUND_S beyond the period. Events from rules.lookback_s
    before the first reading read.
    """
    reach = timedelta(seconds=reach_s(interval_s))
    bound = timedelta(seconds=JUDGING_BOUND_S)
    first, last = start - reach, end + reach
    samples = store.readings(first, last)
    edges = _Edges.of(bands, rules)
    begun = _begun_before(store, samples, start, bound, edges)
    if begun is not None and begun < first:
        samples = store.readings(begun, first - _MICROSECOND) + samples
        first = begun
    if _going_on(samples, end, bands, rules):
        until = store.first_time(last, end + bound, edges.settled_low, edges.settled_high)
        until = until or end + bound
        samples += store.readings(last + _MICROSECOND, until)
        last = until
    lookback = timedelta(seconds=rules.lookback_s)
    return Judged(samples, store.grace_events(first - lookback, last), first, last)


@dataclass(frozen=True)
class _Edges:
    """°C that tell of one plausible reading whether it ends every stretch beyond the
    bands' limits (settled_low..settled_high) or starts or continues one (outside
    beyond_low..beyond_high)."""

    settled_low: float
    settled_high: float
    beyond_low: float
    beyond_high: float
    plausible_low: float
    plausible_high: float

    @classmethod
    def of(cls, bands: Sequence[Band], rules: Rules) -> _Edges:
        thresholds = [t for band in bands for t in _all_levels(band, rules)]
        above = [t for t in thresholds if t.direction is Direction.ABOVE]
        below = [t for t in thresholds if t.direction is Direction.BELOW]
        low, high = rules.plausible()
        return cls(
            settled_low=max([low, *(t.level_c + t.hysteresis_k for t in below)]),
            settled_high=min([high, *(t.level_c - t.hysteresis_k for t in above)]),
            beyond_low=max((t.level_c for t in below), default=-math.inf),
            beyond_high=min((t.level_c for t in above), default=math.inf),
            plausible_low=low,
            plausible_high=high,
        )

    def settled(self, temp_c: float) -> bool:
        return self.settled_low <= temp_c <= self.settled_high


def _begun_before(
    store: ReadingStore, samples: list[Sample], start: datetime, bound: timedelta, edges: _Edges
) -> datetime | None:
    """Where to read from when a stretch may be in progress at `start`; None when not."""
    if any(edges.settled(s.temp_c) for s in samples if s.ts < start):
        return None
    since = start - bound
    settled = store.last_time(since, start, edges.settled_low, edges.settled_high)
    beyond = [
        store.last_time(since, start, math.nextafter(edges.beyond_high, math.inf),
                        edges.plausible_high) if edges.beyond_high < edges.plausible_high else None,
        store.last_time(since, start, edges.plausible_low,
                        math.nextafter(edges.beyond_low, -math.inf))
        if edges.beyond_low > edges.plausible_low else None,
    ]  # fmt: skip
    latest = max((t for t in beyond if t is not None), default=None)
    if latest is None or (settled is not None and settled > latest):
        return None
    return settled or since


def _going_on(samples: list[Sample], end: datetime, bands: Sequence[Band], rules: Rules) -> bool:
    """Whether a stretch that starts before `end` is still going on at the last reading."""
    series = _series(samples)
    thresholds = [t for band in bands for t in _all_levels(band, rules)]
    low, high = rules.plausible()
    quiet_low, quiet_high = _quiet(thresholds)
    started: dict[int, int] = {}  # by the threshold's index: when its stretch started
    for ts_us, temp_c in zip(series.ts_us, series.temps_c, strict=True):
        if not low <= temp_c <= high or (not started and quiet_low <= temp_c <= quiet_high):
            continue
        for index, threshold in enumerate(thresholds):
            if index in started:
                if threshold.back_inside(temp_c):
                    del started[index]
            elif threshold.beyond(temp_c):
                started[index] = ts_us
    end_us = _us(end, "period end")
    return any(start_us < end_us for start_us in started.values())


def _quiet(thresholds: Sequence[Threshold]) -> tuple[float, float]:
    """°C within every level: a reading there starts nothing (it may end something)."""
    below = [t.level_c for t in thresholds if t.direction is Direction.BELOW]
    above = [t.level_c for t in thresholds if t.direction is Direction.ABOVE]
    return max(below, default=-math.inf), min(above, default=math.inf)


def _all_levels(band: Band, rules: Rules) -> list[Threshold]:
    levels, absolute = _levels(band, rules)
    return [*levels, *([absolute] if absolute else [])]


def local_day_bounds(day: date, tz: str = BERLIN) -> tuple[datetime, datetime]:
    """UTC start and end of the local calendar `day` in IANA zone `tz` (23, 24 or 25 h)."""
    zone = _zone(tz)
    return _local_midnight(day, zone), _local_midnight(day + timedelta(days=1), zone)


def daily_stats(
    samples: Sequence[Sample],
    first_day: date,
    last_day: date,
    band: Band,
    interval_s: float,
    tz: str = BERLIN,
    rules: Rules | None = None,
    events: Sequence[GraceEvent] = (),
) -> list[tuple[date, PeriodStats]]:
    """period_stats for each local day of `tz` from first_day to last_day, inclusive.

    Day bounds come from local_day_bounds. Time-weighted numbers are split at
    midnight, so the days' durations and degree-minutes add up to those of the whole
    range; an excursion across midnight is judged as a whole and counted on the day
    it starts, and is `carried` into the next.
    """
    if last_day < first_day:
        raise ValueError(f"last day {last_day} is before first day {first_day}")
    series = _series(samples)
    interval_us = _interval_us(interval_s)
    runs = _judge(series, band, rules or Rules(timezone=tz), events, interval_us)
    result = []
    for offset in range((last_day - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        start, end = local_day_bounds(day, tz)
        start_us, end_us = _us(start, "day start"), _us(end, "day end")
        result.append((day, _stats(series, start_us, end_us, band, interval_us, runs)))
    return result


def digest(samples: Sequence[Sample], sensor: str) -> str:
    """SHA-256 (lower-case hex) of a canonical text of one sensor's readings.

    The readings are normalised as everywhere in this module (sorted by time, the
    last reading given for a time wins). Each becomes one line
    `sensor,ts_ns,temp_c`: ts_ns is the integer count of nanoseconds since
    1970-01-01T00:00:00Z, temp_c is Python's repr() of the float in °C. Lines are
    joined with "\\n" (no trailing newline) and hashed as UTF-8. Example: sensor
    "van-3.chilled" with readings 4.5 °C at 2026-06-01T00:00:00Z and 5.0 °C one
    minute later gives the text
    "van-3.chilled,1780272000000000000,4.5\\nvan-3.chilled,1780272060000000000,5.0",
    so `printf '%s\\n%s' LINE1 LINE2 | sha256sum` recomputes the digest.
    No readings give the SHA-256 of the empty text.
    """
    if "," in sensor or "\n" in sensor:
        raise ValueError(f"sensor id {sensor!r} may not contain ',' or a newline")
    series = _series(samples)
    lines = [
        f"{sensor},{ts_us * 1000},{temp_c!r}"
        for ts_us, temp_c in zip(series.ts_us, series.temps_c, strict=True)
    ]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Series:
    """Readings sorted by time, one per time: microseconds since the epoch and °C."""

    ts_us: list[int]
    temps_c: list[float]


@dataclass
class _Run:
    """A stretch beyond one limit of a band as the engine's rules judge it (µs since the
    epoch, °C, s); `end_us` None while it goes on past the last reading."""

    above: bool
    start_us: int
    last: int
    """Index of the last reading that kept it going."""
    peak_c: float
    limit_c: float
    delay_s: float
    end_us: int | None = None
    raised_us: int | None = None
    lasted_s: float = 0.0
    """How long it had lasted at the last reading that kept it going."""
    degree_minutes: float = 0.0


class _Graces:
    """The graces of an asset's door openings and defrost starts, reading by reading in
    time order, as the engine keeps them (an event before a reading at the same time)."""

    def __init__(self, rules: Rules, events: Sequence[GraceEvent]) -> None:
        self._rules = rules
        self._events = sorted(
            ((_us(e.ts, "event time"), e.kind) for e in events if e.kind in _GRACE_KINDS),
            key=lambda event: event[0],
        )
        self._next = 0
        self._door: datetime | None = None
        self._defrost: datetime | None = None

    def at(self, ts_us: int) -> Grace:
        limits = self._rules.limits
        if limits is None:
            return _NO_GRACE
        while self._next < len(self._events) and self._events[self._next][0] <= ts_us:
            event_us, kind = self._events[self._next]
            if kind is EventKind.DOOR_OPEN:
                self._door = grace_until(self._door, _utc(event_us), limits.door_grace_s)
            else:
                self._defrost = grace_until(self._defrost, _utc(event_us), limits.defrost_grace_s)
            self._next += 1
        return grace_at(limits, self._rules.timezone, _utc(ts_us), self._door, self._defrost)


def _levels(band: Band, rules: Rules) -> tuple[list[Threshold], Threshold | None]:
    """The band's limits as the engine's level rules, and the absolute maximum (at once)."""
    delay_s, hysteresis_k = rules.delay_s, rules.hysteresis_k
    levels = []
    if band.max_c is not None:
        levels.append(
            Threshold("over_max", Severity.CRITICAL, Direction.ABOVE, band.max_c, delay_s,
                      hysteresis_k)
        )  # fmt: skip
    if band.min_c is not None:
        levels.append(
            Threshold("under_min", Severity.CRITICAL, Direction.BELOW, band.min_c, delay_s,
                      hysteresis_k)
        )  # fmt: skip
    limits = rules.limits
    if band.max_c is None or limits is None or limits.absolute_max_c is None:
        return levels, None
    absolute = Threshold(
        ABSOLUTE_RULE, Severity.CRITICAL, Direction.ABOVE, limits.absolute_max_c, 0.0, hysteresis_k
    )
    return levels, absolute


def _judge(
    series: _Series, band: Band, rules: Rules, events: Sequence[GraceEvent], interval_us: int
) -> list[_Run]:
    """Every stretch beyond the band's limits in the readings, oldest first, judged with
    coldchain.excursion.advance as the engine judges them."""
    levels, absolute = _levels(band, rules)
    if not levels:
        return []
    thresholds = [*levels, *([absolute] if absolute else [])]
    low, high = rules.plausible()
    quiet_low, quiet_high = _quiet(thresholds)
    graces = _Graces(rules, events)
    episodes: dict[str, Episode] = {}
    going: dict[str, _Run] = {}
    runs: list[_Run] = []
    for index, (ts_us, temp_c) in enumerate(zip(series.ts_us, series.temps_c, strict=True)):
        if not low <= temp_c <= high or (not episodes and quiet_low <= temp_c <= quiet_high):
            continue
        grace, ts = graces.at(ts_us), _utc(ts_us)
        for threshold in thresholds:
            before = episodes.get(threshold.rule)
            episode, step = advance(
                threshold, before, ts, temp_c, grace.suppresses(threshold), grace.cap_s
            )
            if episode is None:
                episodes.pop(threshold.rule, None)
            else:
                episodes[threshold.rule] = episode
            raised = step is not None and step.kind is StepKind.RAISED
            if threshold is absolute:
                warm = going.get("over_max")
                if raised and warm is not None:
                    warm.raised_us = min(warm.raised_us or ts_us, ts_us)
                continue
            run = going.get(threshold.rule)
            if before is None and episode is not None:
                above = threshold.direction is Direction.ABOVE
                run = going[threshold.rule] = _Run(
                    above, ts_us, index, temp_c, threshold.level_c, threshold.delay_s
                )
            if run is None:
                continue
            if raised and run.raised_us is None:
                run.raised_us = ts_us
            if episode is None and step is not None:
                run.end_us, run.peak_c = ts_us, step.episode.peak_c
                runs.append(going.pop(threshold.rule))
            elif episode is not None:
                run.peak_c, run.lasted_s, run.last = episode.peak_c, episode.held_s(ts), index
    runs += going.values()
    runs.sort(key=lambda run: run.start_us)
    for run in runs:
        run.degree_minutes = _run_minutes(series, run, interval_us, None)
    return runs


def _run_minutes(
    series: _Series, run: _Run, interval_us: int, clip: tuple[int, int] | None
) -> float:
    """K·min of the covered time of a stretch (within `clip`, µs, when given)."""
    ts, limit = series.ts_us, run.limit_c
    stop = bisect_left(ts, run.end_us) if run.end_us is not None else run.last + 1
    total = 0.0
    for i in range(bisect_left(ts, run.start_us), stop):
        excess = series.temps_c[i] - limit if run.above else limit - series.temps_c[i]
        if excess <= 0:
            continue
        seg_start, seg_end = ts[i], _hold_end(ts, i, interval_us)
        if clip is not None:
            seg_start, seg_end = max(seg_start, clip[0]), min(seg_end, clip[1])
        if seg_end > seg_start:
            total += excess * (seg_end - seg_start) / _US_PER_MIN
    return total


def _run_end_us(series: _Series, run: _Run, interval_us: int) -> int:
    return run.end_us if run.end_us is not None else _hold_end(series.ts_us, run.last, interval_us)


def _listed(
    series: _Series, run: _Run, interval_us: int, clip: tuple[int, int]
) -> Excursion | Deviation:
    """The stretch as listed for the period `clip` (µs): an excursion if it raised."""
    start, end = _utc(run.start_us), _utc(_run_end_us(series, run, interval_us))
    in_period = _run_minutes(series, run, interval_us, clip)
    ongoing = run.end_us is None
    if run.raised_us is not None:
        return Excursion(
            start, end, run.peak_c, run.degree_minutes, run.above, _utc(run.raised_us),
            ongoing, in_period,
        )  # fmt: skip
    held_back = HeldBack.DELAY if run.lasted_s < run.delay_s else HeldBack.GRACE
    return Deviation(
        start, end, run.peak_c, run.degree_minutes, run.above, held_back, ongoing, in_period
    )


def _series(samples: Sequence[Sample]) -> _Series:
    latest: dict[int, float] = {}
    for sample in samples:
        if not math.isfinite(sample.temp_c):
            raise ValueError(f"reading at {sample.ts} is {sample.temp_c}, not a temperature")
        latest[_us(sample.ts, "reading time")] = float(sample.temp_c)
    ordered = sorted(latest)
    return _Series(ordered, [latest[ts] for ts in ordered])


def _stats(
    series: _Series, start_us: int, end_us: int, band: Band, interval_us: int, runs: list[_Run]
) -> PeriodStats:
    ts, temps = series.ts_us, series.temps_c
    first_inside = bisect_left(ts, start_us)
    stop = bisect_left(ts, end_us)
    covered_us = in_range_us = excursion_us = 0
    degree_minutes = 0.0
    # Only the last reading before the period can cover into it.
    for i in range(max(first_inside - 1, 0), stop):
        seg_start, seg_end = max(ts[i], start_us), min(_hold_end(ts, i, interval_us), end_us)
        if seg_end <= seg_start:
            continue
        length = seg_end - seg_start
        covered_us += length
        side, excess_k = _beyond(temps[i], band)
        if side == 0:
            in_range_us += length
            continue
        excursion_us += length
        degree_minutes += excess_k * length / _US_PER_MIN
    excursions: list[Excursion] = []
    deviations: list[Deviation] = []
    carried: list[Excursion] = []
    clip = (start_us, end_us)
    for run in runs:
        if run.start_us >= end_us or _run_end_us(series, run, interval_us) <= start_us:
            continue
        listed = _listed(series, run, interval_us, clip)
        if isinstance(listed, Deviation):
            if run.start_us >= start_us:
                deviations.append(listed)
        elif run.start_us >= start_us:
            excursions.append(listed)
        else:
            carried.append(listed)
    inside = temps[first_inside:stop]
    duration_us = end_us - start_us
    return PeriodStats(
        start=_utc(start_us),
        end=_utc(end_us),
        duration_s=duration_us / _US_PER_S,
        covered_s=covered_us / _US_PER_S,
        coverage_pct=covered_us * 100 / duration_us,
        in_range_s=in_range_us / _US_PER_S,
        time_in_range_pct=in_range_us * 100 / duration_us,
        excursions=excursions,
        excursion_s=excursion_us / _US_PER_S,
        degree_minutes=degree_minutes,
        samples=len(inside),
        min_c=min(inside) if inside else None,
        max_c=max(inside) if inside else None,
        mean_c=math.fsum(inside) / len(inside) if inside else None,
        mkt_c=mean_kinetic_temperature_c(inside) if inside else None,
        short_deviations=deviations,
        carried=carried,
    )


def _hold_end(ts: list[int], i: int, interval_us: int) -> int:
    """Until when (µs) reading i stands: the next reading if that comes within
    GAP_FACTOR intervals, else one interval."""
    if i + 1 < len(ts) and ts[i + 1] - ts[i] <= interval_us * GAP_FACTOR:
        return ts[i + 1]
    return ts[i] + interval_us


def _beyond(temp_c: float, band: Band) -> tuple[int, float]:
    """(+1 above / -1 below / 0 inside, K beyond the limit)."""
    if band.max_c is not None and temp_c > band.max_c:
        return 1, temp_c - band.max_c
    if band.min_c is not None and temp_c < band.min_c:
        return -1, band.min_c - temp_c
    return 0, 0.0


def _us(ts: datetime, what: str) -> int:
    if ts.utcoffset() is None:
        raise ValueError(f"{what} {ts.isoformat()} has no time zone; pass aware UTC datetimes")
    return (ts - _EPOCH) // _MICROSECOND


def _utc(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _interval_us(interval_s: float) -> int:
    interval_us = round(interval_s * _US_PER_S) if math.isfinite(interval_s) else 0
    if interval_us <= 0:
        raise ValueError(
            f"reporting interval must be a positive number of seconds, not {interval_s}"
        )
    return interval_us


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}; use an IANA name such as {BERLIN!r}") from None


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # If midnight falls into a gap, fold=0 maps it to the first instant of the day.
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
