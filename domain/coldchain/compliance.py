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
- A reading above `max_c` or below `min_c` makes the time it covers excursion
  time; a reading exactly at a limit is in range. Covered excursion time on the
  same side of the band, with no uncovered gap and no in-range reading between,
  is one Excursion, clipped to the period. Its degree-minutes are the sum of
  (K beyond the limit) x (minutes covered); its peak is the worst reading. A jump
  from above the band to below it (or back) starts a new excursion.
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
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

BERLIN = "Europe/Berlin"
DELTA_H_OVER_R_K = 10_000.0  # ΔH/R for ΔH = 83.144 kJ/mol (BRIEF)
#: A reading stands until the next one if that comes within this many intervals.
GAP_FACTOR = 1.5
KELVIN_AT_0_C = 273.15

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_US_PER_S = 1_000_000
_US_PER_MIN = 60 * _US_PER_S


@dataclass(frozen=True)
class Sample:
    """One reading: `ts` timezone-aware (UTC), `temp_c` in °C."""

    ts: datetime
    temp_c: float


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
class Excursion:
    """Time beyond the band, UTC [start, end) clipped to the period; °C and K·min."""

    start: datetime
    end: datetime
    peak_c: float
    degree_minutes: float


@dataclass(frozen=True)
class PeriodStats:
    """Compliance of one period, UTC [start, end); durations in s, temperatures in °C."""

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
    samples: Sequence[Sample], start: datetime, end: datetime, band: Band, interval_s: float
) -> PeriodStats:
    """Coverage, time in range, excursions and summary of readings over UTC [start, end).

    `interval_s` is the sensor's reporting interval in seconds: a reading holds
    for at most that long. The rules are in this module's docstring.
    """
    start_us, end_us = _us(start, "period start"), _us(end, "period end")
    if end_us <= start_us:
        raise ValueError(f"period end {end} must be after its start {start}")
    return _stats(_series(samples), start_us, end_us, band, _interval_us(interval_s))


def reach_s(interval_s: float) -> float:
    """How far outside a period (s) a reading still changes its numbers: GAP_FACTOR × interval.

    The last reading before the start may cover into the period, and the first
    reading after the end decides whether the period's last reading holds until
    the end. Read [start - reach, end + reach) to get the numbers of period_stats
    over every reading.
    """
    _interval_us(interval_s)
    return GAP_FACTOR * interval_s


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
) -> list[tuple[date, PeriodStats]]:
    """period_stats for each local day of `tz` from first_day to last_day, inclusive.

    Day bounds come from local_day_bounds; an excursion across midnight is split
    between the two days, so the days' durations and degree-minutes add up to
    those of the whole range.
    """
    if last_day < first_day:
        raise ValueError(f"last day {last_day} is before first day {first_day}")
    series = _series(samples)
    interval_us = _interval_us(interval_s)
    result = []
    for offset in range((last_day - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        start, end = local_day_bounds(day, tz)
        stats = _stats(series, _us(start, "day start"), _us(end, "day end"), band, interval_us)
        result.append((day, stats))
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
class _OpenExcursion:
    side: int
    start_us: int
    end_us: int
    peak_c: float
    degree_minutes: float

    def continues(self, side: int, start_us: int) -> bool:
        return self.side == side and self.end_us == start_us

    def extend(self, end_us: int, temp_c: float, degree_minutes: float) -> None:
        self.end_us = end_us
        self.degree_minutes += degree_minutes
        self.peak_c = max(self.peak_c, temp_c) if self.side > 0 else min(self.peak_c, temp_c)

    def close(self) -> Excursion:
        return Excursion(_utc(self.start_us), _utc(self.end_us), self.peak_c, self.degree_minutes)


def _series(samples: Sequence[Sample]) -> _Series:
    latest: dict[int, float] = {}
    for sample in samples:
        if not math.isfinite(sample.temp_c):
            raise ValueError(f"reading at {sample.ts} is {sample.temp_c}, not a temperature")
        latest[_us(sample.ts, "reading time")] = float(sample.temp_c)
    ordered = sorted(latest)
    return _Series(ordered, [latest[ts] for ts in ordered])


def _stats(
    series: _Series, start_us: int, end_us: int, band: Band, interval_us: int
) -> PeriodStats:
    ts, temps = series.ts_us, series.temps_c
    first_inside = bisect_left(ts, start_us)
    stop = bisect_left(ts, end_us)
    covered_us = in_range_us = excursion_us = 0
    degree_minutes = 0.0
    excursions: list[Excursion] = []
    current: _OpenExcursion | None = None
    # Only the last reading before the period can cover into it.
    for i in range(max(first_inside - 1, 0), stop):
        next_us = ts[i + 1] if i + 1 < len(ts) else None
        continuous = next_us is not None and next_us - ts[i] <= interval_us * GAP_FACTOR
        hold_end = next_us if continuous and next_us is not None else ts[i] + interval_us
        seg_start, seg_end = max(ts[i], start_us), min(hold_end, end_us)
        if seg_end <= seg_start:
            continue
        length = seg_end - seg_start
        covered_us += length
        side, excess_k = _beyond(temps[i], band)
        if side == 0:
            in_range_us += length
            if current is not None:
                excursions.append(current.close())
                current = None
            continue
        excursion_us += length
        minutes_k = excess_k * length / _US_PER_MIN
        degree_minutes += minutes_k
        if current is not None and current.continues(side, seg_start):
            current.extend(seg_end, temps[i], minutes_k)
            continue
        if current is not None:
            excursions.append(current.close())
        current = _OpenExcursion(side, seg_start, seg_end, temps[i], minutes_k)
    if current is not None:
        excursions.append(current.close())
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
    )


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
