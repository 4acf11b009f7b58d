"""Recorder calibration records (EN 13486: a yearly check of each recorder), from a CSV file.

The fleet file has no place for them yet, so a report takes an optional CSV with
a header row and one row per check:

    sensor,checked_on,due_on,reference
    cold-room-1.air,2025-01-14,2026-01-14,DAkkS cert. 4711

Without a record for the sensor the report says the status is unknown.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

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


def load(path: Path) -> dict[str, Calibration]:
    """The latest check of each sensor in the CSV file; raises InvalidInput naming the row."""
    latest: dict[str, Calibration] = {}
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        missing = set(COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise InvalidInput(
                f"{path}: the header lacks {', '.join(sorted(missing))}; "
                f"expected {','.join(COLUMNS)}"
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
                raise InvalidInput(
                    f"{path}, line {number}: {exc}; write dates as YYYY-MM-DD"
                ) from None
            known = latest.get(entry.sensor)
            if known is None or entry.checked_on > known.checked_on:
                latest[entry.sensor] = entry
    return latest


def state(calibration: Calibration | None, last_day: date) -> CalibrationState:
    """Valid when the check was due no earlier than the last day a report covers."""
    if calibration is None:
        return CalibrationState.UNKNOWN
    if calibration.due_on < last_day:
        return CalibrationState.OVERDUE
    return CalibrationState.VALID
