"""The fleet: sites, their gateways and sensors, and the assets the sensors watch.

One YAML file describes it (`fleet/dortmund-hub.yaml` is the demo hub). Which
sensor belongs to which asset, and each asset's category and limits, come from
that file and nowhere else.
"""

from __future__ import annotations

from functools import cached_property
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coldchain.categories import PRESETS, Category
from coldchain.contract import Id, SensorId
from coldchain.errors import FleetConfigError

DEFAULT_INTERVAL_S = 60.0
DEFAULT_DELAY_S = 900.0


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Config):
    de: str
    en: str


class Asset(_Config):
    """A fridge, cold room, freezer or van compartment with its limits in °C.

    `max_c` overrides the category's regulatory maximum; `delay_s` is how long
    (seconds of reading time) the value must stay above it before an alert.
    """

    id: Id
    name: Names
    category: str
    max_c: float | None = None
    delay_s: float = Field(default=DEFAULT_DELAY_S, ge=0)

    @model_validator(mode="after")
    def _known_category(self) -> Self:
        if self.category not in PRESETS:
            known = ", ".join(sorted(PRESETS))
            raise ValueError(f"unknown category {self.category!r}; known: {known}")
        return self

    @property
    def preset(self) -> Category:
        return PRESETS[self.category]

    @property
    def limit_max_c(self) -> float:
        """The maximum in °C that the alarm rule uses."""
        return self.preset.max_c if self.max_c is None else self.max_c


class Sensor(_Config):
    """A probe; `interval_s` is how often it reports, in seconds."""

    id: SensorId
    asset: Id
    interval_s: float = Field(default=DEFAULT_INTERVAL_S, gt=0)


class Gateway(_Config):
    id: Id
    mobile: bool = False
    sensors: list[Sensor]


class Site(_Config):
    id: Id
    name: str
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
        try:
            return cls.model_validate(yaml.safe_load(text))
        except (yaml.YAMLError, ValidationError) as exc:
            raise FleetConfigError(f"fleet file is not valid: {exc}") from None

    def locate(self, sensor_id: str) -> tuple[Site, Gateway, Sensor, Asset] | None:
        """The site, gateway, sensor entry and asset of a sensor, or None if unknown."""
        return self._index.get(sensor_id)

    @cached_property
    def _index(self) -> dict[str, tuple[Site, Gateway, Sensor, Asset]]:
        index = {}
        for site in self.sites:
            assets = {asset.id: asset for asset in site.assets}
            for gateway in site.gateways:
                for sensor in gateway.sensors:
                    index[sensor.id] = (site, gateway, sensor, assets[sensor.asset])
        return index


def _unique(seen: set[str], value: str, what: str) -> None:
    if value in seen:
        raise ValueError(f"{what} id {value!r} appears twice")
    seen.add(value)
