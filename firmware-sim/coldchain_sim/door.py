"""A compartment door that opens on a seeded schedule of openings, in physics seconds.

A schedule is an endless sequence of (opens_at_s, closes_at_s) pairs in physics
time: random habits for rooms and for vans without a tour (`habit_openings`),
openings during the stops of a tour for touring vans (coldchain_sim.tour).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from coldchain.contract import EventKind

Openings = Iterator[tuple[float, float]]
"""(opens_at_s, closes_at_s) in physics seconds, ascending and not overlapping."""


@dataclass(frozen=True)
class DoorHabit:
    """How a door is used: closed for a uniform draw from [closed_min_s, closed_max_s],
    then open for a uniform draw from [open_min_s, open_max_s], and again."""

    closed_min_s: float
    closed_max_s: float
    open_min_s: float
    open_max_s: float

    def __post_init__(self) -> None:
        closed_ok = 0 < self.closed_min_s <= self.closed_max_s
        open_ok = 0 < self.open_min_s <= self.open_max_s
        if not (closed_ok and open_ok):
            raise ValueError(f"door habit needs 0 < min <= max for both spans; got {self}")


def habit_openings(habit: DoorHabit, rng: random.Random) -> Openings:
    """Openings at random but seeded times: closed, open, closed, open, ..."""
    now_s = 0.0
    while True:
        opens_s = now_s + rng.uniform(habit.closed_min_s, habit.closed_max_s)
        now_s = opens_s + rng.uniform(habit.open_min_s, habit.open_max_s)
        yield opens_s, now_s


class Door:
    """Door state over physics time; the schedule depends only on the seed, not on ticks."""

    def __init__(self, openings: Openings) -> None:
        self._openings = openings
        self.is_open = False
        self._stuck = False
        self._closes_at_s = math.inf
        self._change_at_s = self._next_opening_after(-math.inf)

    def state(self) -> dict[str, Any]:
        """Open or closed, stuck, and its next changes (see `resume`); infinity as None."""
        return {
            "open": self.is_open,
            "stuck": self._stuck,
            "closes_at_s": _finite(self._closes_at_s),
            "change_at_s": _finite(self._change_at_s),
        }

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from `state()` of a door with the same schedule (same seed): the
        schedule depends on the seed alone, and the next opening is found by its time."""
        self.is_open = bool(state["open"])
        self._stuck = bool(state["stuck"])
        self._closes_at_s = _infinite(state["closes_at_s"])
        self._change_at_s = _infinite(state["change_at_s"])

    @property
    def next_change_s(self) -> float:
        """Physics time at which the door next opens or closes (inf if never)."""
        return self._change_at_s

    def advance_to(self, now_s: float) -> list[EventKind]:
        """Open or close the door for every change due at or before `now_s`."""
        kinds = []
        while self._change_at_s <= now_s:
            self.is_open = not self.is_open
            if self.is_open:
                kinds.append(EventKind.DOOR_OPEN)
                self._change_at_s = self._closes_at_s
            else:
                kinds.append(EventKind.DOOR_CLOSED)
                self._change_at_s = self._next_opening_after(self._change_at_s)
        return kinds

    def stick_open(self) -> list[EventKind]:
        """Open the door, if it is not open, and keep it open until release()."""
        self._stuck = True
        self._change_at_s = math.inf
        if self.is_open:
            return []
        self.is_open = True
        return [EventKind.DOOR_OPEN]

    def release(self, now_s: float) -> list[EventKind]:
        """Close a stuck door now; its schedule resumes with the next opening after `now_s`."""
        if not self._stuck:
            return []
        self._stuck = False
        self.is_open = False
        self._change_at_s = self._next_opening_after(now_s)
        return [EventKind.DOOR_CLOSED]

    def _next_opening_after(self, now_s: float) -> float:
        for opens_s, closes_s in self._openings:
            if opens_s > now_s:
                self._closes_at_s = closes_s
                return opens_s
        return math.inf


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value


def _infinite(value: float | None) -> float:
    return math.inf if value is None else float(value)
