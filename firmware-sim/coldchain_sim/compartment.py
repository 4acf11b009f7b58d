"""One simulated compartment: thermal model, door, defrost, power, faults and probe."""

from __future__ import annotations

import random
from typing import Any
from zoneinfo import ZoneInfo

from coldchain.contract import EventKind
from coldchain_sim.ambient import DailyAmbient
from coldchain_sim.defrost import Defrost
from coldchain_sim.door import Door, habit_openings
from coldchain_sim.faults import Fault, FaultKind
from coldchain_sim.probe import Probe
from coldchain_sim.profiles import DEFAULTS
from coldchain_sim.scenario import CompartmentSpec
from coldchain_sim.thermal import LONGEST_STEP_S, Thermal
from coldchain_sim.tour import Tour

SensorEvent = tuple[str, EventKind]
"""(sensor id, kind): door events under the door sensor, the others under the air sensor."""


class Compartment:
    """Physics of one compartment, advanced in physics seconds.

    Door times and sensor noise draw from two separate generators seeded from
    (seed, sensor id), so the door schedule does not depend on how often the
    compartment is sampled, and adding a compartment changes no other one. A
    compartment of a van on a tour opens its door at the stops, not at random.
    """

    def __init__(
        self, spec: CompartmentSpec, seed: int, zone: ZoneInfo, tour: Tour | None = None
    ) -> None:
        self.sensor = spec.sensor
        self.door_sensor = spec.door
        params = spec.thermal()
        self.thermal = Thermal(params)
        habit = DEFAULTS[spec.profile].doors
        door_rng = random.Random(f"{seed}/{spec.sensor}/door")
        if tour is None:
            self.door = Door(habit_openings(habit, door_rng))
        else:
            self.door = Door(tour.door_openings(habit, door_rng))
        self.probe = Probe(params.noise_k, random.Random(f"{seed}/{spec.sensor}/noise"))
        self._zone = zone
        self._ambient = DailyAmbient(params.ambient_c, params.ambient_swing_k, zone)
        self._defrost: Defrost | None = None
        self._start_epoch_s = 0.0
        self.elapsed_s = 0.0
        self._pending: list[SensorEvent] = []
        self._faults: dict[int, FaultKind] = {}

    @property
    def powered(self) -> bool:
        return FaultKind.POWER_LOSS not in self._faults.values()

    @property
    def defrosting(self) -> bool:
        return self._defrost is not None and self._defrost.active

    def begin(self, start_epoch_s: float) -> None:
        """Fix physics second 0 to `start_epoch_s` (UTC), for the daily cycle and defrosts."""
        params = self.thermal.params
        self._start_epoch_s = start_epoch_s
        self._defrost = Defrost(params.defrost_every_s, params.defrost_s, self._zone, start_epoch_s)

    def state(self) -> dict[str, Any]:
        """Everything that changes as the compartment runs (see `resume`). Taken between
        ticks, when no event is pending: a tick's advance() hands them all out."""
        return {
            "elapsed_s": self.elapsed_s,
            "start_epoch_s": self._start_epoch_s,
            "thermal": self.thermal.state(),
            "door": self.door.state(),
            "defrost": None if self._defrost is None else self._defrost.state(),
            "probe": self.probe.state(),
            "faults": [[key, kind.value] for key, kind in self._faults.items()],
        }

    def resume(self, state: dict[str, Any]) -> None:
        """Continue from `state()` of a compartment of the same spec and seed."""
        self.begin(float(state["start_epoch_s"]))
        self.elapsed_s = float(state["elapsed_s"])
        self.thermal.resume(state["thermal"])
        self.door.resume(state["door"])
        if self._defrost is not None and state["defrost"] is not None:
            self._defrost.resume(state["defrost"])
        self.probe.resume(state["probe"])
        self._faults = {int(key): FaultKind(kind) for key, kind in state["faults"]}

    def start_fault(self, key: int, fault: Fault) -> None:
        """Apply a fault from now on; its events come with the next advance()."""
        kind = fault.kind
        was_powered = self.powered
        self._faults[key] = kind
        if kind is FaultKind.DOOR_LEFT_OPEN:
            self._door_events(self.door.stick_open())
        elif kind is FaultKind.POWER_LOSS and was_powered:
            if self._defrost is not None:
                self._air_events(self._defrost.abort(self.elapsed_s))
            self._air_events([EventKind.POWER_LOST])
        elif kind is FaultKind.SENSOR_DRIFT:
            self.probe.drift(key, fault.drift_k_per_h, self.elapsed_s)
        elif kind is FaultKind.STUCK_SENSOR:
            self.probe.stick(key)

    def end_fault(self, key: int) -> None:
        """End the fault started under `key`: repaired, restored, replaced."""
        kind = self._faults.pop(key)
        still = set(self._faults.values())
        if kind is FaultKind.DOOR_LEFT_OPEN and kind not in still:
            self._door_events(self.door.release(self.elapsed_s))
        elif kind is FaultKind.POWER_LOSS and kind not in still:
            self._air_events([EventKind.POWER_RESTORED])
        elif kind in (FaultKind.SENSOR_DRIFT, FaultKind.STUCK_SENSOR):
            self.probe.clear(key)

    def advance(self, dt_s: float) -> list[SensorEvent]:
        """Run `dt_s` physics seconds; returns the events, in order, that happened."""
        events, self._pending = self._pending, []
        end_s = self.elapsed_s + dt_s
        compressor_ok = self.powered and FaultKind.COMPRESSOR_FAILURE not in self._faults.values()
        while self.elapsed_s < end_s:
            defrost_change_s = self._defrost.next_change_s if self._defrost else end_s
            until_s = min(end_s, self.door.next_change_s, defrost_change_s)
            self._run_until(until_s, compressor_ok)
            if self.door_sensor is not None:
                events += [(self.door_sensor, k) for k in self.door.advance_to(until_s)]
            else:
                self.door.advance_to(until_s)
            if self._defrost is not None:
                kinds = self._defrost.advance_to(until_s, self.powered)
                events += [(self.sensor, kind) for kind in kinds]
        return events

    def _run_until(self, until_s: float, compressor_ok: bool) -> None:
        """Physics up to `until_s`; door and defrost do not change meanwhile.
        The simulator's hot loop, hence the local names."""
        door_open = self.door.is_open
        heater_on = self.defrosting
        allowed = compressor_ok and not heater_on
        step, ambient, epoch_s = self.thermal.step, self._ambient.at, self._start_epoch_s
        now_s = self.elapsed_s
        while now_s < until_s:
            most_s = min(until_s - now_s, LONGEST_STEP_S)
            now_s += step(most_s, door_open, ambient(epoch_s + now_s), allowed, heater_on)
        self.elapsed_s = until_s

    def sample(self) -> float | None:
        """The probe's reading in °C, to 0.1 °C; None while the power is off."""
        if not self.powered:
            return None
        return self.probe.read(self.thermal.temp_c, self.elapsed_s)

    def _door_events(self, kinds: list[EventKind]) -> None:
        if self.door_sensor is not None:
            self._pending += [(self.door_sensor, kind) for kind in kinds]

    def _air_events(self, kinds: list[EventKind]) -> None:
        self._pending += [(self.sensor, kind) for kind in kinds]
