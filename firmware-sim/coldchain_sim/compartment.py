"""One simulated compartment: its thermal model, its door, its faults and its probe."""

from __future__ import annotations

import random

from coldchain.contract import EventKind
from coldchain_sim.door import Door
from coldchain_sim.faults import FaultKind
from coldchain_sim.profiles import DEFAULTS
from coldchain_sim.scenario import CompartmentSpec
from coldchain_sim.thermal import MAX_STEP_S, Thermal


class Compartment:
    """Physics of one compartment, advanced in physics seconds.

    Door times and sensor noise draw from two separate generators seeded from
    (seed, sensor id), so the door schedule does not depend on how often the
    compartment is sampled, and adding a compartment changes no other one.
    """

    def __init__(self, spec: CompartmentSpec, seed: int) -> None:
        self.sensor = spec.sensor
        self.door_sensor = spec.door
        self.thermal = Thermal(spec.thermal())
        self.door = Door(DEFAULTS[spec.profile].doors, random.Random(f"{seed}/{spec.sensor}/door"))
        self._noise = random.Random(f"{seed}/{spec.sensor}/noise")
        self._elapsed_s = 0.0
        self._pending: list[EventKind] = []

    def inject(self, kind: FaultKind) -> None:
        """Apply a fault from now on; a door it opens is reported by the next advance()."""
        if kind is FaultKind.COMPRESSOR_FAILURE:
            self.thermal.fail_compressor()
        elif kind is FaultKind.DOOR_STUCK_OPEN:
            self._pending += self.door.stick_open()

    def advance(self, dt_s: float) -> list[EventKind]:
        """Run `dt_s` physics seconds; returns the door events, in order, that happened."""
        kinds, self._pending = self._pending, []
        end_s = self._elapsed_s + dt_s
        while self._elapsed_s < end_s:
            stop_s = min(end_s, self._elapsed_s + MAX_STEP_S, self.door.next_change_s)
            self.thermal.step(stop_s - self._elapsed_s, self.door.is_open)
            self._elapsed_s = stop_s
            kinds += self.door.advance_to(stop_s)
        return kinds

    def sample(self) -> float:
        """The probe's reading in °C: true temperature plus noise, to 0.1 °C."""
        noisy = self.thermal.temp_c + self._noise.gauss(0.0, self.thermal.params.noise_k)
        return round(noisy, 1) + 0.0
