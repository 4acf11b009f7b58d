"""A compartment door that opens at random but seeded times, in physics seconds."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from coldchain.contract import EventKind


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


class Door:
    """Door state over physics time; the schedule depends only on the seed, not on ticks."""

    def __init__(self, habit: DoorHabit, rng: random.Random) -> None:
        self._habit = habit
        self._rng = rng
        self.is_open = False
        self._change_at_s = rng.uniform(habit.closed_min_s, habit.closed_max_s)

    @property
    def next_change_s(self) -> float:
        """Physics time at which the door next opens or closes (inf if never)."""
        return self._change_at_s

    def advance_to(self, now_s: float) -> list[EventKind]:
        """Open or close the door for every change due at or before `now_s`."""
        kinds = []
        while self._change_at_s <= now_s:
            self.is_open = not self.is_open
            kinds.append(EventKind.DOOR_OPEN if self.is_open else EventKind.DOOR_CLOSED)
            self._change_at_s += self._draw_duration()
        return kinds

    def stick_open(self) -> list[EventKind]:
        """Open the door, if it is not open, and never close it again."""
        self._change_at_s = math.inf
        if self.is_open:
            return []
        self.is_open = True
        return [EventKind.DOOR_OPEN]

    def _draw_duration(self) -> float:
        h = self._habit
        if self.is_open:
            return self._rng.uniform(h.open_min_s, h.open_max_s)
        return self._rng.uniform(h.closed_min_s, h.closed_max_s)
