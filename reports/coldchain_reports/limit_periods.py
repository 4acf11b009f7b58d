"""Which limits applied when: the registry's fleet versions over a report's period.

Ingest writes the limits of every asset for each fleet version it takes into
`fleet_limits`, at the version's `valid_from` (docs/fleet.md): the limits that
applied at a moment are those of the last point at or before it. A report or
certificate lists each version in force during its period, with the part of the
period it held, who changed it and why. No point at all (the registry made no
version before the period's end): the fleet file's limits applied, and none is
listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coldchain.signatures import utc_text


@dataclass(frozen=True)
class LimitPoint:
    """One `fleet_limits` point of an asset: the limits of a version from `valid_from` (UTC)."""

    valid_from: datetime
    version: int
    category: str
    max_c: float | None
    min_c: float | None
    regulatory_max_c: float | None
    delay_s: float | None
    changed_by: str
    reason: str


@dataclass(frozen=True)
class LimitPeriod:
    """The part [start, end) of a period (UTC) in which the limits of `limits` applied."""

    start: datetime
    end: datetime
    limits: LimitPoint


def periods(points: Sequence[LimitPoint], start: datetime, end: datetime) -> list[LimitPeriod]:
    """The versions in force over [start, end), oldest first: the last point at or before
    `start` and every one after it before `end`, each until the next."""
    ordered = sorted(points, key=lambda point: (point.valid_from, point.version))
    before = [point for point in ordered if point.valid_from <= start]
    during = [point for point in ordered if start < point.valid_from < end]
    held = ([before[-1]] if before else []) + during
    found = []
    for index, point in enumerate(held):
        until = held[index + 1].valid_from if index + 1 < len(held) else end
        found.append(LimitPeriod(max(point.valid_from, start), until, point))
    return found


def as_json(found: Sequence[LimitPeriod]) -> list[dict[str, Any]]:
    """The limit periods as a signed document lists them (`limit_periods`)."""
    return [
        {
            "from": utc_text(period.start),
            "to": utc_text(period.end),
            "version": period.limits.version,
            "valid_from": utc_text(period.limits.valid_from),
            "category": period.limits.category,
            "max_c": period.limits.max_c,
            "min_c": period.limits.min_c,
            "regulatory_max_c": period.limits.regulatory_max_c,
            "delay_s": period.limits.delay_s,
            "changed_by": period.limits.changed_by,
            "reason": period.limits.reason,
        }
        for period in found
    ]
