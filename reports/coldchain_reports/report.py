"""The period report of one asset: local days [first_day, last_day], numbers per day and in total.

Every number comes from `coldchain.compliance`, computed twice: against the
asset's alarm limits and against the category's legal maximum; the corrective
actions come from the alerts' closings (`coldchain.corrective`). This module
only assembles; `pdf` renders and `csv_rows` tabulates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from coldchain import compliance
from coldchain.compliance import PeriodStats, Sample
from coldchain.corrective import Closing, answered
from coldchain_reports.calibration import Calibration, CalibrationState, state
from coldchain_reports.errors import InvalidInput
from coldchain_reports.scope import Scope
from coldchain_reports.seal import Seal, utc_text

#: Longest period one report covers; a year of 5-second readings is 6.3 million rows.
MAX_DAYS = 366


@dataclass(frozen=True)
class Day:
    day: date
    alarm: PeriodStats
    legal: PeriodStats


@dataclass(frozen=True)
class AssetReport:
    scope: Scope
    first_day: date
    last_day: date
    alarm: PeriodStats
    legal: PeriodStats
    days: list[Day]
    samples: Sequence[Sample]
    seal: Seal
    calibration: Calibration | None
    actions: list[list[Closing]]
    """For each excursion beyond the alarm limits, the closings of the alerts answering it."""

    @property
    def calibration_state(self) -> CalibrationState:
        return state(self.calibration, self.last_day)


def period_bounds(first_day: date, last_day: date, timezone: str) -> tuple[datetime, datetime]:
    """UTC start of `first_day` and UTC end of `last_day`, both local days in `timezone`."""
    if last_day < first_day:
        raise InvalidInput(f"the period ends ({last_day}) before it starts ({first_day})")
    if (last_day - first_day).days >= MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days; split the period")
    start, _ = compliance.local_day_bounds(first_day, timezone)
    _, end = compliance.local_day_bounds(last_day, timezone)
    return start, end


def build(
    scope: Scope,
    first_day: date,
    last_day: date,
    samples: Sequence[Sample],
    calibration: Calibration | None,
    closings: Sequence[Closing],
) -> AssetReport:
    start, end = period_bounds(first_day, last_day, scope.timezone)
    interval_s = scope.sensor.interval_s
    tz = scope.timezone
    alarm_days = compliance.daily_stats(
        samples, first_day, last_day, scope.alarm_band, interval_s, tz
    )
    legal_days = compliance.daily_stats(
        samples, first_day, last_day, scope.legal_band, interval_s, tz
    )
    days = [
        Day(day=day, alarm=alarm, legal=legal)
        for (day, alarm), (_, legal) in zip(alarm_days, legal_days, strict=True)
    ]
    alarm = compliance.period_stats(samples, start, end, scope.alarm_band, interval_s)
    return AssetReport(
        scope=scope,
        first_day=first_day,
        last_day=last_day,
        alarm=alarm,
        legal=compliance.period_stats(samples, start, end, scope.legal_band, interval_s),
        days=days,
        samples=samples,
        seal=Seal.over(scope.asset.id, scope.sensor.id, start, end, samples),
        calibration=calibration,
        actions=answered(alarm.excursions, closings),
    )


CSV_COLUMNS = (
    "day",
    "start_utc",
    "end_utc",
    "duration_s",
    "readings",
    "covered_s",
    "coverage_pct",
    "min_c",
    "max_c",
    "mean_c",
    "mkt_c",
    "alarm_min_c",
    "alarm_max_c",
    "in_range_s",
    "time_in_range_pct",
    "beyond_alarm_s",
    "alarm_degree_minutes",
    "alarm_excursions",
    "regulatory_max_c",
    "above_regulatory_s",
    "regulatory_degree_minutes",
)


def csv_rows(report: AssetReport) -> list[dict[str, str]]:
    """One row per local day; numbers with a decimal point, empty where there is no reading."""
    limits = report.scope.limits
    rows = []
    for day in report.days:
        alarm, legal = day.alarm, day.legal
        values: dict[str, object] = {
            "day": day.day.isoformat(),
            "start_utc": utc_text(alarm.start),
            "end_utc": utc_text(alarm.end),
            "duration_s": alarm.duration_s,
            "readings": alarm.samples,
            "covered_s": alarm.covered_s,
            "coverage_pct": alarm.coverage_pct,
            "min_c": alarm.min_c,
            "max_c": alarm.max_c,
            "mean_c": alarm.mean_c,
            "mkt_c": alarm.mkt_c,
            "alarm_min_c": limits.min_c,
            "alarm_max_c": limits.max_c,
            "in_range_s": alarm.in_range_s,
            "time_in_range_pct": alarm.time_in_range_pct,
            "beyond_alarm_s": alarm.excursion_s,
            "alarm_degree_minutes": alarm.degree_minutes,
            "alarm_excursions": len(alarm.excursions),
            "regulatory_max_c": limits.regulatory_max_c,
            "above_regulatory_s": legal.excursion_s,
            "regulatory_degree_minutes": legal.degree_minutes,
        }
        rows.append({column: plain(values[column]) for column in CSV_COLUMNS})
    return rows


def plain(value: object) -> str:
    """A number as machine-readable text: floats to 3 decimals, None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    return str(value)
