"""When the gateway samples, and which time each sample carries."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


@dataclass(frozen=True)
class Tick:
    index: int
    ts: datetime


class Clock(Protocol):
    @property
    def due(self) -> float:
        """time.monotonic() at which the next sample is due."""
        ...

    def take(self) -> Tick:
        """The sample that is due now; the next one becomes due."""
        ...


class LiveClock:
    """Samples every `interval_s` of wall time; each sample carries the wall clock (UTC)."""

    def __init__(self, interval_s: float, first_index: int) -> None:
        self._interval = interval_s
        self._index = first_index
        self.due = time.monotonic()

    def take(self) -> Tick:
        tick = Tick(self._index, datetime.now(UTC))
        self._index += 1
        # After a stall (suspend, overload), resume the rhythm instead of catching up.
        self.due = max(self.due + self._interval, time.monotonic())
        return tick


class ReplayClock:
    """Sample k carries `start + k * interval_s`; samples come `speed` times faster than real.

    The index survives restarts (the outbox keeps it), so a restarted gateway
    continues the series instead of stamping two samples with one time.
    """

    def __init__(self, start: datetime, interval_s: float, speed: float, first_index: int) -> None:
        self._start = start
        self._interval = interval_s
        self._period = interval_s / speed
        self._index = first_index
        self.due = time.monotonic()

    def take(self) -> Tick:
        tick = Tick(self._index, self._start + timedelta(seconds=self._interval * self._index))
        self._index += 1
        self.due += self._period
        return tick
