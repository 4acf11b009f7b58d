"""Recorder calibration records (EN 13486: a yearly check of each recorder), from a CSV file.

The fleet file has no place for them yet, so a report or a certificate takes an
optional CSV with a header row and one row per check:

    sensor,checked_on,due_on,deviation_k,reference
    cold-room-1.air,2025-01-14,2026-01-14,-0.3,DAkkS cert. 4711

`deviation_k` (the largest deviation from the reference found at the check, in K) is
optional. A report or certificate shows the check in force on its last day (the
latest one made by then): verified, or unverified when the check is overdue or its
deviation beyond ±1 K; without one for the sensor it says the status is unknown.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TextIO

from coldchain_reports.errors import InvalidInput

COLUMNS = ("sensor", "checked_on", "due_on", "reference")
#: An optional column: a blank cell, or no such column, means not recorded.
DEVIATION = "deviation_k"
#: EN 12830 accuracy class 1, the class a recorder of chilled food needs.
MAX_DEVIATION_K = 1.0


@dataclass(frozen=True)
class Calibration:
    sensor: str
    checked_on: date
    due_on: date
    reference: str
    deviation_k: float | None = None


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


def load(path: Path) -> dict[str, list[Calibration]]:
    """Every check of each sensor in the CSV file, oldest first; raises InvalidInput
    naming the row, or saying why the file cannot be read."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            return _checks(path, file)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InvalidInput(f"cannot read the calibration file {path} ({reason})") from None


def _checks(path: Path, file: TextIO) -> dict[str, list[Calibration]]:
    checks: dict[str, list[Calibration]] = {}
    reader = csv.DictReader(file, restval="")
    missing = set(COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise InvalidInput(
            f"{path}: the header lacks {', '.join(sorted(missing))}; expected {','.join(COLUMNS)}"
        )
    for number, row in enumerate(reader, start=2):
        try:
            entry = Calibration(
                sensor=row["sensor"].strip(),
                checked_on=date.fromisoformat(row["checked_on"].strip()),
                due_on=date.fromisoformat(row["due_on"].strip()),
                reference=row["reference"].strip(),
                deviation_k=_deviation(row.get(DEVIATION) or ""),
            )
        except ValueError as exc:
            raise InvalidInput(
                f"{path}, line {number}: {exc}; write dates as YYYY-MM-DD and "
                f"{DEVIATION} in kelvin like -0.3"
            ) from None
        checks.setdefault(entry.sensor, []).append(entry)
    return {sensor: sorted(found, key=lambda c: c.checked_on) for sensor, found in checks.items()}


def _deviation(cell: str) -> float | None:
    if not cell.strip():
        return None
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(f"{DEVIATION} {cell.strip()!r} is not a number of kelvin")
    return value


def in_force(checks: Sequence[Calibration], day: date) -> Calibration | None:
    """The latest of a sensor's checks made on or before `day`, or None."""
    made = [check for check in checks if check.checked_on <= day]
    return max(made, key=lambda check: check.checked_on) if made else None


def flaws(calibration: Calibration, day: date) -> list[Flaw]:
    """What keeps `calibration` from verifying its probe on `day`, in Flaw's order."""
    found = []
    if calibration.due_on < day or _a_year_after(calibration.checked_on) < day:
        found.append(Flaw.OVERDUE)
    if calibration.deviation_k is not None and abs(calibration.deviation_k) > MAX_DEVIATION_K:
        found.append(Flaw.DEVIATION)
    return found


def state(calibration: Calibration | None, day: date) -> CalibrationState:
    """Valid when the check in force on `day` verifies the probe; unknown without one."""
    if calibration is None:
        return CalibrationState.UNKNOWN
    return CalibrationState.UNVERIFIED if flaws(calibration, day) else CalibrationState.VALID


def _a_year_after(day: date) -> date:
    # A check made on 29 February is a year old on 28 February.
    return day.replace(year=day.year + 1, day=28 if (day.month, day.day) == (2, 29) else day.day)
