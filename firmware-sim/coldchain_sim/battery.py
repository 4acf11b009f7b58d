"""A gateway's battery: its voltage falls linearly in physics time, down to `empty_v`.

Normal use discharges it at `discharge_v_per_h`; a dying battery falls faster
for as long as the fault lasts, and the fault's end stands for a new battery.
"""

from __future__ import annotations

_HOUR_S = 3600.0


class Battery:
    """Voltage (V) over physics seconds."""

    def __init__(self, full_v: float, empty_v: float, start_v: float, discharge_v_per_h: float):
        self._full_v = full_v
        self._empty_v = empty_v
        self._normal_v_per_h = discharge_v_per_h
        self._since_s = 0.0
        self._since_v = start_v
        self._falls_v_per_h = discharge_v_per_h

    def state(self) -> dict[str, float]:
        return {"since_s": self._since_s, "since_v": self._since_v, "falls": self._falls_v_per_h}

    def resume(self, state: dict[str, float]) -> None:
        self._since_s = float(state["since_s"])
        self._since_v = float(state["since_v"])
        self._falls_v_per_h = float(state["falls"])

    def at(self, physics_s: float) -> float:
        """The voltage at physics time `physics_s`, to the millivolt."""
        return round(self._volts(physics_s), 3)

    def dying(self, physics_s: float, extra_v_per_h: float) -> None:
        """From `physics_s` on, fall `extra_v_per_h` faster than normal."""
        self._since_v = self._volts(physics_s)
        self._since_s = physics_s
        self._falls_v_per_h = self._normal_v_per_h + extra_v_per_h

    def replace(self, physics_s: float) -> None:
        """A full battery from `physics_s` on, discharging normally."""
        self._since_v = self._full_v
        self._since_s = physics_s
        self._falls_v_per_h = self._normal_v_per_h

    def _volts(self, physics_s: float) -> float:
        fallen = self._falls_v_per_h * (physics_s - self._since_s) / _HOUR_S
        return min(max(self._since_v - fallen, self._empty_v), self._full_v)
