"""The scenario file: which gateways exist, their compartments, tours, faults and batteries.

`firmware-sim/scenarios/dortmund-hub.yaml` is the demo hub; firmware-sim/README.md
lists the others. A compartment names its profile and may override any of that
profile's thermal constants.
"""

from __future__ import annotations

import dataclasses
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coldchain.contract import Id, SensorId
from coldchain_sim.errors import ScenarioError, UnknownIdError
from coldchain_sim.faults import Fault, FaultKind
from coldchain_sim.profiles import DEFAULTS, Profile
from coldchain_sim.thermal import ThermalParams

SITE_TIMEZONE = "Europe/Berlin"
"""Local time of the hub: the daily ambient cycle and defrost schedules follow it."""
DEFAULT_DWELL_S = 600.0
DEFAULT_SPEED_KMH = 30.0
DEFAULT_DISCHARGE_V_PER_H = 0.002

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
    ambient_swing_k: float | None = Field(default=None, ge=0, le=30.0)
    product_kg: float | None = Field(default=None, ge=0)
    product_tau_s: float | None = Field(default=None, gt=0)
    product_kj_per_kg_k: float | None = Field(default=None, gt=0)
    air_kj_per_k: float | None = Field(default=None, gt=0)
    defrost_every_s: float | None = Field(default=None, ge=0)
    defrost_s: float | None = Field(default=None, ge=0)
    defrost_heat_k_per_s: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _can_hold_setpoint(self) -> Self:
        params = self.thermal()
        needed = params.cooling_needed_k_per_s()
        if params.cooling_k_per_s <= needed:
            raise ValueError(
                f"compartment {self.sensor}: cooling_k_per_s {params.cooling_k_per_s} cannot "
                f"hold the set point {params.setpoint_c} °C; it must exceed {needed:.5f} K/s "
                "(raise cooling_k_per_s or tau_s, or lower ambient_c, ambient_swing_k or "
                "heat_load_k_per_s)"
            )
        problem = params.defrost_problem()
        if problem is not None:
            raise ValueError(f"compartment {self.sensor}: {problem}")
        return self

    def thermal(self) -> ThermalParams:
        """The profile's constants with this compartment's overrides applied."""
        overrides = {name: getattr(self, name) for name in _THERMAL_FIELDS}
        given = {name: value for name, value in overrides.items() if value is not None}
        return dataclasses.replace(DEFAULTS[self.profile].thermal, **given)


class RoutePoint(_Spec):
    """A point of a route, in WGS 84 degrees."""

    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)


class Stop(RoutePoint):
    """A stop of a tour: the van waits `dwell_s` seconds, and every compartment's door
    opens `openings` times meanwhile."""

    name: str = Field(min_length=1, max_length=80)
    dwell_s: float = Field(default=DEFAULT_DWELL_S, ge=0)
    openings: int = Field(default=1, ge=0, le=20)


class DeadZone(_Spec):
    """Where or when the gateway has no network: an area (`lat`, `lon`, `radius_m`) the
    van drives through, or a window of reading time (`after_s`, `duration_s`) counted
    from the first tick."""

    name: str | None = Field(default=None, max_length=80)
    lat: float | None = Field(default=None, ge=-90.0, le=90.0)
    lon: float | None = Field(default=None, ge=-180.0, le=180.0)
    radius_m: float | None = Field(default=None, gt=0)
    after_s: float | None = Field(default=None, ge=0)
    duration_s: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _area_or_window(self) -> Self:
        area = [value is not None for value in (self.lat, self.lon, self.radius_m)]
        window = [value is not None for value in (self.after_s, self.duration_s)]
        is_area = all(area) and not any(window)
        is_window = all(window) and not any(area)
        if not (is_area or is_window):
            raise ValueError(
                "a dead zone is either an area (lat, lon, radius_m) or a window of time "
                "(after_s, duration_s); give all fields of exactly one"
            )
        return self

    @property
    def is_area(self) -> bool:
        return self.radius_m is not None


class BatterySpec(_Spec):
    """A battery-powered gateway: volts when full and when empty, and its normal discharge."""

    full_v: float = Field(gt=0, le=60.0)
    empty_v: float = Field(gt=0, le=60.0)
    start_v: float | None = Field(default=None, gt=0, le=60.0, description="Default: full_v.")
    discharge_v_per_h: float = Field(default=DEFAULT_DISCHARGE_V_PER_H, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.empty_v >= self.full_v:
            raise ValueError(f"battery empty_v {self.empty_v} must be below full_v {self.full_v}")
        start = self.full_v if self.start_v is None else self.start_v
        if not self.empty_v <= start <= self.full_v:
            raise ValueError(f"battery start_v {start} must lie between empty_v and full_v")
        return self


class GatewaySpec(_Spec):
    """One gateway: its compartments, optionally a tour or a route, dead zones, a battery,
    and its faults."""

    id: Id
    compartments: list[CompartmentSpec] = Field(min_length=1)
    tour: list[Stop] | None = Field(
        default=None,
        min_length=2,
        description="Stops a van visits in order, then again from the first; absent for rooms.",
    )
    route: list[RoutePoint] | None = Field(
        default=None, min_length=2, description="Closed loop a van drives without stopping."
    )
    speed_kmh: float = Field(default=DEFAULT_SPEED_KMH, gt=0)
    dead_zones: list[DeadZone] = Field(default_factory=list)
    battery: BatterySpec | None = None
    timezone: str = SITE_TIMEZONE
    faults: list[Fault] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.tour is not None and self.route is not None:
            raise ValueError(f"gateway {self.id}: give a tour or a route, not both")
        if self.tour is not None and sum(stop.dwell_s for stop in self.tour) == 0:
            same = {(stop.lat, stop.lon) for stop in self.tour}
            if len(same) == 1:
                raise ValueError(f"gateway {self.id}: a tour must move or wait somewhere")
        moving = self.tour is not None or self.route is not None
        if any(zone.is_area for zone in self.dead_zones) and not moving:
            raise ValueError(
                f"gateway {self.id}: a dead zone with an area needs a tour or a route; "
                "a gateway that does not move has windows (after_s, duration_s) only"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"gateway {self.id}: timezone {self.timezone!r} is not an IANA zone name; "
                f"use one like {SITE_TIMEZONE!r}"
            ) from None
        self._check_faults()
        return self

    def _check_faults(self) -> None:
        own = {compartment.sensor for compartment in self.compartments}
        for fault in self.faults:
            if fault.sensor is not None and fault.sensor not in own:
                raise ValueError(
                    f"gateway {self.id}: fault {fault.kind} names sensor {fault.sensor}, "
                    f"which is not one of its compartments ({', '.join(sorted(own))})"
                )
            if fault.kind is FaultKind.DYING_BATTERY and self.battery is None:
                raise ValueError(
                    f"gateway {self.id}: fault dying_battery needs a battery; add "
                    "'battery: {full_v: 3.6, empty_v: 3.0}' to the gateway"
                )


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
