"""Network coverage of a gateway: dead zones are areas on the map or windows of time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from coldchain_sim.scenario import DeadZone
from coldchain_sim.tour import distance_m


@dataclass(frozen=True)
class _Area:
    lat: float
    lon: float
    radius_m: float


@dataclass(frozen=True)
class _Window:
    after_s: float
    until_s: float


class Coverage:
    """Whether the network is reachable at a place and a reading time."""

    def __init__(self, dead_zones: Sequence[DeadZone]) -> None:
        self._areas: list[_Area] = []
        self._windows: list[_Window] = []
        for zone in dead_zones:
            if zone.lat is not None and zone.lon is not None and zone.radius_m is not None:
                self._areas.append(_Area(zone.lat, zone.lon, zone.radius_m))
            elif zone.after_s is not None and zone.duration_s is not None:
                self._windows.append(_Window(zone.after_s, zone.after_s + zone.duration_s))

    def available(self, place: tuple[float, float] | None, elapsed_s: float) -> bool:
        """False inside an area (at `place`, (lat, lon) in degrees, None if unknown) or
        inside a window of `elapsed_s` reading seconds after the first tick."""
        if any(w.after_s <= elapsed_s < w.until_s for w in self._windows):
            return False
        if place is None:
            return True
        return all(distance_m(place, (a.lat, a.lon)) >= a.radius_m for a in self._areas)
