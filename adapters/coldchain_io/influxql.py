"""InfluxQL written by our services: one way to put a value into a query safely, and the
queries that read what judges a period's excursions (coldchain.compliance.judged_readings)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from coldchain.contract import EventKind
from coldchain.measurements import CALIBRATION, EVENT, TEMPERATURE
from coldchain_io.lineprotocol import nanoseconds

#: The events that start a grace for the temperature rules (coldchain.excursion.grace_at).
GRACE_EVENT_KINDS = (EventKind.DOOR_OPEN.value, EventKind.DEFROST_START.value)


def literal(value: str) -> str:
    """`value` as an InfluxQL string literal: in single quotes, quote and backslash escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def between(field: str, low: float, high: float) -> str:
    """A condition `low <= field <= high` (°C); an infinite bound is left out."""
    parts = [f'"{field}" >= {low!r}' if math.isfinite(low) else "",
             f'"{field}" <= {high!r}' if math.isfinite(high) else ""]  # fmt: skip
    return " AND ".join(part for part in parts if part) or "true"


#: The fields of a `calibration` point, in the order `calibration_checks` selects them.
CALIBRATION_FIELDS = ("checked_on", "due_on", "deviation_k", "reference", "checked_by")


def calibration_checks(sensor: str | None = None) -> str:
    """Every `calibration` point (of one sensor): its time (when the check was entered),
    then CALIBRATION_FIELDS, then for all sensors the tags `sensor` and `check`."""
    fields = ", ".join(f'"{name}"' for name in CALIBRATION_FIELDS)
    if sensor is not None:
        return f'SELECT {fields} FROM "{CALIBRATION}" WHERE "sensor" = {literal(sensor)}'
    return f'SELECT {fields}, "sensor", "check" FROM "{CALIBRATION}"'


def sensor_readings(asset: str, sensor: str, first: datetime, last: datetime) -> str:
    """The temperatures of `sensor` watching `asset` with first <= time <= last (UTC)."""
    return (
        f'SELECT "temp_c" FROM "{TEMPERATURE}" WHERE "asset" = {literal(asset)} '
        f'AND "sensor" = {literal(sensor)} '
        f"AND time >= {nanoseconds(first)} AND time <= {nanoseconds(last)}"
    )


def reading_time(
    asset: str,
    sensor: str,
    since_ns: int,
    until_ns: int,
    low_c: float,
    high_c: float,
    latest: bool,
) -> str:
    """The first (or, `latest`, last) reading of `sensor` with since_ns <= time <= until_ns
    and low_c <= temp_c <= high_c; its time is the answer's."""
    selector = "last" if latest else "first"
    return (
        f'SELECT {selector}("temp_c") FROM "{TEMPERATURE}" WHERE "asset" = {literal(asset)} '
        f'AND "sensor" = {literal(sensor)} AND {between("temp_c", low_c, high_c)} '
        f"AND time >= {since_ns} AND time <= {until_ns}"
    )


def grace_events(sensors: Sequence[str], first: datetime, last: datetime) -> str:
    """Door openings and defrost starts of these sensors with first <= time <= last:
    rows of time, seq, kind."""
    who = " OR ".join(f'"sensor" = {literal(sensor)}' for sensor in sensors) or "false"
    kinds = " OR ".join(f'"kind" = {literal(kind)}' for kind in GRACE_EVENT_KINDS)
    return (
        f'SELECT "seq", "kind" FROM "{EVENT}" WHERE ({who}) AND ({kinds}) '
        f"AND time >= {nanoseconds(first)} AND time <= {nanoseconds(last)}"
    )
