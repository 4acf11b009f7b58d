"""When the gateway samples, and which time each sample carries."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol


@dataclass(frozen=True)
class Tick:
    index: int
    ts: datetime
    clock_jump_s: float | None = None
    """Set on the first sample after the wall clock jumped: by how much (s)."""


class JumpGuard:
    """Stamps samples with the wall clock, unless it jumped against the monotonic one.

    A wall clock that disagrees with the last trusted time plus the monotonic time
    elapsed by more than `tolerance_s` has jumped (a bad RTC, a manual change).
    Samples are then stamped with the monotonic continuation, so no reading lands
    in the future or the past; once the wall clock agrees again, it is trusted
    again. A restarted gateway trusts its wall clock from the start.
    """

    def __init__(self, tolerance_s: float) -> None:
        self._tolerance = tolerance_s
        self._anchor: tuple[datetime, float] | None = None
        self._off = False

    def stamp(self, wall: datetime, monotonic_s: float) -> tuple[datetime, float | None]:
        if self._anchor is None:
            self._anchor = (wall, monotonic_s)
            return wall, None
        trusted, at = self._anchor
        expected = trusted + timedelta(seconds=monotonic_s - at)
        drift = (wall - expected).total_seconds()
        if abs(drift) <= self._tolerance:
            self._anchor, self._off = (wall, monotonic_s), False
            return wall, None
        jumped = None if self._off else drift
        self._off = True
        return expected, jumped


class Clock(Protocol):
    @property
    def due(self) -> float:
        """time.monotonic() at which the next sample is due."""
        ...

    def take(self) -> Tick:
        """The sample that is due now; the next one becomes due."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LiveClock:
    """Samples every `interval_s` of wall time; each sample carries the wall clock (UTC).

    `wall` reads the wall clock (a simulated wrong RTC replaces it in tests).
    """

    def __init__(
        self,
        interval_s: float,
        first_index: int,
        guard: JumpGuard,
        wall: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._interval = interval_s
        self._index = first_index
        self._guard = guard
        self._wall = wall
        self.due = time.monotonic()

    def take(self) -> Tick:
        ts, jumped = self._guard.stamp(self._wall(), time.monotonic())
        tick = Tick(self._index, ts, jumped)
        self._index += 1
        # After a stall (suspend, overload), resume the rhythm instead of catching up.
        self.due = max(self.due + self._interval, time.monotonic())
        return tick


class ReplayClock:
    """Sample k carries `start + k * interval_s`; samples come `speed` times faster than real.

    The index survives restarts (the outbox keeps it), so a restarted gateway
    continues the series instead of stamping two samples with one time. The
    elapsed replay time stands in for the monotonic clock; `offset_s` simulates
    a wrong wall clock.
    """

    def __init__(
        self,
        start: datetime,
        interval_s: float,
        speed: float,
        first_index: int,
        guard: JumpGuard,
        offset_s: Callable[[datetime], float] | None = None,
    ) -> None:
        self._start = start
        self._interval = interval_s
        self._period = interval_s / speed
        self._index = first_index
        self._guard = guard
        self._offset = offset_s
        self.due = time.monotonic()

    def take(self) -> Tick:
        elapsed = self._interval * self._index
        true = self._start + timedelta(seconds=elapsed)
        wall = true + timedelta(seconds=self._offset(true)) if self._offset else true
        ts, jumped = self._guard.stamp(wall, elapsed)
        tick = Tick(self._index, ts, jumped)
        self._index += 1
        self.due += self._period
        return tick
