"""The compliance figures per asset and local day, read from the daily rollup.

Ingest computes each sensor's local days with `coldchain.compliance.daily_stats`
(the function the reports use) and stores one point per day in
`compliance_daily` (`coldchain.rollup`), so a dashboard only reads 365 points a
year per asset instead of aggregating every reading: a year answers in
milliseconds, and the numbers are the reports' numbers by construction. The day
under way shows too, as ingest computed it so far, with `preliminary` true; once it
has ended (after local midnight, within ingest's rollup interval) the record of the
whole day replaces it.
"""

from __future__ import annotations

from coldchain import measurements
from coldchain_dashboards.influxql import ASSET_FILTER, SITE_FILTER, TIME_FILTER, where

#: Fields of a compliance_daily point (coldchain.rollup.DayRecord.fields) the table shows.
TABLE_FIELDS = (
    "preliminary",
    "coverage_pct",
    "time_in_range_pct",
    "time_in_legal_range_pct",
    "excursions_above",
    "excursions_below",
    "short_deviations",
    "excursion_s",
    "degree_minutes",
    "above_legal_s",
    "samples",
    "min_c",
    "max_c",
    "mean_c",
    "mkt_c",
    "alarm_min_c",
    "alarm_max_c",
    "legal_max_c",
    "calibration",
    "unverified_readings",
)
_FROM_ROLLUP = f'FROM "{measurements.COMPLIANCE_DAILY}"'
_WHERE = where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)


def daily_table() -> str:
    """Every figure of the table, one row per asset and local day (at its local midnight)."""
    columns = ", ".join(f'"{name}"' for name in TABLE_FIELDS)
    return f'SELECT {columns} {_FROM_ROLLUP} WHERE {_WHERE} GROUP BY "asset"'


def daily_shares(coverage: str, in_range: str) -> str:
    """Coverage and time in range (%) per asset and day, as series named by the legends."""
    return (
        f'SELECT "coverage_pct" AS "{coverage}", "time_in_range_pct" AS "{in_range}" '
        f'{_FROM_ROLLUP} WHERE {_WHERE} GROUP BY "asset"'
    )


def daily_temperatures(minimum: str, mean: str, maximum: str) -> str:
    """Minimum, mean, maximum and MKT (°C) per asset and day, as series named by the legends."""
    return (
        f'SELECT "min_c" AS "{minimum}", "mean_c" AS "{mean}", "max_c" AS "{maximum}", '
        f'"mkt_c" AS "MKT" {_FROM_ROLLUP} WHERE {_WHERE} GROUP BY "asset"'
    )
