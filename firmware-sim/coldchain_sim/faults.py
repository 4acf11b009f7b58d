"""Faults the simulator can inject into a compartment."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from coldchain.contract import SensorId


class FaultKind(StrEnum):
    COMPRESSOR_FAILURE = "compressor_failure"
    """The compressor stops and never runs again; the compartment warms to ambient."""
    DOOR_STUCK_OPEN = "door_stuck_open"
    """The door opens (if closed) and never closes; the compressor cannot keep up."""


class Fault(BaseModel):
    """A fault on the compartment that `sensor` measures, `after_s` seconds of reading
    time after the firmware's first tick."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    sensor: SensorId
    after_s: float = Field(default=0.0, ge=0)
