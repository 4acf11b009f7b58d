"""Alarm rules, evaluated in reading time. Pure: no clock, no I/O.

The first rule, `over_max`: a sensor above its asset's maximum continuously for
at least the asset's delay raises an alert; the first reading back at or below
the maximum clears it. Readings are evaluated in timestamp order per sensor;
a reading not newer than the last one evaluated for its sensor (a redelivery,
or a straggler after newer data) is stored by ingest but not evaluated again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from coldchain.contract import AlertEvent, AlertState, Reading, Severity
from coldchain.fleet import Asset

OVER_MAX = "over_max"


@dataclass
class _Excursion:
    started_at: datetime
    peak_c: float
    raised: bool = False


class OverMaxRule:
    """Per-sensor state of the `over_max` rule."""

    def __init__(self) -> None:
        self._open: dict[str, _Excursion] = {}
        self._last_ts: dict[str, datetime] = {}

    def observe(self, site: str, asset: Asset, reading: Reading) -> AlertEvent | None:
        """Feed one reading (°C, UTC); returns the alert event it causes, if any."""
        last = self._last_ts.get(reading.sensor)
        if last is not None and reading.ts <= last:
            return None
        self._last_ts[reading.sensor] = reading.ts
        limit = asset.limit_max_c
        excursion = self._open.get(reading.sensor)
        if reading.temp_c > limit:
            if excursion is None:
                excursion = self._open[reading.sensor] = _Excursion(reading.ts, reading.temp_c)
            excursion.peak_c = max(excursion.peak_c, reading.temp_c)
            held_s = (reading.ts - excursion.started_at).total_seconds()
            if not excursion.raised and held_s >= asset.delay_s:
                excursion.raised = True
                return _event(AlertState.RAISED, site, asset, reading, excursion)
            return None
        if excursion is None:
            return None
        del self._open[reading.sensor]
        if excursion.raised:
            return _event(AlertState.CLEARED, site, asset, reading, excursion)
        return None


def _event(
    state: AlertState, site: str, asset: Asset, reading: Reading, excursion: _Excursion
) -> AlertEvent:
    return AlertEvent(
        key=f"{OVER_MAX}/{reading.sensor}/{excursion.started_at.isoformat()}",
        state=state,
        rule=OVER_MAX,
        severity=Severity.CRITICAL,
        site=site,
        asset=asset.id,
        sensor=reading.sensor,
        started_at=excursion.started_at,
        at=reading.ts,
        value_c=reading.temp_c,
        peak_c=excursion.peak_c,
        limit_c=asset.limit_max_c,
        delay_s=asset.delay_s,
    )
