"""Corrective actions and product decisions, and the excursions they answer.

A hygiene officer closes an alert in the alerts service with its cause, the
corrective action and the product decision (release, quarantine, discard); the
service records the closing with the reading time at which the alert's
condition began. Reports list each excursion beyond the alarm limits with the
closings that answer it, by this rule:

- only critical alerts answer such excursions (the alarm limits and the legal
  maximum are critical; warning levels and sensor health are not);
- a closing answers the first excursion that is still going on when its alert's
  condition began, or begins after that: an alert that escalated from a warning
  began before the excursion beyond the alarm limit;
- provided that excursion begins before the alert was closed.

Pure: times are timezone-aware UTC datetimes; no clock is read.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from coldchain.compliance import Excursion
from coldchain.contract import Severity


@dataclass(frozen=True)
class ClosedAlert:
    """An alert as it was closed: who closed it when (UTC), and what they recorded.

    `started_at` is when the alert's condition began (reading time, UTC); `severity`
    the alert's severity when closed; `product_decision` as the alerts service stored
    it (release, quarantine or discard).
    """

    alert_id: str
    severity: str
    started_at: datetime
    closed_at: datetime
    actor: str
    cause: str
    corrective_action: str
    product_decision: str
    comment: str


def answered(
    excursions: Sequence[Excursion], closings: Sequence[ClosedAlert]
) -> list[list[ClosedAlert]]:
    """For each excursion (sorted by start, not overlapping), the closings answering it.

    The rule is in this module's docstring; each closing answers at most one
    excursion, and an excursion's closings are in the order they were closed.
    """
    ends = [excursion.end for excursion in excursions]
    result: list[list[ClosedAlert]] = [[] for _ in excursions]
    for closing in sorted(closings, key=lambda c: c.closed_at):
        if closing.severity != Severity.CRITICAL:
            continue
        index = bisect_right(ends, closing.started_at)
        if index < len(excursions) and excursions[index].start <= closing.closed_at:
            result[index].append(closing)
    return result
