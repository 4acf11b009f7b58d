"""The simulated firmware as a gateway source (coldchain_sim)."""

from __future__ import annotations

from datetime import datetime

from coldchain_gateway.sources import Sample
from coldchain_sim import Firmware


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
        position, battery = self._firmware.position(ts), self._firmware.battery_v(ts)
        return Sample(readings, events, position, battery)
