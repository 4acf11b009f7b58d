"""Recorder calibration records (EN 13486: a yearly check of each recorder), from a CSV file.

A report or a certificate takes an optional CSV in the calibration lab's format
(`coldchain.calibration`: sensor, checked_on, due_on, deviation_k, reference), the
same that `coldchain-alerts calibration export` writes from the alerts service's
register, so that reports need no connection to that service. A report or
certificate shows the check in force on its last day (the latest one made by then):
verified, or unverified when the check is overdue or its deviation beyond ±1 K;
without one for the sensor it says the status is unknown. A report also marks each
day's readings taken while the probe was unverified (`coldchain.calibration.mark`).
"""

from __future__ import annotations

from pathlib import Path

from coldchain.calibration import (
    MAX_DEVIATION_K,
    Calibration,
    CalibrationState,
    Flaw,
    Marking,
    flaws,
    in_force,
    in_force_between,
    mark,
    parse,
    state,
)
from coldchain_reports.errors import InvalidInput

__all__ = [
    "MAX_DEVIATION_K",
    "Calibration",
    "CalibrationState",
    "Flaw",
    "Marking",
    "flaws",
    "in_force",
    "in_force_between",
    "load",
    "mark",
    "state",
]


def load(path: Path) -> dict[str, list[Calibration]]:
    """Every check of each sensor in the CSV file, oldest first; raises InvalidInput
    naming the first bad row, or saying why the file cannot be read."""
    try:
        with path.open(newline="", encoding="utf-8") as file:
            parsed = parse(file)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InvalidInput(f"cannot read the calibration file {path} ({reason})") from None
    if parsed.problems:
        raise InvalidInput(f"{path}, {parsed.problems[0]}")
    checks: dict[str, list[Calibration]] = {}
    for _, check in parsed.checks:
        checks.setdefault(check.sensor, []).append(check)
    return {sensor: sorted(found, key=lambda c: c.checked_on) for sensor, found in checks.items()}
