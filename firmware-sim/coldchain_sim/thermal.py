"""Thermal model of one compartment: air, goods, thermostat, compressor and defrost heater.

Two lumped temperatures (°C): the air, which the probe measures, and the goods
(`product_kg` of them; none by default for vans). The air relaxes towards the
ambient through the insulation (time constant `tau_s`) and, while the door is
open, much faster through the doorway (`door_tau_s`). A constant heat load (fans,
lights, sun on a van's roof) and the defrost heater warm it; the compressor,
when running, cools it at a fixed rate. The goods exchange heat with the air
only: they follow it with time constant `product_tau_s`, and being heavier they
pull it back towards their own temperature, which slows every change of the air.

Each step is solved exactly for constant door, compressor, heater and ambient.
Steps are at most LONGEST_STEP_S long, and shrink to MAX_STEP_S as the air nears
the temperature at which the thermostat switches, so it switches in time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_STEP_S = 5.0
"""Longest stretch of physics (seconds) between two thermostat decisions near a switching
point: the compressor starts or stops at most this late."""

LONGEST_STEP_S = 60.0
"""Longest step (seconds) while the air is far from a switching point."""

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class ThermalParams:
    """Constants of one compartment. Temperatures in °C, times in seconds, rates in K/s,
    heat capacities in kJ/K (air) and kJ/(kg·K) (goods), masses in kg.

    `ambient_swing_k` is the amplitude of the daily ambient cycle around `ambient_c`.
    A defrost runs every `defrost_every_s` (0: never) for `defrost_s`, counted from
    local midnight; meanwhile the compressor is off and the heater warms the air at
    `defrost_heat_k_per_s`.
    """

    setpoint_c: float
    hysteresis_k: float
    ambient_c: float
    tau_s: float
    cooling_k_per_s: float
    heat_load_k_per_s: float
    door_tau_s: float
    noise_k: float
    ambient_swing_k: float = 0.0
    product_kg: float = 0.0
    product_tau_s: float = 4 * 3600.0
    product_kj_per_kg_k: float = 3.5
    air_kj_per_k: float = 100.0
    defrost_every_s: float = 0.0
    defrost_s: float = 0.0
    defrost_heat_k_per_s: float = 0.0

    def cooling_needed_k_per_s(self) -> float:
        """Cooling rate that just balances the heat gained at the set point, door closed,
        at the warmest ambient of the day."""
        warmest_c = self.ambient_c + self.ambient_swing_k
        return (warmest_c - self.setpoint_c) / self.tau_s + self.heat_load_k_per_s

    def defrost_problem(self) -> str | None:
        """Why the defrost schedule cannot repeat daily, or None if it can."""
        if self.defrost_every_s == 0:
            return None
        per_day = SECONDS_PER_DAY / self.defrost_every_s
        if abs(per_day - round(per_day)) > 1e-9:
            return (
                f"defrost_every_s {self.defrost_every_s:g} must divide a day (86400 s) evenly, "
                "so the schedule is the same every day; for example 21600 for every 6 h"
            )
        if not 0 < self.defrost_s < self.defrost_every_s:
            return (
                f"defrost_s {self.defrost_s:g} must be above 0 and below "
                f"defrost_every_s {self.defrost_every_s:g}"
            )
        return None

    @property
    def product_per_s(self) -> float:
        """How fast the goods follow the air (1/s); 0 without goods."""
        return 1.0 / self.product_tau_s if self.product_kg > 0 else 0.0

    @property
    def air_from_product_per_s(self) -> float:
        """How fast the goods pull the air towards them (1/s): the goods' rate times the
        ratio of their heat capacity to the air's."""
        ratio = self.product_kg * self.product_kj_per_kg_k / self.air_kj_per_k
        return self.product_per_s * ratio


class Thermal:
    """The compartment's true air and goods temperatures, and its thermostat."""

    def __init__(self, params: ThermalParams) -> None:
        self.params = params
        self.temp_c = params.setpoint_c
        self.product_c = params.setpoint_c
        self.compressor_on = False
        self._decay: dict[tuple[float, bool], tuple[float, float, float, float]] = {}
        self._leak_closed = 1.0 / params.tau_s
        self._leak_open = self._leak_closed + 1.0 / params.door_tau_s
        self._low_c = params.setpoint_c - params.hysteresis_k / 2
        self._high_c = params.setpoint_c + params.hysteresis_k / 2
        self._pull_per_s = params.air_from_product_per_s

    def state(self) -> dict[str, Any]:
        """Air and goods °C and the compressor: all that changes (see `resume`)."""
        return {"air_c": self.temp_c, "goods_c": self.product_c, "compressor": self.compressor_on}

    def resume(self, state: dict[str, Any]) -> None:
        self.temp_c = float(state["air_c"])
        self.product_c = float(state["goods_c"])
        self.compressor_on = bool(state["compressor"])

    def step(
        self, most_s: float, door_open: bool, ambient_c: float, allowed: bool, heater_on: bool
    ) -> float:
        """Advance at most `most_s` seconds, fewer if the thermostat may have to switch
        sooner; returns the seconds advanced.

        The thermostat decides first; `allowed` False (failure, power loss, defrost)
        keeps the compressor off whatever the air temperature. `ambient_c` holds for
        the whole step; `heater_on` is the defrost heater.
        """
        p = self.params
        low_c, high_c, temp_c = self._low_c, self._high_c, self.temp_c
        if not allowed:
            self.compressor_on = False
        elif temp_c > high_c:
            self.compressor_on = True
        elif temp_c < low_c:
            self.compressor_on = False
        leak = self._leak_open if door_open else self._leak_closed
        cooling = p.cooling_k_per_s if self.compressor_on else 0.0
        heating = p.heat_load_k_per_s + (p.defrost_heat_k_per_s if heater_on else 0.0)
        if allowed and most_s > MAX_STEP_S:
            rate = (
                leak * (ambient_c - temp_c)
                + heating
                - cooling
                + self._pull_per_s * (self.product_c - temp_c)
            )
            gap_k = temp_c - low_c if self.compressor_on else high_c - temp_c
            if (rate < 0) == self.compressor_on and rate != 0:
                # Half the time to the switching point, in whole MAX_STEP_S.
                safe_s = 0.5 * gap_k / abs(rate) // MAX_STEP_S * MAX_STEP_S
                most_s = min(most_s, max(safe_s, MAX_STEP_S))
        balance_c = ambient_c + (heating - cooling) / leak
        air, product = temp_c - balance_c, self.product_c - balance_c
        aa, ap, pa, pp = self._decay_matrix(most_s, door_open, leak)
        self.temp_c = balance_c + aa * air + ap * product
        self.product_c = balance_c + pa * air + pp * product
        return most_s

    def _decay_matrix(
        self, dt_s: float, door_open: bool, leak: float
    ) -> tuple[float, float, float, float]:
        """exp(M·dt) for the deviations from balance, M = [[-(leak+k_ap), k_ap], [k_pa, -k_pa]].

        M's eigenvalues are real and negative, so the closed form of a 2x2 matrix
        exponential with cosh and sinh applies. Cached for steps of whole MAX_STEP_S.
        """
        key = (dt_s, door_open)
        cached = self._decay.get(key)
        if cached is not None:
            return cached
        k_ap, k_pa = self.params.air_from_product_per_s, self.params.product_per_s
        m = (-(leak + k_ap), k_ap, k_pa, -k_pa)
        half_trace = (m[0] + m[3]) / 2
        spread = math.sqrt(max(half_trace * half_trace - leak * k_pa, 0.0))
        scale = math.exp(half_trace * dt_s)
        cosh = math.cosh(spread * dt_s)
        sinh_over = math.sinh(spread * dt_s) / spread if spread * dt_s > 1e-12 else dt_s
        result = (
            scale * (cosh + sinh_over * (m[0] - half_trace)),
            scale * sinh_over * m[1],
            scale * sinh_over * m[2],
            scale * (cosh + sinh_over * (m[3] - half_trace)),
        )
        if dt_s % MAX_STEP_S == 0 and dt_s <= LONGEST_STEP_S:
            self._decay[key] = result
        return result
