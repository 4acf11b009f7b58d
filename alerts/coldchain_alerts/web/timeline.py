"""An alert's timeline as the page shows it: repeats of the system grouped into one line.

The audit log keeps every step (the API's timeline lists them all). A page that
did the same would grow without bound: a reminder every ten minutes through a
night, a door that opens and closes a thousand times. So the steps the system
takes between two steps of people become one line per kind (action and level),
with how often and from when to when; every step of a person is a line of its
own. The page then grows only with what people do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from coldchain_alerts.audit import SYSTEM
from coldchain_alerts.listing import Step


@dataclass(frozen=True)
class Line:
    """One line of the page's timeline: `count` steps alike, the last of them `step`."""

    step: Step
    count: int
    first: datetime
    """When the first of them was taken."""
    failed: int = 0
    """Deliveries that failed, over all of them."""


def lines(steps: Sequence[Step]) -> list[Line]:
    """The timeline's lines, in the order of each kind's first step; `steps` oldest first."""
    shown: list[Line] = []
    run: dict[tuple[str, object], Line] = {}
    for step in steps:
        if step.actor != SYSTEM:
            shown += run.values()
            run = {}
            shown.append(Line(step, 1, step.at, _failed(step)))
            continue
        kind = (step.action, step.detail.get("level"))
        earlier = run.get(kind)
        if earlier is None:
            run[kind] = Line(step, 1, step.at, _failed(step))
        else:
            run[kind] = Line(step, earlier.count + 1, earlier.first, earlier.failed + _failed(step))
    return shown + list(run.values())


def _failed(step: Step) -> int:
    return sum(1 for delivery in step.detail.get("deliveries", ()) if not delivery.get("ok"))
