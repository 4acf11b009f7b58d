"""The scenario file: which gateways exist, their compartments, routes and faults.

`firmware-sim/scenarios/dortmund-hub.yaml` is the demo hub. A compartment names
its profile and may override any of that profile's thermal constants.
"""

from __future__ import annotations

import dataclasses
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coldchain.contract import Id, SensorId
from coldchain_sim.errors import ScenarioError, UnknownIdError
from coldchain_sim.faults import Fault
from coldchain_sim.profiles import DEFAULTS, Profile
from coldchain_sim.thermal import ThermalParams

_THERMAL_FIELDS = tuple(field.name for field in dataclasses.fields(ThermalParams))


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class CompartmentSpec(_Spec):
    """One compartment and its air sensor; unset constants come from the profile.

    Units: °C for temperatures, K for the hysteresis band and the noise's standard
    deviation, seconds for time constants, K/s for rates.
    """

    sensor: SensorId
    profile: Profile
    door: SensorId | None = Field(
        default=None, description="Door sensor id; only then are door events reported."
    )
    setpoint_c: float | None = Field(default=None, ge=-50.0, le=60.0)
    hysteresis_k: float | None = Field(default=None, gt=0)
    ambient_c: float | None = Field(default=None, ge=-50.0, le=60.0)
    tau_s: float | None = Field(default=None, gt=0)
    cooling_k_per_s: float | None = Field(default=None, ge=0)
    heat_load_k_per_s: float | None = Field(default=None, ge=0)
    door_tau_s: float | None = Field(default=None, gt=0)
    noise_k: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _can_hold_setpoint(self) -> Self:
        params = self.thermal()
        needed = params.cooling_needed_k_per_s()
        if params.cooling_k_per_s <= needed:
            raise ValueError(
                f"compartment {self.sensor}: cooling_k_per_s {params.cooling_k_per_s} cannot "
                f"hold the set point {params.setpoint_c} °C; it must exceed {needed:.5f} K/s "
                "(raise cooling_k_per_s or tau_s, or lower ambient_c or heat_load_k_per_s)"
            )
        return self

    def thermal(self) -> ThermalParams:
        """The profile's constants with this compartment's overrides applied."""
        overrides = {name: getattr(self, name) for name in _THERMAL_FIELDS}
        given = {name: value for name, value in overrides.items() if value is not None}
        return dataclasses.replace(DEFAULTS[self.profile].thermal, **given)


class RoutePoint(_Spec):
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)


class GatewaySpec(_Spec):
    """One gateway: its compartments, optionally a delivery loop, and its faults."""

    id: Id
    compartments: list[CompartmentSpec] = Field(min_length=1)
    route: list[RoutePoint] | None = Field(
        default=None, min_length=2, description="Closed loop a van drives; absent for rooms."
    )
    speed_kmh: float = Field(default=30.0, gt=0)
    faults: list[Fault] = Field(default_factory=list)

    @model_validator(mode="after")
    def _faults_on_own_sensors(self) -> Self:
        own = {compartment.sensor for compartment in self.compartments}
        for fault in self.faults:
            if fault.sensor not in own:
                raise ValueError(
                    f"gateway {self.id}: fault {fault.kind} names sensor {fault.sensor}, "
                    f"which is not one of its compartments ({', '.join(sorted(own))})"
                )
        return self


class Scenario(_Spec):
    """Every simulated gateway of one deployment, and the seed that makes it repeatable."""

    seed: int = 0
    gateways: list[GatewaySpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _ids_unique(self) -> Self:
        gateways: set[str] = set()
        sensors: set[str] = set()
        for gateway in self.gateways:
            _claim(gateways, gateway.id, "gateway")
            for compartment in gateway.compartments:
                _claim(sensors, compartment.sensor, "sensor")
                if compartment.door is not None:
                    _claim(sensors, compartment.door, "sensor")
        return self

    @classmethod
    def from_yaml(cls, text: str) -> Scenario:
        """Parse a scenario file's text; raises ScenarioError naming every problem found."""
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ScenarioError(f"scenario file is not valid YAML: {exc}") from None
        if not isinstance(document, dict):
            raise ScenarioError(
                "scenario file must be a mapping with 'seed' and 'gateways'; "
                f"got {type(document).__name__}"
            )
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            raise ScenarioError(f"scenario file is not valid: {_describe(exc)}") from None

    def gateway(self, gateway_id: str) -> GatewaySpec:
        """The gateway with this id; raises UnknownIdError (a ScenarioError) if there is none."""
        for gateway in self.gateways:
            if gateway.id == gateway_id:
                return gateway
        known = ", ".join(gateway.id for gateway in self.gateways)
        raise UnknownIdError(f"scenario has no gateway {gateway_id!r}; it defines: {known}")


def _claim(seen: set[str], value: str, what: str) -> None:
    if value in seen:
        raise ValueError(f"{what} id {value!r} appears twice")
    seen.add(value)


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        ).lstrip(".")
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)
