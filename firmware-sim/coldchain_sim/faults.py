"""Faults the simulator can inject: into a compartment, or into the gateway itself.

A fault starts `after_s` reading seconds after the firmware's first tick (or at
the next tick, injected with Firmware.inject) and lasts `duration_s` reading
seconds, or for good without one. Rates are per physics hour.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from coldchain.contract import SensorId


class FaultKind(StrEnum):
    COMPRESSOR_FAILURE = "compressor_failure"
    """The compressor stops; the compartment warms towards ambient (vans: above it)."""
    DOOR_LEFT_OPEN = "door_left_open"
    """The door opens (if closed) and stays open; the compressor cannot keep up."""
    POWER_LOSS = "power_loss"
    """Compressor, heater and probe lose power: no readings; power_lost/power_restored."""
    SENSOR_DRIFT = "sensor_drift"
    """The probe reports the true value plus `rate_k_per_h` per hour since the start."""
    STUCK_SENSOR = "stuck_sensor"
    """The probe repeats the value it reported last before the fault."""
    DYING_BATTERY = "dying_battery"
    """The gateway's battery falls `rate_v_per_h` faster than normal (needs `battery`)."""
    CLOCK_JUMP = "clock_jump"
    """The gateway's clock is off by `offset_s` (see Firmware.clock_offset_s)."""

    @classmethod
    def _missing_(cls, value: object) -> FaultKind | None:
        # Scenario files written before the rename still load.
        return cls.DOOR_LEFT_OPEN if value == "door_stuck_open" else None


GATEWAY_FAULTS = frozenset({FaultKind.DYING_BATTERY, FaultKind.CLOCK_JUMP})
"""Faults of the gateway as a whole: they name no sensor."""

#: Without a sensor, a power loss cuts every compartment of the gateway.
_SENSOR_OPTIONAL = frozenset({FaultKind.POWER_LOSS})

DEFAULT_DRIFT_K_PER_H = 0.5
DEFAULT_BATTERY_FALL_V_PER_H = 0.1


class Fault(BaseModel):
    """A fault on the compartment that `sensor` measures (or on the whole gateway),
    from `after_s` reading seconds after the firmware's first tick, for `duration_s`
    reading seconds or for good.

    Parameters, each only for its kind: `rate_k_per_h` (sensor_drift, default 0.5 K
    per physics hour, may be negative), `rate_v_per_h` (dying_battery, default 0.1 V
    per physics hour on top of the normal discharge), `offset_s` (clock_jump,
    required: seconds the clock is ahead, negative if behind).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    kind: FaultKind
    sensor: SensorId | None = None
    after_s: float = Field(default=0.0, ge=0)
    duration_s: float | None = Field(default=None, gt=0)
    rate_k_per_h: float | None = None
    rate_v_per_h: float | None = Field(default=None, gt=0)
    offset_s: float | None = None

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Self:
        kind = self.kind
        if kind in GATEWAY_FAULTS and self.sensor is not None:
            raise ValueError(f"{kind} is a fault of the whole gateway; remove 'sensor'")
        if kind not in GATEWAY_FAULTS | _SENSOR_OPTIONAL and self.sensor is None:
            raise ValueError(f"{kind} needs 'sensor': the air sensor of the compartment it hits")
        only = {
            "rate_k_per_h": FaultKind.SENSOR_DRIFT,
            "rate_v_per_h": FaultKind.DYING_BATTERY,
            "offset_s": FaultKind.CLOCK_JUMP,
        }
        for name, owner in only.items():
            if getattr(self, name) is not None and kind is not owner:
                raise ValueError(f"{name} applies to {owner} only, not to {kind}")
        if kind is FaultKind.CLOCK_JUMP and not self.offset_s:
            raise ValueError("clock_jump needs 'offset_s', the non-zero seconds the clock is off")
        if kind is FaultKind.SENSOR_DRIFT and self.rate_k_per_h == 0:
            raise ValueError("sensor_drift needs a non-zero rate_k_per_h")
        return self

    @property
    def drift_k_per_h(self) -> float:
        return DEFAULT_DRIFT_K_PER_H if self.rate_k_per_h is None else self.rate_k_per_h

    @property
    def battery_fall_v_per_h(self) -> float:
        return DEFAULT_BATTERY_FALL_V_PER_H if self.rate_v_per_h is None else self.rate_v_per_h
