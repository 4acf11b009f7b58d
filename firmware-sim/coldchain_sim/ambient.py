"""The air around a compartment through the day: a sine in the site's local time.

Warmest at WARMEST_HOUR local time, coldest twelve hours later. Local time comes
from the IANA zone (Europe/Berlin for the hub), so the cycle follows daylight
saving: on a 23 h or 25 h day the peak stays at 15:00 on the wall clock.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

WARMEST_HOUR = 15.0
"""Local hour of the day's warmest ambient."""

_HOUR_S = 3600.0
_DAY_S = 86_400.0


class DailyAmbient:
    """Ambient °C at a UTC instant: `mean_c` plus `swing_k` times a daily cosine."""

    def __init__(self, mean_c: float, swing_k: float, zone: ZoneInfo) -> None:
        self._mean_c = mean_c
        self._swing_k = swing_k
        self._zone = zone
        self._hour = math.nan
        self._offset_s = 0.0

    def at(self, epoch_s: float) -> float:
        """Ambient in °C at `epoch_s` (seconds since 1970-01-01 UTC)."""
        if self._swing_k == 0:
            return self._mean_c
        local_s = epoch_s + self._utc_offset_s(epoch_s)
        phase = 2 * math.pi * ((local_s - WARMEST_HOUR * _HOUR_S) % _DAY_S) / _DAY_S
        return self._mean_c + self._swing_k * math.cos(phase)

    def _utc_offset_s(self, epoch_s: float) -> float:
        # Zones change offset on whole UTC hours, so one lookup per hour is exact.
        hour = epoch_s // _HOUR_S
        if hour != self._hour:
            instant = datetime.fromtimestamp(hour * _HOUR_S, UTC).astimezone(self._zone)
            offset = instant.utcoffset()
            self._offset_s = 0.0 if offset is None else offset.total_seconds()
            self._hour = hour
        return self._offset_s
