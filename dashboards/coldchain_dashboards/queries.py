"""The compliance figures of coldchain.compliance as InfluxQL, per asset and local day.

Each function returns one statement over `$timeFilter`, grouped by local day (the
site's time zone, so daylight-saving days have 23 or 25 hours) and by asset. They
agree with `coldchain.compliance.daily_stats` for regularly sampled readings, one
per reporting interval, on days the dashboard's time range covers whole:

- coverage % and time in range % count readings per hour in a subquery filled with
  zeros, so the mean over a day's hours knows how long the day is: readings per hour
  x interval / 3600 s is the covered share of each hour.
- a reading exactly at a limit is in range; time beyond the band is the readings
  beyond it x the interval; degree-minutes add up (K beyond the limit) x interval.
- excursions count, per side of the band, runs of readings in consecutive intervals;
  a run that crosses midnight counts on both days, as the compliance report splits it.
- MKT is computed from exp(-ΔH/R / T) of every reading (InfluxQL has EXP and LN).

InfluxDB 1.x evaluates every aggregate of a statement in its own pass over the
readings, so each statement keeps its aggregates few.
"""

from __future__ import annotations

from coldchain import measurements
from coldchain.compliance import DELTA_H_OVER_R_K, KELVIN_AT_0_C
from coldchain_dashboards.assets import AssetGroup
from coldchain_dashboards.influxql import (
    ASSET_FILTER,
    SITE_FILTER,
    TIME_FILTER,
    number,
    tag_in,
    where,
)

TEMP = '"temp_c"'
_FROM_TEMPERATURE = f'FROM "{measurements.TEMPERATURE}"'


def readings(tz: str) -> str:
    """Readings, min, max and mean (°C) per asset and day."""
    return (
        f'SELECT count({TEMP}) AS "samples", min({TEMP}) AS "min_c", max({TEMP}) AS "max_c", '
        f'mean({TEMP}) AS "mean_c" {_FROM_TEMPERATURE} '
        f"WHERE {where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)} {_daily(tz)}"
    )


def mean_kinetic_temperature(tz: str) -> str:
    """MKT (°C) per asset and day: ΔH/R / -ln(mean(exp(-ΔH/R / T))) - 273.15."""
    kelvin = f"({TEMP} + {number(KELVIN_AT_0_C)})"
    arrhenius = (
        f'SELECT exp(-{number(DELTA_H_OVER_R_K)} / {kelvin}) AS "arrhenius" {_FROM_TEMPERATURE} '
        f"WHERE {where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)}"
    )
    return (
        f'SELECT {number(DELTA_H_OVER_R_K)} / (0 - ln(mean("arrhenius"))) '
        f'- {number(KELVIN_AT_0_C)} AS "mkt_c" FROM ({arrhenius}) WHERE {TIME_FILTER} {_daily(tz)}'
    )


def coverage(group: AssetGroup, tz: str) -> str:
    """Share of each day covered by a reading, %."""
    return _share_of_day(group, tz, [], "coverage_pct")


def time_in_range(group: AssetGroup, tz: str) -> str:
    """Share of each day covered by a reading inside the alarm band, %."""
    return _share_of_day(group, tz, _inside(group), "time_in_range_pct")


def time_in_legal_range(group: AssetGroup, tz: str) -> str:
    """Share of each day covered by a reading at or below the legal maximum, %."""
    limit = [f"{TEMP} <= {number(group.legal_max_c)}"]
    return _share_of_day(group, tz, limit, "time_in_legal_range_pct")


def beyond_band(group: AssetGroup, tz: str) -> str:
    """Time beyond the alarm band (s) and its degree-minutes (K·min) per day."""
    interval = group.interval_s
    beyond = (
        f'SELECT {_excess(group)} AS "excess_k" {_FROM_TEMPERATURE} '
        f"WHERE {where(*_group_filter(group), _outside(group), TIME_FILTER)}"
    )
    return (
        f'SELECT {number(interval)} * count("excess_k") AS "excursion_s", '
        f'{number(interval / 60)} * sum("excess_k") AS "degree_minutes" '
        f"FROM ({beyond}) WHERE {TIME_FILTER} {_daily(tz, fill='0')}"
    )


def excursions(group: AssetGroup, tz: str, side: str) -> str:
    """Excursions above (`side` "above") or below ("below") the band, per day.

    Readings beyond the limit are put into slots of one interval; `gap` is the time
    since the previous such slot, so a slot continues a run when the gap is one
    interval. Per day: runs = slots - continuations, plus one when the day's first
    slot continues a run from the day before (it starts a new piece of it). The
    first slot of the time range has no gap (no earlier slot is read): it starts a run.
    """
    band = group.band
    limit = band.max_c if side == "above" else band.min_c
    if limit is None:
        raise ValueError(f"band {band} has no limit {side}")
    beyond = f"{TEMP} > {number(limit)}" if side == "above" else f"{TEMP} < {number(limit)}"
    interval = f"{group.interval_s:g}s"
    slots = (
        f'SELECT count({TEMP}) AS "slots", elapsed(count({TEMP}), 1s) AS "gap" '
        f"{_FROM_TEMPERATURE} WHERE {where(*_group_filter(group), beyond, TIME_FILTER)} "
        f'GROUP BY time({interval}), "asset" fill(none)'
    )
    runs = (
        f'SELECT "slots", floor({number(group.interval_s)} / "gap") AS "continues" FROM ({slots})'
    )
    return (
        'SELECT count("slots") - sum("continues") '
        '+ (1 - count("slots") + count("continues")) * first("continues") '
        f'AS "excursions_{side}" FROM ({runs}) WHERE {TIME_FILTER} {_daily(tz, fill="0")}'
    )


def sides(group: AssetGroup) -> list[str]:
    """The sides of the band that have a limit."""
    band = group.band
    return [s for s, limit in (("above", band.max_c), ("below", band.min_c)) if limit is not None]


def _share_of_day(group: AssetGroup, tz: str, conditions: list[str], name: str) -> str:
    per_hour = (
        f'SELECT count({TEMP}) AS "readings" {_FROM_TEMPERATURE} '
        f"WHERE {where(*_group_filter(group), *conditions, TIME_FILTER)} "
        'GROUP BY time(1h), "asset" fill(0)'
    )
    return (
        f'SELECT 100 * mean("readings") * {number(group.interval_s)} / 3600 AS "{name}" '
        f"FROM ({per_hour}) WHERE {TIME_FILTER} {_daily(tz, fill='0')}"
    )


def _group_filter(group: AssetGroup) -> list[str]:
    return [SITE_FILTER, ASSET_FILTER, tag_in("asset", list(group.assets))]


def _inside(group: AssetGroup) -> list[str]:
    band = group.band
    conditions = []
    if band.min_c is not None:
        conditions.append(f"{TEMP} >= {number(band.min_c)}")
    if band.max_c is not None:
        conditions.append(f"{TEMP} <= {number(band.max_c)}")
    return conditions


def _outside(group: AssetGroup) -> str:
    band = group.band
    conditions = []
    if band.max_c is not None:
        conditions.append(f"{TEMP} > {number(band.max_c)}")
    if band.min_c is not None:
        conditions.append(f"{TEMP} < {number(band.min_c)}")
    return " OR ".join(conditions)


def _excess(group: AssetGroup) -> str:
    """K beyond the band of a reading beyond it (positive on either side)."""
    band = group.band
    if band.max_c is not None and band.min_c is not None:
        middle, half = (band.max_c + band.min_c) / 2, (band.max_c - band.min_c) / 2
        return f"abs({TEMP} - {number(middle)}) - {number(half)}"
    if band.max_c is not None:
        return f"{TEMP} - {number(band.max_c)}"
    assert band.min_c is not None
    return f"{number(band.min_c)} - {TEMP}"


def _daily(tz: str, fill: str = "null") -> str:
    return f"GROUP BY time(1d), \"asset\" fill({fill}) tz('{tz}')"
