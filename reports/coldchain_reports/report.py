"""The period report of one asset: local days [first_day, last_day], numbers per day and in total.

Every number comes from `coldchain.compliance`, computed twice: against the
asset's alarm limits and against the category's legal maximum; the corrective
actions come from the alerts' closings (`coldchain.corrective`). This module
only assembles; `pdf` renders, `csv_rows` tabulates and `to_json` writes it for machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from coldchain import compliance
from coldchain.compliance import Excursion, GraceEvent, PeriodStats, Sample
from coldchain.corrective import ClosedAlert, answered
from coldchain.signatures import preliminary, utc_text
from coldchain_reports import conventions, limit_periods
from coldchain_reports.calibration import Calibration, Marking, in_force, mark
from coldchain_reports.errors import InvalidInput
from coldchain_reports.limit_periods import LimitPeriod, LimitPoint
from coldchain_reports.scope import Scope
from coldchain_reports.seal import Seal

#: Longest period one report covers; a year of 5-second readings is 6.3 million rows.
MAX_DAYS = 366
KIND = "coldchain.compliance-report"
#: 2: signed (`signing`), `from`, `to`, `issued_at`, `preliminary`, `csv_sha256`.
#: 3: each day's `calibration` and `unverified_readings`.
VERSION = 3
#: The first version that is signed; `signing.verify` takes every one since.
SIGNED_SINCE = 2


@dataclass(frozen=True)
class Day:
    day: date
    alarm: PeriodStats
    legal: PeriodStats
    calibration: Marking
    """Which of the day's readings the probe took while unverified."""


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
    """The probe's check in force on the period's last day, if the records know one."""
    actions: list[list[ClosedAlert]]
    """For each excursion beyond the alarm limits (those carried into the period first),
    the closings of the alerts answering it."""
    issued_at: datetime
    limit_periods: list[LimitPeriod]
    """The fleet registry's versions in force during the period (empty: none, the fleet
    file's limits applied)."""

    @property
    def preliminary(self) -> bool:
        """Issued before the period's readings were all known (signatures.preliminary)."""
        return preliminary(self.alarm.end, self.issued_at, self.scope.reach_s)

    def day_preliminary(self, day: Day) -> bool:
        return preliminary(day.alarm.end, self.issued_at, self.scope.reach_s)

    @property
    def listed(self) -> list[Excursion]:
        """The excursions beyond the alarm limits to list: those carried into the period
        first, then those counted in it; `actions` has their closings in this order."""
        return [*self.alarm.carried, *self.alarm.excursions]

    @property
    def day_lengths(self) -> list[tuple[date, float]]:
        return [(day.day, day.alarm.duration_s) for day in self.days]

    def by_day(self, excursion: Excursion) -> list[tuple[date, float]]:
        """The excursion's degree-minutes on each local day of the period it touches."""
        return [
            (day.day, listed.degree_minutes_in_period)
            for day in self.days
            for listed in [*day.alarm.carried, *day.alarm.excursions]
            if listed.start == excursion.start and listed.above == excursion.above
        ]

    def counted_on(self, excursion: Excursion) -> date:
        """The local day an excursion counts on: the day it starts."""
        return excursion.start.astimezone(ZoneInfo(self.scope.timezone)).date()


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
    checks: Sequence[Calibration],
    closings: Sequence[ClosedAlert],
    events: Sequence[GraceEvent],
    issued_at: datetime,
    limit_points: Sequence[LimitPoint] = (),
) -> AssetReport:
    """The report from the readings and events compliance.judged_readings read for it,
    the probe's calibration `checks` (oldest first) and the asset's `fleet_limits`
    points that say which limits applied when."""
    start, end = period_bounds(first_day, last_day, scope.timezone)
    interval_s, tz, rules = scope.sensor.interval_s, scope.timezone, scope.rules

    def days_against(band: compliance.Band) -> list[tuple[date, PeriodStats]]:
        return compliance.daily_stats(
            samples, first_day, last_day, band, interval_s, tz, rules, events
        )

    def period_against(band: compliance.Band) -> PeriodStats:
        return compliance.period_stats(samples, start, end, band, interval_s, rules, events)

    alarm_days, legal_days = days_against(scope.alarm_band), days_against(scope.legal_band)
    times = sorted(sample.ts for sample in samples)
    days = [
        Day(
            day=day,
            alarm=alarm,
            legal=legal,
            calibration=mark(checks, alarm.start, alarm.end, tz, times),
        )
        for (day, alarm), (_, legal) in zip(alarm_days, legal_days, strict=True)
    ]
    alarm = period_against(scope.alarm_band)
    return AssetReport(
        scope=scope,
        first_day=first_day,
        last_day=last_day,
        alarm=alarm,
        legal=period_against(scope.legal_band),
        days=days,
        samples=[sample for sample in samples if start <= sample.ts < end],
        seal=Seal.over(scope.asset.id, scope.sensor.id, start, end, samples),
        calibration=in_force(checks, last_day),
        actions=answered([*alarm.carried, *alarm.excursions], closings),
        issued_at=issued_at,
        limit_periods=limit_periods.periods(limit_points, start, end),
    )


CSV_COLUMNS = (
    "day",
    "start_utc",
    "end_utc",
    "duration_s",
    "day_hours",
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
    "alarm_excursions_carried",
    "short_deviations",
    "short_deviation_s",
    "regulatory_max_c",
    "above_regulatory_s",
    "regulatory_degree_minutes",
    "regulatory_excursions",
    "calibration",
    "unverified_readings",
    "timezone",
    "interval_s",
    "reading_holds_at_most_s",
    "alarm_delay_s",
    "hysteresis_k",
    "door_grace_s",
    "defrost_grace_s",
    "absolute_max_c",
    "preliminary",
)


def csv_rows(report: AssetReport) -> list[dict[str, str]]:
    """One row per local day; numbers with a decimal point, empty where there is no reading.

    `calibration` says whether the probe was verified that day (`valid`, `unverified`,
    `partly_unverified`, `unknown`: coldchain.calibration.Marking.label) and
    `unverified_readings` how many of its readings it took while unverified.
    Each row carries the day's length in hours and the values of the conventions the day
    was judged by (conventions.as_json): a row read alone says how it was counted, and
    whether the day had ended when the report was issued (`preliminary`, true or false).
    """
    limits = report.scope.limits
    rules = conventions.as_json(report.scope, report.day_lengths)
    rows = []
    for day in report.days:
        alarm, legal = day.alarm, day.legal
        values: dict[str, object] = {
            "day": day.day.isoformat(),
            "start_utc": utc_text(alarm.start),
            "end_utc": utc_text(alarm.end),
            "duration_s": alarm.duration_s,
            "day_hours": alarm.duration_s / 3600,
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
            "alarm_excursions_carried": len(alarm.carried),
            "short_deviations": len(alarm.short_deviations),
            "short_deviation_s": sum(d.duration_s for d in alarm.short_deviations),
            "regulatory_max_c": limits.regulatory_max_c,
            "above_regulatory_s": legal.excursion_s,
            "regulatory_degree_minutes": legal.degree_minutes,
            "regulatory_excursions": len(legal.excursions),
            "calibration": day.calibration.label,
            "unverified_readings": day.calibration.readings,
            "preliminary": "true" if report.day_preliminary(day) else "false",
        } | {name: rules[name] for name in _CONVENTION_COLUMNS}
        rows.append({column: plain(values[column]) for column in CSV_COLUMNS})
    return rows


_CONVENTION_COLUMNS = (
    "timezone",
    "interval_s",
    "reading_holds_at_most_s",
    "alarm_delay_s",
    "hysteresis_k",
    "door_grace_s",
    "defrost_grace_s",
    "absolute_max_c",
)


def to_json(report: AssetReport, csv_sha256: str) -> dict[str, Any]:
    """The report's days, excursions and short deviations as JSON-ready data, with the
    conventions they were counted by: numbers rounded to 3 decimals, times in UTC.
    `csv_sha256` is the digest of the CSV file written with it, so the signature over
    this JSON also vouches for the CSV."""
    scope = report.scope
    return {
        "kind": KIND,
        "version": VERSION,
        "site": scope.site.id,
        "asset": scope.asset.id,
        "sensor": scope.sensor.id,
        "first_day": report.first_day.isoformat(),
        "last_day": report.last_day.isoformat(),
        "from": utc_text(report.alarm.start),
        "to": utc_text(report.alarm.end),
        "conventions": conventions.as_json(scope, report.day_lengths),
        "limit_periods": limit_periods.as_json(report.limit_periods),
        "days": [
            {column: value for column, value in row.items() if column not in _CONVENTION_COLUMNS}
            | {"preliminary": report.day_preliminary(day)}
            for row, day in zip(csv_rows(report), report.days, strict=True)
        ],
        "excursions": [
            {
                "from": utc_text(excursion.start),
                "to": utc_text(excursion.end),
                "ongoing": excursion.ongoing,
                "side": "above" if excursion.above else "below",
                "counted_on": report.counted_on(excursion).isoformat(),
                "alarm_at": utc_text(excursion.raised_at) if excursion.raised_at else None,
                "duration_s": _n(excursion.duration_s),
                "peak_c": _n(excursion.peak_c),
                "degree_minutes": _n(excursion.degree_minutes),
                "degree_minutes_by_day": {
                    day.isoformat(): _n(minutes) for day, minutes in report.by_day(excursion)
                },
            }
            for excursion in report.listed
        ],
        "short_deviations": [
            {
                "from": utc_text(deviation.start),
                "to": utc_text(deviation.end),
                "ongoing": deviation.ongoing,
                "side": "above" if deviation.above else "below",
                "duration_s": _n(deviation.duration_s),
                "peak_c": _n(deviation.peak_c),
                "degree_minutes": _n(deviation.degree_minutes),
                "held_back": deviation.held_back.value,
            }
            for deviation in report.alarm.short_deviations
        ],
        "digest": report.seal.digest,
        "seal": None if report.preliminary else report.seal.text(),
        "csv_sha256": csv_sha256,
        "issued_at": utc_text(report.issued_at),
        "preliminary": report.preliminary,
    }


def _n(value: float) -> float:
    return round(value, 3)


def plain(value: object) -> str:
    """A number as machine-readable text: floats to 3 decimals, None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    return str(value)
