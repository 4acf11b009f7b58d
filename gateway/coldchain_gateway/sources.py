"""Where readings come from. A source turns "sample now, at time ts" into readings.

Sources are pluggable: the simulated firmware first; real probes implement the
same `Source` protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from coldchain.contract import Event, Position, Reading
from coldchain_sim import Firmware


@dataclass(frozen=True)
class Sample:
    readings: list[Reading]
    events: list[Event] = field(default_factory=list)
    position: Position | None = None


class Source(Protocol):
    def sample(self, ts: datetime) -> Sample:
        """Read every probe now; `ts` (UTC) is the time the readings carry."""
        ...


class SimSource:
    """The simulated firmware; its physics runs `physics_speed` times faster than `ts`."""

    def __init__(self, firmware: Firmware, physics_speed: float) -> None:
        self._firmware = firmware
        self._speed = physics_speed
        self._last: datetime | None = None

    def sample(self, ts: datetime) -> Sample:
        elapsed = 0.0 if self._last is None else (ts - self._last).total_seconds()
        self._last = ts
        readings, events = self._firmware.tick(ts, elapsed * self._speed)
        return Sample(readings, events, self._firmware.position(ts))
