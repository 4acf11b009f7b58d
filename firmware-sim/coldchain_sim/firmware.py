"""The firmware of one simulated gateway: sample every compartment at a given time.

Two clocks meet here. `ts` is reading time, what the readings carry and what
scenario faults are timed in; `physics_dt_s` is how much thermal physics runs
before each sample, so a caller can run the physics faster than the readings.
The firmware reads no clock itself.
"""

from __future__ import annotations

import math
import random
from datetime import datetime

from coldchain.contract import Event, Position, Reading
from coldchain_sim.compartment import Compartment
from coldchain_sim.errors import SimulationError, UnknownIdError
from coldchain_sim.faults import Fault, FaultKind
from coldchain_sim.route import Route
from coldchain_sim.scenario import GatewaySpec


class Firmware:
    """One gateway's compartments, advanced and sampled by tick()."""

    def __init__(self, spec: GatewaySpec, *, seed: int) -> None:
        self.gateway = spec.id
        self._compartments = {c.sensor: Compartment(c, seed) for c in spec.compartments}
        self._scheduled: list[Fault] = sorted(spec.faults, key=lambda fault: fault.after_s)
        self._route = _route(spec, seed)
        self._t0: datetime | None = None
        self._last_ts: datetime | None = None

    @property
    def sensors(self) -> list[str]:
        """The air sensor ids, in scenario order."""
        return list(self._compartments)

    def tick(self, ts: datetime, physics_dt_s: float) -> tuple[list[Reading], list[Event]]:
        """Run `physics_dt_s` seconds of physics, then sample every compartment at `ts`.

        `ts` must be timezone-aware and not earlier than the previous tick's; the
        first tick's `ts` is the start time that scenario faults count from. Returns
        one reading per compartment (°C, to 0.1) and the door events of this tick,
        all stamped `ts`.
        """
        self._check_clock(ts, physics_dt_s)
        if self._t0 is None:
            self._t0 = ts
        self._last_ts = ts
        self._fire_due_faults((ts - self._t0).total_seconds())
        readings: list[Reading] = []
        events: list[Event] = []
        for compartment in self._compartments.values():
            kinds = compartment.advance(physics_dt_s)
            if compartment.door_sensor is not None:
                events += [Event(sensor=compartment.door_sensor, ts=ts, kind=k) for k in kinds]
            readings.append(Reading(sensor=compartment.sensor, ts=ts, temp_c=compartment.sample()))
        return readings, events

    def inject(self, kind: FaultKind, sensor: str) -> None:
        """Apply a fault to the compartment of `sensor` from the next tick on."""
        self._compartment(sensor).inject(kind)

    def position(self, ts: datetime) -> Position | None:
        """Where the van is at `ts` (reading time since the first tick), or None if the
        gateway has no route. Before the first tick the van is at its start point."""
        if self._route is None:
            return None
        elapsed_s = 0.0 if self._t0 is None else (ts - self._t0).total_seconds()
        lat, lon = self._route.at(max(elapsed_s, 0.0))
        return Position(lat=lat, lon=lon, ts=ts)

    def temperature_c(self, sensor: str) -> float:
        """The true air temperature in °C of a compartment, without probe noise or rounding."""
        return self._compartment(sensor).thermal.temp_c

    def _compartment(self, sensor: str) -> Compartment:
        compartment = self._compartments.get(sensor)
        if compartment is None:
            raise UnknownIdError(
                f"gateway {self.gateway} has no compartment with sensor {sensor!r}; "
                f"it has: {', '.join(self._compartments)}"
            )
        return compartment

    def _fire_due_faults(self, elapsed_s: float) -> None:
        while self._scheduled and self._scheduled[0].after_s <= elapsed_s:
            fault = self._scheduled.pop(0)
            self.inject(fault.kind, fault.sensor)

    def _check_clock(self, ts: datetime, physics_dt_s: float) -> None:
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise SimulationError(f"ts {ts.isoformat()} has no time zone; pass an aware UTC time")
        if self._last_ts is not None and ts < self._last_ts:
            raise SimulationError(
                f"ts {ts.isoformat()} is before the previous tick's {self._last_ts.isoformat()}; "
                "ticks must not go back in time"
            )
        if not (math.isfinite(physics_dt_s) and physics_dt_s >= 0):
            raise SimulationError(
                f"physics_dt_s is {physics_dt_s}; it must be a finite number of seconds >= 0"
            )


def _route(spec: GatewaySpec, seed: int) -> Route | None:
    if spec.route is None:
        return None
    start = random.Random(f"{seed}/{spec.id}/route").random()
    points = [(point.lat, point.lon) for point in spec.route]
    return Route(points, spec.speed_kmh, start_fraction=start)
