"""Recorder calibration records (EN 13486: a yearly check of each recorder), from a CSV file.

The fleet file has no place for them yet, so a report or a certificate takes an
optional CSV with a header row and one row per check:

    sensor,checked_on,due_on,reference
    cold-room-1.air,2025-01-14,2026-01-14,DAkkS cert. 4711

A report or certificate shows the check in force on its last day (the latest one
made by then); without one for the sensor it says the status is unknown.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TextIO

from coldchain_reports.errors import InvalidInput

COLUMNS = ("sensor", "checked_on", "due_on", "reference")


@dataclass(frozen=True)
class Calibration:
    sensor: str
    checked_on: date
    due_on: date
    reference: str


class CalibrationState(StrEnum):
    VALID = "valid"
    OVERDUE = "overdue"
    UNKNOWN = "unknown"


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
            )
        except ValueError as exc:
            raise InvalidInput(f"{path}, line {number}: {exc}; write dates as YYYY-MM-DD") from None
        checks.setdefault(entry.sensor, []).append(entry)
    return {sensor: sorted(found, key=lambda c: c.checked_on) for sensor, found in checks.items()}


def in_force(checks: Sequence[Calibration], day: date) -> Calibration | None:
    """The latest of a sensor's checks made on or before `day`, or None."""
    made = [check for check in checks if check.checked_on <= day]
    return max(made, key=lambda check: check.checked_on) if made else None


def state(calibration: Calibration | None, last_day: date) -> CalibrationState:
    """Valid when the check was due no earlier than the last day a report covers."""
    if calibration is None:
        return CalibrationState.UNKNOWN
    if calibration.due_on < last_day:
        return CalibrationState.OVERDUE
    return CalibrationState.VALID
