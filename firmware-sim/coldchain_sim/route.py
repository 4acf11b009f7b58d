"""A van's delivery loop: closed polyline of WGS 84 points driven at constant speed."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

_EARTH_RADIUS_M = 6_371_000.0


class Route:
    """Position along a closed loop of (lat, lon) points in degrees.

    The van starts `start_fraction` of the way round (0 <= fraction < 1) and drives
    at `speed_kmh` without stopping; distances use a flat-earth approximation,
    good to well under 1 % over a city.
    """

    def __init__(
        self, points: Sequence[tuple[float, float]], speed_kmh: float, start_fraction: float
    ) -> None:
        if len(points) < 2:
            raise ValueError("a route needs at least two points")
        self._points = list(points)
        self._speed_m_per_s = speed_kmh / 3.6
        legs = [_distance_m(a, b) for a, b in zip(self._points, self._loop_ends(), strict=True)]
        self._starts_m = [0.0, *itertools.accumulate(legs)][:-1]
        self._length_m = sum(legs)
        self._start_m = start_fraction * self._length_m

    def at(self, elapsed_s: float) -> tuple[float, float]:
        """(lat, lon) in degrees after driving `elapsed_s` seconds from the start."""
        if self._length_m == 0:
            return self._points[0]
        along_m = (self._start_m + elapsed_s * self._speed_m_per_s) % self._length_m
        leg = bisect.bisect_right(self._starts_m, along_m) - 1
        a, b = self._points[leg], self._loop_ends()[leg]
        leg_m = _distance_m(a, b)
        share = 0.0 if leg_m == 0 else (along_m - self._starts_m[leg]) / leg_m
        return (a[0] + (b[0] - a[0]) * share, a[1] + (b[1] - a[1]) * share)

    def _loop_ends(self) -> list[tuple[float, float]]:
        return self._points[1:] + self._points[:1]


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    mean_lat = math.radians((a[0] + b[0]) / 2)
    dy = math.radians(b[0] - a[0])
    dx = math.radians(b[1] - a[1]) * math.cos(mean_lat)
    return _EARTH_RADIUS_M * math.hypot(dx, dy)
