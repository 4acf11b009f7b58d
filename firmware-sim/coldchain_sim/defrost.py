"""Scheduled defrost: every `every_s` from local midnight, for `duration_s`, in physics time.

Defrost timers run on the wall clock, so the schedule is in the site's local
time, as a fleet file's `defrost_schedule` is: every 6 h means 00:00, 06:00,
12:00 and 18:00, also on daylight-saving days. A defrost starts only with power;
one that is due while the power is off is skipped, and losing power ends one.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from coldchain.contract import EventKind


class Defrost:
    """Defrost state over physics seconds; physics second 0 is `start_epoch_s` (UTC)."""

    def __init__(
        self, every_s: float, duration_s: float, zone: ZoneInfo, start_epoch_s: float
    ) -> None:
        self._every_s = every_s
        self._duration_s = duration_s
        self._zone = zone
        self._start_epoch_s = start_epoch_s
        self.active = False
        self._change_at_s = self._next_start_after(0.0) if every_s > 0 else math.inf

    @property
    def next_change_s(self) -> float:
        """Physics time at which a defrost next starts or ends (inf if never)."""
        return self._change_at_s

    def state(self) -> dict[str, Any]:
        return {
            "active": self.active,
            "change_at_s": None if math.isinf(self._change_at_s) else self._change_at_s,
        }

    def resume(self, state: dict[str, Any]) -> None:
        change = state["change_at_s"]
        self.active = bool(state["active"])
        self._change_at_s = math.inf if change is None else float(change)

    def advance_to(self, now_s: float, powered: bool) -> list[EventKind]:
        """Start or end every defrost due at or before `now_s`."""
        kinds = []
        while self._change_at_s <= now_s:
            due_s = self._change_at_s
            if self.active:
                self.active = False
                kinds.append(EventKind.DEFROST_END)
                self._change_at_s = self._next_start_after(due_s)
            elif powered:
                self.active = True
                kinds.append(EventKind.DEFROST_START)
                self._change_at_s = due_s + self._duration_s
            else:
                self._change_at_s = self._next_start_after(due_s)
        return kinds

    def abort(self, now_s: float) -> list[EventKind]:
        """End a running defrost now (power lost); the next one starts on schedule."""
        if not self.active:
            return []
        self.active = False
        self._change_at_s = self._next_start_after(now_s)
        return [EventKind.DEFROST_END]

    def _next_start_after(self, physics_s: float) -> float:
        """The first scheduled start strictly after `physics_s`, in physics seconds."""
        after = self._start_epoch_s + physics_s
        local = datetime.fromtimestamp(after, UTC).astimezone(self._zone)
        midnight = datetime(local.year, local.month, local.day, tzinfo=self._zone)
        per_day = round(timedelta(days=1).total_seconds() / self._every_s)
        for day in range(3):
            for k in range(per_day):
                # Aware datetime + timedelta is wall-clock arithmetic: 06:00 stays 06:00.
                start = midnight + timedelta(days=day, seconds=k * self._every_s)
                if start.timestamp() > after:
                    return start.timestamp() - self._start_epoch_s
        raise AssertionError("a daily schedule always has a start within three days")
