"""The firmware of one simulated gateway: sample every compartment at a given time.

Two clocks meet here. `ts` is reading time: what readings carry, and what
scenario faults and dead-zone windows are timed in. Physics time is how much
thermal physics has run, `physics_dt_s` per tick, so a caller can run the world
faster than the readings; the world's own clock (time of day for the ambient
cycle and defrosts, the van's place on its tour, the battery's discharge) is the
first tick's `ts` plus the physics seconds run. The firmware reads no clock itself.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from coldchain.contract import Event, Position, Reading
from coldchain_sim.battery import Battery
from coldchain_sim.compartment import Compartment
from coldchain_sim.errors import SimulationError, UnknownIdError
from coldchain_sim.faults import GATEWAY_FAULTS, Fault, FaultKind
from coldchain_sim.network import Coverage
from coldchain_sim.scenario import GatewaySpec
from coldchain_sim.tour import Tour, TourStop


@dataclass(frozen=True)
class _Running:
    """A fault's window of reading time: from `starts`, until `ends` if ever."""

    key: int
    fault: Fault
    starts: datetime
    ends: datetime | None


class Firmware:
    """One gateway's compartments, advanced and sampled by tick()."""

    def __init__(self, spec: GatewaySpec, *, seed: int) -> None:
        self.gateway = spec.id
        self._made_from = _fingerprint(spec, seed)
        self._tour = _tour(spec, seed)
        zone = ZoneInfo(spec.timezone)
        doors_at_stops = self._tour if spec.tour is not None else None
        self._compartments = {
            c.sensor: Compartment(c, seed, zone, doors_at_stops) for c in spec.compartments
        }
        self._scheduled: list[Fault] = sorted(spec.faults, key=lambda fault: fault.after_s)
        self._injected: list[Fault] = []
        self._running: list[_Running] = []
        self._clock_jumps: list[_Running] = []
        self._keys = 0
        self._coverage = Coverage(spec.dead_zones)
        self._battery = _battery(spec)
        self._t0: datetime | None = None
        self._last_ts: datetime | None = None
        self._physics_s = 0.0

    @property
    def sensors(self) -> list[str]:
        """The air sensor ids, in scenario order."""
        return list(self._compartments)

    def tick(self, ts: datetime, physics_dt_s: float) -> tuple[list[Reading], list[Event]]:
        """Run `physics_dt_s` seconds of physics, then sample every compartment at `ts`.

        `ts` must be timezone-aware and not earlier than the previous tick's; the
        first tick's `ts` is the start time that scenario faults count from. Returns
        one reading per powered compartment (°C, to 0.1; none for a compartment
        without power) and the events of this tick, all stamped `ts`: door events
        under the door sensor id, defrost and power events under the air sensor id.
        """
        self._check_clock(ts, physics_dt_s)
        if self._t0 is None:
            self._begin(ts)
        self._last_ts = ts
        self._end_due_faults(ts)
        self._start_due_faults(ts)
        readings: list[Reading] = []
        events: list[Event] = []
        for compartment in self._compartments.values():
            events += [
                Event(sensor=sensor, ts=ts, kind=kind)
                for sensor, kind in compartment.advance(physics_dt_s)
            ]
            value = compartment.sample()
            if value is not None:
                readings.append(Reading(sensor=compartment.sensor, ts=ts, temp_c=value))
        self._physics_s += physics_dt_s
        return readings, events

    def state(self) -> dict[str, Any]:
        """Everything that changes as the firmware runs, as JSON-ready data: the clocks,
        the faults, the battery and every compartment's physics, door, defrost and probe.

        `resumed` continues from it exactly: the ticks that follow give the readings and
        events they would have given without the pause. A gateway keeps it with each
        sample, so a restarted simulation continues its tours instead of starting anew.
        """
        return {
            "v": STATE_VERSION,
            "made_from": self._made_from,
            "t0": _time(self._t0),
            "last_ts": _time(self._last_ts),
            "physics_s": self._physics_s,
            "keys": self._keys,
            "scheduled": [fault.model_dump(mode="json") for fault in self._scheduled],
            "injected": [fault.model_dump(mode="json") for fault in self._injected],
            "running": [_window_state(running) for running in self._running],
            "clock_jumps": [_window_state(running) for running in self._clock_jumps],
            "battery": None if self._battery is None else self._battery.state(),
            "compartments": {
                sensor: compartment.state() for sensor, compartment in self._compartments.items()
            },
        }

    @classmethod
    def resumed(cls, spec: GatewaySpec, state: dict[str, Any], *, seed: int) -> Firmware:
        """The firmware of `spec` and `seed`, continuing from a `state()` of firmware made
        from the same spec and seed.

        Raises SimulationError when the state is of another scenario, gateway or seed, or
        not a state at all: start afresh then.
        """
        firmware = cls(spec, seed=seed)
        if not isinstance(state, dict) or state.get("v") != STATE_VERSION:
            raise SimulationError(
                f"the saved simulator state of gateway {spec.id} is not of version {STATE_VERSION}"
            )
        if state.get("made_from") != firmware._made_from:
            raise SimulationError(
                f"the saved simulator state of gateway {spec.id} is of another scenario, "
                "gateway or seed"
            )
        try:
            firmware._resume(state)
        except (KeyError, TypeError, ValueError) as exc:
            raise SimulationError(
                f"the saved simulator state of gateway {spec.id} cannot be read "
                f"({type(exc).__name__}: {exc})"
            ) from None
        return firmware

    def _resume(self, state: dict[str, Any]) -> None:
        self._t0 = _parse_time(state["t0"])
        self._last_ts = _parse_time(state["last_ts"])
        self._physics_s = float(state["physics_s"])
        self._keys = int(state["keys"])
        self._scheduled = [Fault.model_validate(fault) for fault in state["scheduled"]]
        self._injected = [Fault.model_validate(fault) for fault in state["injected"]]
        self._running = [_window_of(running) for running in state["running"]]
        self._clock_jumps = [_window_of(running) for running in state["clock_jumps"]]
        if self._battery is not None:
            self._battery.resume(state["battery"])
        if set(state["compartments"]) != set(self._compartments):
            raise ValueError("the compartments differ")
        for sensor, compartment in self._compartments.items():
            compartment.resume(state["compartments"][sensor])

    def inject(
        self,
        kind: FaultKind,
        sensor: str | None = None,
        *,
        duration_s: float | None = None,
        rate_k_per_h: float | None = None,
        rate_v_per_h: float | None = None,
        offset_s: float | None = None,
    ) -> None:
        """Start a fault at the next tick, for `duration_s` reading seconds or for good.

        `sensor` names the compartment (required except for power_loss, which without
        it cuts every compartment, and for the gateway faults dying_battery and
        clock_jump, which take none). The parameters are those of a scenario fault.
        """
        try:
            fault = Fault(
                kind=kind,
                sensor=sensor,
                duration_s=duration_s,
                rate_k_per_h=rate_k_per_h,
                rate_v_per_h=rate_v_per_h,
                offset_s=offset_s,
            )
        except ValidationError as exc:
            message = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise SimulationError(f"cannot inject {kind}: {message}") from None
        if fault.sensor is not None:
            self._compartment(fault.sensor)
        if kind is FaultKind.DYING_BATTERY and self._battery is None:
            raise SimulationError(
                f"gateway {self.gateway} has no battery; give it one in the scenario "
                "('battery: {full_v: 3.6, empty_v: 3.0}') to inject dying_battery"
            )
        self._injected.append(fault)

    def position(self, ts: datetime) -> Position | None:
        """Where the van is at `ts`, or None if the gateway has neither tour nor route.

        The van moves in physics time (see physics_s_at); before the first tick it
        is at its start: the tour's first stop, or a seeded point of its route.
        """
        if self._tour is None:
            return None
        lat, lon = self._tour.at(self.physics_s_at(ts))
        return Position(lat=lat, lon=lon, ts=ts)

    def tour_stop(self, ts: datetime) -> str | None:
        """The name of the tour stop the van waits at at `ts`; None while it drives, and
        for gateways without a tour."""
        if self._tour is None:
            return None
        return self._tour.stop_at(self.physics_s_at(ts))

    def network_available(self, ts: datetime) -> bool:
        """False while the gateway is in a dead zone at reading time `ts`: inside a dead
        zone's area (by position()), or inside a dead zone's window of reading seconds
        after the first tick. True for gateways without dead zones."""
        here = self.position(ts)
        place = None if here is None else (here.lat, here.lon)
        return self._coverage.available(place, self._elapsed_s(ts))

    def battery_v(self, ts: datetime) -> float | None:
        """The gateway battery's voltage (V, to the millivolt) at `ts`; None for a gateway
        on mains power (no `battery` in the scenario). It discharges in physics time."""
        if self._battery is None:
            return None
        return self._battery.at(self.physics_s_at(ts))

    def clock_offset_s(self, ts: datetime) -> float:
        """How far (s) the gateway's own clock is off at true reading time `ts`: the sum
        of the clock_jump faults whose window holds `ts`; 0 without one.

        The firmware never shifts what it returns: a gateway simulating a wrong clock
        stamps `ts + clock_offset_s(ts)` where it would stamp `ts`, and still ticks the
        firmware with the true, never decreasing `ts`.
        """
        active = [
            jump.fault.offset_s or 0.0
            for jump in self._clock_jumps
            if jump.starts <= ts and (jump.ends is None or ts < jump.ends)
        ]
        return sum(active, 0.0)

    def physics_s_at(self, ts: datetime) -> float:
        """Physics seconds run by reading time `ts`: exact at a tick's `ts`; between and
        after ticks the world is taken to run at real time from the latest tick; 0
        before the first tick."""
        if self._last_ts is None:
            return 0.0
        return max(self._physics_s + (ts - self._last_ts).total_seconds(), 0.0)

    def temperature_c(self, sensor: str) -> float:
        """The true air temperature in °C of a compartment, without probe noise or rounding."""
        return self._compartment(sensor).thermal.temp_c

    def product_temperature_c(self, sensor: str) -> float:
        """The true temperature in °C of a compartment's goods (the air's set point while
        it holds none)."""
        return self._compartment(sensor).thermal.product_c

    def _compartment(self, sensor: str) -> Compartment:
        compartment = self._compartments.get(sensor)
        if compartment is None:
            raise UnknownIdError(
                f"gateway {self.gateway} has no compartment with sensor {sensor!r}; "
                f"it has: {', '.join(self._compartments)}"
            )
        return compartment

    def _elapsed_s(self, ts: datetime) -> float:
        return 0.0 if self._t0 is None else (ts - self._t0).total_seconds()

    def _begin(self, ts: datetime) -> None:
        self._t0 = ts
        for compartment in self._compartments.values():
            compartment.begin(ts.timestamp())
        # Known in advance, so clock_offset_s() is right also when asked before a tick.
        for fault in self._scheduled:
            if fault.kind is FaultKind.CLOCK_JUMP:
                self._clock_jumps.append(self._window(fault, ts + _seconds(fault.after_s)))

    def _start_due_faults(self, ts: datetime) -> None:
        elapsed_s = self._elapsed_s(ts)
        while self._scheduled and self._scheduled[0].after_s <= elapsed_s:
            fault = self._scheduled.pop(0)
            assert self._t0 is not None
            self._start(self._window(fault, self._t0 + _seconds(fault.after_s)))
        injected, self._injected = self._injected, []
        for fault in injected:
            running = self._window(fault, ts)
            if fault.kind is FaultKind.CLOCK_JUMP:
                self._clock_jumps.append(running)
            self._start(running)

    def _window(self, fault: Fault, starts: datetime) -> _Running:
        self._keys += 1
        ends = None if fault.duration_s is None else starts + _seconds(fault.duration_s)
        return _Running(self._keys, fault, starts, ends)

    def _start(self, running: _Running) -> None:
        self._running.append(running)
        fault = running.fault
        if fault.kind is FaultKind.DYING_BATTERY:
            assert self._battery is not None
            self._battery.dying(self._physics_s, fault.battery_fall_v_per_h)
        elif fault.kind not in GATEWAY_FAULTS:
            for compartment in self._hit(fault):
                compartment.start_fault(running.key, fault)

    def _end_due_faults(self, ts: datetime) -> None:
        due = [r for r in self._running if r.ends is not None and r.ends <= ts]
        for running in due:
            self._running.remove(running)
            if running.fault.kind is FaultKind.DYING_BATTERY:
                assert self._battery is not None
                self._battery.replace(self._physics_s)
            elif running.fault.kind not in GATEWAY_FAULTS:
                for compartment in self._hit(running.fault):
                    compartment.end_fault(running.key)

    def _hit(self, fault: Fault) -> list[Compartment]:
        if fault.sensor is None:
            return list(self._compartments.values())
        return [self._compartment(fault.sensor)]

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


#: The layout of `Firmware.state()`; a state of another version is not resumed.
STATE_VERSION = 1


def _fingerprint(spec: GatewaySpec, seed: int) -> str:
    """What a state was made from: the gateway's whole spec and the seed."""
    text = json.dumps([spec.model_dump(mode="json"), seed], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _time(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _window_state(running: _Running) -> dict[str, Any]:
    return {
        "key": running.key,
        "fault": running.fault.model_dump(mode="json"),
        "starts": running.starts.isoformat(),
        "ends": _time(running.ends),
    }


def _window_of(state: dict[str, Any]) -> _Running:
    return _Running(
        int(state["key"]),
        Fault.model_validate(state["fault"]),
        datetime.fromisoformat(state["starts"]),
        _parse_time(state["ends"]),
    )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _tour(spec: GatewaySpec, seed: int) -> Tour | None:
    if spec.tour is not None:
        stops = [TourStop(s.name, s.lat, s.lon, s.dwell_s, s.openings) for s in spec.tour]
        return Tour(stops, spec.speed_kmh)
    if spec.route is not None:
        points = [TourStop(f"point {i + 1}", p.lat, p.lon) for i, p in enumerate(spec.route)]
        route = Tour(points, spec.speed_kmh)
        start_fraction = random.Random(f"{seed}/{spec.id}/route").random()
        return Tour(points, spec.speed_kmh, start_s=start_fraction * route.lap_s)
    return None


def _battery(spec: GatewaySpec) -> Battery | None:
    b = spec.battery
    if b is None:
        return None
    start_v = b.full_v if b.start_v is None else b.start_v
    return Battery(b.full_v, b.empty_v, start_v, b.discharge_v_per_h)
