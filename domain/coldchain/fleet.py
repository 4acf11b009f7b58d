"""The fleet: sites, their gateways and sensors, and the assets the sensors watch.

One YAML file describes it (`fleet/dortmund-hub.yaml` is the demo hub). Which
sensor belongs to which asset, and each asset's category and limits, come from
that file and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coldchain.categories import PRESETS, Category
from coldchain.contract import Id, SensorId
from coldchain.errors import FleetConfigError
from coldchain.limits import Limits

DEFAULT_INTERVAL_S = 60.0
#: A gateway offline for less than this (s) raised no alarm: long enough for a restart
#: of the broker, of ingest or of the gateway, short next to what food may stand.
OFFLINE_AFTER_S = 300.0


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Names(_Config):
    de: str
    en: str


class Asset(_Config):
    """A fridge, cold room, freezer or van compartment.

    Its limits are the category's preset with the asset's own `limits` overrides
    (any field of coldchain.limits.Limits) on top.
    """

    id: Id
    name: Names
    category: str
    limits_override: dict[str, Any] = Field(default_factory=dict, alias="limits")

    @model_validator(mode="after")
    def _valid_limits(self) -> Self:
        if self.category not in PRESETS:
            known = ", ".join(sorted(PRESETS))
            raise ValueError(f"unknown category {self.category!r}; known: {known}")
        try:
            self.limits  # noqa: B018 - resolve once to report bad overrides at load time
        except ValidationError as exc:
            raise ValueError(f"asset {self.id}: limits are not valid: {exc}") from None
        return self

    @property
    def preset(self) -> Category:
        return PRESETS[self.category]

    @cached_property
    def limits(self) -> Limits:
        return self.preset.limits(**self.limits_override)


class Sensor(_Config):
    """A probe; `interval_s` is how often it reports, in seconds.

    A `door` sensor sends door events only: it has no readings to miss.
    """

    id: SensorId
    asset: Id
    kind: Literal["temperature", "door"] = "temperature"
    interval_s: float = Field(default=DEFAULT_INTERVAL_S, gt=0)


#: A number plate: letters (umlauts too), digits, spaces and hyphens, as plates are written.
PLATE_PATTERN = r"^[A-ZÄÖÜ0-9][A-ZÄÖÜ0-9 -]{0,18}[A-ZÄÖÜ0-9]$"


class Gateway(_Config):
    id: Id
    mobile: bool = False
    plate: str | None = Field(
        default=None,
        pattern=PLATE_PATTERN,
        description="The number plate of the vehicle a mobile gateway rides in, as written "
        "on the plate (`DO-RW 101`); delivery certificates print it.",
    )
    battery_low_v: float | None = Field(
        default=None, gt=0, description="Battery below this (V) is an alarm; none: not checked."
    )
    offline_after_s: float = Field(
        default=OFFLINE_AFTER_S,
        ge=0,
        description="How long (s) the gateway must be offline before that is an alarm: a "
        "restart of the broker, of ingest or of the gateway itself is not an incident.",
    )
    sensors: list[Sensor]

    @model_validator(mode="after")
    def _plate_on_a_vehicle(self) -> Self:
        if self.plate is not None and not self.mobile:
            raise ValueError(
                f"gateway {self.id} has a plate but is not mobile: a plate belongs to a "
                "vehicle's gateway (mobile: true)"
            )
        return self


class Site(_Config):
    id: Id
    name: str
    address: str | None = Field(
        default=None,
        pattern=r"^[^\x00-\x1f\x7f]{1,200}$",
        description="The site's postal address, one line; delivery certificates print it "
        "as the sender's.",
    )
    timezone: str = "Europe/Berlin"
    gateways: list[Gateway]
    assets: list[Asset]


class Fleet(_Config):
    """Every site of one deployment, with lookups by sensor and asset id."""

    sites: list[Site]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        seen: dict[str, set[str]] = {"gateway": set(), "sensor": set(), "asset": set()}
        for site in self.sites:
            assets = {asset.id for asset in site.assets}
            for asset in site.assets:
                _unique(seen["asset"], asset.id, "asset")
            for gateway in site.gateways:
                _unique(seen["gateway"], gateway.id, "gateway")
                for sensor in gateway.sensors:
                    _unique(seen["sensor"], sensor.id, "sensor")
                    if sensor.asset not in assets:
                        raise ValueError(
                            f"sensor {sensor.id} names asset {sensor.asset}, "
                            f"which site {site.id} does not define"
                        )
        return self

    @classmethod
    def from_yaml(cls, text: str) -> Fleet:
        """Parse a fleet file's text; raises FleetConfigError naming the problem."""
        return cls.from_data(parse_yaml(text))

    @classmethod
    def from_data(cls, data: Any) -> Fleet:
        """The fleet of a fleet file's data (as `parse_yaml` gives it); raises
        FleetConfigError naming the problem."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise FleetConfigError(f"fleet file is not valid: {exc}") from None

    def sensors(self) -> list[tuple[Site, Gateway, Sensor, Asset]]:
        """Every sensor with its site, gateway and asset."""
        return list(self._index.values())

    def gateways(self) -> list[tuple[Site, Gateway]]:
        """Every gateway with its site."""
        return list(self._gateways.values())

    def gateway(self, gateway_id: str) -> tuple[Site, Gateway] | None:
        """The site and entry of a gateway, or None if the fleet does not know it."""
        return self._gateways.get(gateway_id)

    @cached_property
    def _gateways(self) -> dict[str, tuple[Site, Gateway]]:
        return {gateway.id: (site, gateway) for site in self.sites for gateway in site.gateways}

    def sender_problem(self, site: str, gateway: str, sensors: Iterable[str]) -> str | None:
        """Why a message from `site`/`gateway` may not carry these sensors, or None.

        A gateway the fleet knows must publish under its own site, and no gateway
        may report a sensor the fleet gives to another one, nor one named after
        another gateway the fleet knows (`van-2.clock`, `van-2.outbox`, `van-2`:
        that gateway's own alarms): either would let one gateway raise or clear
        another's alarms. Other sensors the fleet does not know are allowed
        (stored, not judged).
        """
        known = self.gateway(gateway)
        if known is not None and known[0].id != site:
            return f"gateway {gateway} belongs to site {known[0].id}, not {site}"
        for sensor in sensors:
            located = self._index.get(sensor)
            if located is not None:
                owner = located[1].id
            else:
                # `van-2.clock`, and a bare `van-2` too: the engine reads the gateway
                # of a gateway event from the part before the dot.
                head = sensor.partition(".")[0]
                owner = head if self.gateway(head) is not None else gateway
            if owner != gateway:
                return f"sensor {sensor} belongs to gateway {owner}, not {gateway}"
        return None

    def locate(self, sensor_id: str) -> tuple[Site, Gateway, Sensor, Asset] | None:
        """The site, gateway, sensor entry and asset of a sensor, or None if unknown."""
        return self._index.get(sensor_id)

    def unknown(self, sensor_ids: Iterable[str]) -> set[str]:
        """The sensors of `sensor_ids` the fleet does not know."""
        return set(sensor_ids).difference(self._index)

    @cached_property
    def _index(self) -> dict[str, tuple[Site, Gateway, Sensor, Asset]]:
        index = {}
        for site in self.sites:
            assets = {asset.id: asset for asset in site.assets}
            for gateway in site.gateways:
                for sensor in gateway.sensors:
                    index[sensor.id] = (site, gateway, sensor, assets[sensor.asset])
        return index


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """A fleet file's text as plain data; raises FleetConfigError if it is not YAML.
    libyaml's parser, where PyYAML has it, is the faster."""
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise FleetConfigError(f"fleet file is not valid: {exc}") from None


def _unique(seen: set[str], value: str, what: str) -> None:
    if value in seen:
        raise ValueError(f"{what} id {value!r} appears twice")
    seen.add(value)
