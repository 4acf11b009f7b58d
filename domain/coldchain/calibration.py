"""Recorder calibration (EN 13486: a yearly check of each recorder). Pure.

A check compares a probe with a reference instrument: when (`checked_on`), against
what (`reference`), the largest deviation found (`deviation_k`, K), by whom, and when
the next one is due (`due_on`, by default a year later). A probe is verified on a day
while its latest check made by then is not overdue and found at most ±1 K; a report
or certificate says "unverified" otherwise, and the alerts service raises the
maintenance alert `probe_unverified` (`unverified_event`).

The calibration lab's CSV, which `coldchain-report --calibration` reads and
`coldchain-alerts calibration import` takes into the register, has a header row and
one row per check:

    sensor,checked_on,due_on,deviation_k,reference,checked_by
    cold-room-1.air,2025-01-14,2026-01-14,-0.3,DAkkS cert. 4711,Kalibrierlabor Nord

`deviation_k`, `checked_by` and their columns are optional; a blank `due_on` means a
year after `checked_on`. Dates are local days of the probe's site.
"""

from __future__ import annotations

import csv
import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from coldchain.alerting import maintenance_event
from coldchain.contract import AlertEvent, AlertState

COLUMNS = ("sensor", "checked_on", "due_on", "reference")
#: Optional columns: a blank cell, or no such column, means not recorded.
DEVIATION = "deviation_k"
CHECKED_BY = "checked_by"
#: The columns `coldchain-alerts calibration export` writes, in this order.
EXPORT_COLUMNS = ("sensor", "checked_on", "due_on", DEVIATION, "reference", CHECKED_BY)
#: EN 12830 accuracy class 1, the class a recorder of chilled food needs.
MAX_DEVIATION_K = 1.0
#: The maintenance alert's rule (coldchain.rulenames names it).
RULE = "probe_unverified"
#: How to write a row that was refused.
ROW_HINT = f"write dates as YYYY-MM-DD and {DEVIATION} in kelvin like -0.3"


@dataclass(frozen=True)
class Calibration:
    sensor: str
    checked_on: date
    due_on: date
    reference: str
    deviation_k: float | None = None
    checked_by: str | None = None


class CalibrationState(StrEnum):
    VALID = "valid"
    UNVERIFIED = "unverified"
    UNKNOWN = "unknown"


class Flaw(StrEnum):
    """Why a check does not verify the probe."""

    OVERDUE = "overdue"
    """Due before the day, or made more than a year before it (EN 13486: yearly)."""
    DEVIATION = "deviation"
    """The probe read more than ±1 K off the reference."""


@dataclass(frozen=True)
class Parsed:
    """The checks of a calibration CSV, each with its line number, and its bad rows."""

    checks: list[tuple[int, Calibration]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """`line N: what is wrong; how to write it`, in the file's order."""


def parse(lines: Iterable[str]) -> Parsed:
    """Read a calibration CSV (module docstring); every row that is not a check is a
    problem naming its line, never a check."""
    reader = csv.DictReader(lines, restval="")
    missing = set(COLUMNS) - set(reader.fieldnames or ())
    if missing:
        return Parsed(
            problems=[
                f"line 1: the header lacks {', '.join(sorted(missing))}; "
                f"expected {','.join(COLUMNS)}"
            ]
        )
    parsed = Parsed()
    for row in reader:
        number = reader.line_num
        try:
            parsed.checks.append((number, _check(row)))
        except ValueError as exc:
            parsed.problems.append(f"line {number}: {exc}; {ROW_HINT}")
    return parsed


def _check(row: dict[str, str]) -> Calibration:
    checked_on = date.fromisoformat(row["checked_on"].strip())
    due = row["due_on"].strip()
    due_on = date.fromisoformat(due) if due else a_year_after(checked_on)
    if due_on < checked_on:
        raise ValueError(f"due_on {due_on} is before checked_on {checked_on}")
    sensor, reference = row["sensor"].strip(), row["reference"].strip()
    if not sensor or not reference:
        raise ValueError("sensor and reference may not be blank")
    return Calibration(
        sensor=sensor,
        checked_on=checked_on,
        due_on=due_on,
        reference=reference,
        deviation_k=_deviation(row.get(DEVIATION) or ""),
        checked_by=(row.get(CHECKED_BY) or "").strip() or None,
    )


def _deviation(cell: str) -> float | None:
    if not cell.strip():
        return None
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(f"{DEVIATION} {cell.strip()!r} is not a number of kelvin")
    return value


def rows(checks: Iterable[Calibration]) -> list[list[str]]:
    """The CSV rows of `checks` under EXPORT_COLUMNS, the header first: what `parse` reads."""
    return [list(EXPORT_COLUMNS)] + [
        [
            check.sensor,
            check.checked_on.isoformat(),
            check.due_on.isoformat(),
            "" if check.deviation_k is None else repr(check.deviation_k),
            check.reference,
            check.checked_by or "",
        ]
        for check in checks
    ]


def fields_of(check: Calibration) -> dict[str, str | float]:
    """The fields of the check's `calibration` point (coldchain.measurements.CALIBRATION)."""
    fields: dict[str, str | float] = {
        "checked_on": check.checked_on.isoformat(),
        "due_on": check.due_on.isoformat(),
        "reference": check.reference,
        CHECKED_BY: check.checked_by or "",
    }
    if check.deviation_k is not None:
        fields[DEVIATION] = check.deviation_k
    return fields


def from_fields(sensor: str, fields: Mapping[str, object]) -> Calibration:
    """The check a `calibration` point's fields hold; raises ValueError naming what is
    missing or garbled."""
    checked_on, due_on = fields.get("checked_on"), fields.get("due_on")
    reference, deviation = fields.get("reference"), fields.get(DEVIATION)
    if not (isinstance(checked_on, str) and isinstance(due_on, str) and reference):
        raise ValueError(f"the calibration point of {sensor} lacks checked_on, due_on or reference")
    if deviation is not None and not isinstance(deviation, int | float):
        raise ValueError(f"the calibration point of {sensor} has deviation_k {deviation!r}")
    return Calibration(
        sensor=sensor,
        checked_on=date.fromisoformat(checked_on),
        due_on=date.fromisoformat(due_on),
        reference=str(reference),
        deviation_k=None if deviation is None else float(deviation),
        checked_by=str(fields.get(CHECKED_BY) or "") or None,
    )


def in_force(checks: Sequence[Calibration], day: date) -> Calibration | None:
    """The latest of a sensor's checks made on or before `day`, or None. `checks` are in
    the order they were made, then entered: of those made the same day, the last counts."""
    found = None
    for check in checks:
        if check.checked_on <= day and (found is None or check.checked_on >= found.checked_on):
            found = check
    return found


def in_force_between(checks: Sequence[Calibration], first: date, last: date) -> list[Calibration]:
    """The checks in force on some local day from `first` to `last`, in `checks`' order
    (a later day's is made later): all that judge a span of those days, as `mark` does."""
    found: list[Calibration] = []
    day = first
    while day <= last:
        check = in_force(checks, day)
        if check is not None and (not found or check is not found[-1]):
            found.append(check)
        day = _next(day)
    return found


def flaws(calibration: Calibration, day: date) -> list[Flaw]:
    """What keeps `calibration` from verifying its probe on `day`, in Flaw's order."""
    found = []
    if calibration.due_on < day or a_year_after(calibration.checked_on) < day:
        found.append(Flaw.OVERDUE)
    if calibration.deviation_k is not None and abs(calibration.deviation_k) > MAX_DEVIATION_K:
        found.append(Flaw.DEVIATION)
    return found


def state(calibration: Calibration | None, day: date) -> CalibrationState:
    """Valid when the check in force on `day` verifies the probe; unknown without one."""
    if calibration is None:
        return CalibrationState.UNKNOWN
    return CalibrationState.UNVERIFIED if flaws(calibration, day) else CalibrationState.VALID


def state_on(checks: Sequence[Calibration], day: date) -> CalibrationState:
    """The probe's state on the local `day` of its site, from all its `checks` (in the
    order they were made, then entered): that of the check in force then."""
    return state(in_force(checks, day), day)


@dataclass(frozen=True)
class Marking:
    """How far a probe's checks verified it over a span of time [start, end)."""

    spans: tuple[tuple[datetime, datetime], ...]
    """The parts of the span it was unverified, UTC, oldest first; each starts at a local
    midnight (or the span's start) and ends at one (or the span's end)."""
    readings: int
    """Readings taken in those parts: the unverified ones."""
    state: CalibrationState
    """Unverified when all the span was, valid or unknown (the state of its last day)
    when none was; `partly` says when some was."""

    @property
    def partly(self) -> bool:
        """Unverified for a part of the span only."""
        return bool(self.spans) and self.state is not CalibrationState.UNVERIFIED

    @property
    def label(self) -> str:
        """`valid`, `unverified`, `partly_unverified` or `unknown`: the span in one word."""
        return "partly_unverified" if self.partly else self.state.value


def mark(
    checks: Sequence[Calibration],
    start: datetime,
    end: datetime,
    timezone: str,
    times: Sequence[datetime],
) -> Marking:
    """Which part of [start, end) (UTC) the probe was unverified, from the local midnight
    of the first day its check in force no longer verifies it until a check that does is
    in force, and how many of the reading `times` (UTC, sorted) fall into it. A check
    speaks of whole local days of the site in `timezone`: a reading shares its day's
    state (`state_on`)."""
    zone = ZoneInfo(timezone)
    spans: list[tuple[datetime, datetime]] = []
    verified_or_unknown = []
    day, last = start.astimezone(zone).date(), (end - _INSTANT).astimezone(zone).date()
    while day <= last:
        found = state_on(checks, day)
        if found is not CalibrationState.UNVERIFIED:
            verified_or_unknown.append(found)
        elif spans and spans[-1][1] == start_of(day, timezone):
            spans[-1] = (spans[-1][0], min(end, start_of(_next(day), timezone)))
        else:
            spans.append(
                (max(start, start_of(day, timezone)), min(end, start_of(_next(day), timezone)))
            )
        day = _next(day)
    readings = sum(bisect_left(times, until) - bisect_left(times, since) for since, until in spans)
    return Marking(
        spans=tuple(spans),
        readings=readings,
        state=verified_or_unknown[-1] if verified_or_unknown else CalibrationState.UNVERIFIED,
    )


_INSTANT = timedelta(microseconds=1)


def _next(day: date) -> date:
    return day + timedelta(days=1)


def unverified_from(calibration: Calibration) -> date:
    """The first day on which `calibration` does not verify its probe: the day it was
    made when it found more than ±1 K, else the day after it falls due."""
    if Flaw.DEVIATION in flaws(calibration, calibration.checked_on):
        return calibration.checked_on
    return min(calibration.due_on, a_year_after(calibration.checked_on)) + timedelta(days=1)


def a_year_after(day: date) -> date:
    """The same day a year later; a check made on 29 February is a year old on 28 February."""
    return day.replace(year=day.year + 1, day=28 if (day.month, day.day) == (2, 29) else day.day)


def condition(sensor: str) -> str:
    """The alert condition of the probe's calibration (`coldchain.alerting.condition_of`)."""
    return f"{RULE}/{sensor}"


def unverified_event(
    site: str,
    asset: str,
    sensor: str,
    since: datetime,
    now: datetime,
    alert_state: AlertState,
    key: str | None = None,
) -> AlertEvent:
    """The event that raises (or, with the raised event's `key`, clears) the maintenance
    alert of a probe unverified `since` (UTC), at the service's clock `now`."""
    return maintenance_event(
        RULE, condition(sensor), site, since, now, alert_state, key, asset, sensor
    )


def start_of(day: date, timezone: str) -> datetime:
    """Local midnight of `day` at a site in `timezone`, in UTC."""
    return datetime.combine(day, time(), ZoneInfo(timezone)).astimezone(UTC)
