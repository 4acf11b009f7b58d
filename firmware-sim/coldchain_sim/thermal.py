"""Thermal model of one compartment: air temperature, thermostat and compressor.

One lumped temperature T (°C) relaxes towards the ambient through the insulation
(time constant `tau_s`) and, while the door is open, much faster through the
doorway (`door_tau_s`). A constant heat load (fans, lights, sun on a van's roof)
warms it; the compressor, when running, cools it at a fixed rate. Each step is
solved exactly for constant door and compressor state, and steps are at most
MAX_STEP_S long so the thermostat reacts in time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_STEP_S = 5.0
"""Longest stretch of physics (seconds) between two thermostat decisions."""


@dataclass(frozen=True)
class ThermalParams:
    """Constants of one compartment. Temperatures in °C, times in seconds, rates in K/s."""

    setpoint_c: float
    hysteresis_k: float
    ambient_c: float
    tau_s: float
    cooling_k_per_s: float
    heat_load_k_per_s: float
    door_tau_s: float
    noise_k: float

    def cooling_needed_k_per_s(self) -> float:
        """Cooling rate that just balances the heat gained at the set point, door closed."""
        return (self.ambient_c - self.setpoint_c) / self.tau_s + self.heat_load_k_per_s


class Thermal:
    """The compartment's true air temperature and its thermostat-driven compressor."""

    def __init__(self, params: ThermalParams) -> None:
        self.params = params
        self.temp_c = params.setpoint_c
        self.compressor_on = False
        self.compressor_failed = False

    def fail_compressor(self) -> None:
        """The compressor stops and never runs again."""
        self.compressor_failed = True
        self.compressor_on = False

    def step(self, dt_s: float, door_open: bool) -> None:
        """Advance `dt_s` seconds (at most MAX_STEP_S) with the door open or closed."""
        self._switch()
        p = self.params
        leak = 1.0 / p.tau_s + (1.0 / p.door_tau_s if door_open else 0.0)
        cooling = p.cooling_k_per_s if self.compressor_on else 0.0
        balance_c = p.ambient_c + (p.heat_load_k_per_s - cooling) / leak
        self.temp_c = balance_c + (self.temp_c - balance_c) * math.exp(-dt_s * leak)

    def _switch(self) -> None:
        p = self.params
        if self.compressor_failed:
            self.compressor_on = False
        elif self.temp_c > p.setpoint_c + p.hysteresis_k / 2:
            self.compressor_on = True
        elif self.temp_c < p.setpoint_c - p.hysteresis_k / 2:
            self.compressor_on = False
