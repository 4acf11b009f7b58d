"""A van's tour: a closed loop of stops, driven at constant speed, in physics seconds.

The van waits `dwell_s` at each stop, then drives in a straight line to the next,
and from the last back to the first, and again. Distances use a flat-earth
approximation, good to well under 1 % over a city. A route without stops (the
scenario's `route`) is a tour whose stops all have no dwell.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from coldchain_sim.door import DoorHabit, Openings

_EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True)
class TourStop:
    """A stop: where (degrees), how long the van stays (s), how often each door opens."""

    name: str
    lat: float
    lon: float
    dwell_s: float = 0.0
    openings: int = 0


@dataclass(frozen=True)
class _Leg:
    starts_s: float  # within a lap
    stop: TourStop
    next_stop: TourStop
    departs_s: float  # within a lap: starts_s + dwell
    drive_s: float


class Tour:
    """Where the van is after `physics_s` seconds, starting `start_s` seconds into a lap."""

    def __init__(self, stops: Sequence[TourStop], speed_kmh: float, start_s: float = 0.0) -> None:
        if len(stops) < 2:
            raise ValueError("a tour needs at least two stops")
        speed_m_per_s = speed_kmh / 3.6
        self._legs: list[_Leg] = []
        lap_s = 0.0
        for stop, next_stop in zip(stops, [*stops[1:], stops[0]], strict=True):
            drive_s = distance_m((stop.lat, stop.lon), (next_stop.lat, next_stop.lon))
            drive_s /= speed_m_per_s
            self._legs.append(_Leg(lap_s, stop, next_stop, lap_s + stop.dwell_s, drive_s))
            lap_s += stop.dwell_s + drive_s
        self.lap_s = lap_s
        self._starts = [leg.starts_s for leg in self._legs]
        self._start_s = start_s

    def at(self, physics_s: float) -> tuple[float, float]:
        """(lat, lon) in degrees."""
        leg, into_s = self._leg_at(physics_s)
        if into_s <= leg.stop.dwell_s or leg.drive_s == 0:
            return leg.stop.lat, leg.stop.lon
        share = min((into_s - leg.stop.dwell_s) / leg.drive_s, 1.0)
        a, b = leg.stop, leg.next_stop
        return a.lat + (b.lat - a.lat) * share, a.lon + (b.lon - a.lon) * share

    def stop_at(self, physics_s: float) -> str | None:
        """The name of the stop the van waits at, or None while it drives."""
        leg, into_s = self._leg_at(physics_s)
        return leg.stop.name if into_s < leg.stop.dwell_s else None

    def door_openings(self, habit: DoorHabit, rng: random.Random) -> Openings:
        """A door's openings at the stops: each stop's dwell is cut into `openings` equal
        slots, and the door opens once in each, for a draw from the habit's open span
        (at most half the slot), at a seeded time inside the slot."""
        for arrives_s, stop in self._visits():
            if stop.openings == 0 or stop.dwell_s == 0:
                continue
            slot_s = stop.dwell_s / stop.openings
            for k in range(stop.openings):
                open_s = min(rng.uniform(habit.open_min_s, habit.open_max_s), slot_s / 2)
                opens_s = arrives_s + k * slot_s + rng.uniform(0.1, 0.9) * (slot_s - open_s)
                yield opens_s, opens_s + open_s

    def _visits(self) -> Iterator[tuple[float, TourStop]]:
        """(arrival in physics seconds, stop), forever; the first is the start stop."""
        if self.lap_s == 0:
            return
        lap = 0
        while True:
            for leg in self._legs:
                arrives_s = lap * self.lap_s + leg.starts_s - self._start_s
                if arrives_s + leg.stop.dwell_s > 0:
                    yield max(arrives_s, 0.0), leg.stop
            lap += 1

    def _leg_at(self, physics_s: float) -> tuple[_Leg, float]:
        if self.lap_s == 0:
            return self._legs[0], 0.0
        in_lap_s = (self._start_s + physics_s) % self.lap_s
        index = bisect.bisect_right(self._starts, in_lap_s) - 1
        leg = self._legs[index]
        return leg, in_lap_s - leg.starts_s


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance in metres between two (lat, lon) points in degrees, flat-earth."""
    mean_lat = math.radians((a[0] + b[0]) / 2)
    dy = math.radians(b[0] - a[0])
    dx = math.radians(b[1] - a[1]) * math.cos(mean_lat)
    return _EARTH_RADIUS_M * math.hypot(dx, dy)
