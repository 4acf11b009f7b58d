"""What a report or a certificate is about: one temperature sensor of one asset in the fleet.

Its limits become the two bands every number is computed against: the alarm
band (the asset's `min_c`..`max_c`) and the legal band (the category's
regulatory maximum).
"""

from __future__ import annotations

from dataclasses import dataclass

from coldchain.compliance import GAP_FACTOR, Band, Rules
from coldchain.fleet import Asset, Fleet, Gateway, Sensor, Site
from coldchain.limits import Limits
from coldchain_reports.errors import UnknownInFleet


@dataclass(frozen=True)
class Scope:
    site: Site
    gateway: Gateway
    """The sensor's gateway: on a van, the vehicle it rides in."""
    asset: Asset
    sensor: Sensor
    asset_sensors: tuple[str, ...] = ()
    """Every sensor of the asset: its door openings and defrost starts come from them."""

    @property
    def limits(self) -> Limits:
        return self.asset.limits

    @property
    def timezone(self) -> str:
        return self.site.timezone

    @property
    def reach_s(self) -> float:
        """The longest a reading covers (s): 1.5 recording intervals (coldchain.compliance)."""
        return GAP_FACTOR * self.sensor.interval_s

    @property
    def rules(self) -> Rules:
        """How excursions are delimited: the rule engine's rules with the asset's limits."""
        return Rules(self.limits, self.timezone)

    @property
    def alarm_band(self) -> Band:
        return Band(max_c=self.limits.max_c, min_c=self.limits.min_c)

    @property
    def legal_band(self) -> Band:
        return Band(max_c=self.limits.regulatory_max_c)


def of_asset(fleet: Fleet, asset_id: str, sensor_id: str | None = None) -> Scope:
    """The asset's temperature sensor (`sensor_id` chooses when it has several)."""
    candidates = [
        (site, gateway, sensor, asset)
        for site, gateway, sensor, asset in fleet.sensors()
        if asset.id == asset_id and sensor.kind == "temperature"
    ]
    if not candidates:
        known = sorted({asset.id for site in fleet.sites for asset in site.assets})
        raise UnknownInFleet(
            f"the fleet has no asset {asset_id!r} with a temperature sensor; "
            f"assets: {', '.join(known)}"
        )
    if sensor_id is not None:
        candidates = [c for c in candidates if c[2].id == sensor_id]
        if not candidates:
            raise UnknownInFleet(f"sensor {sensor_id!r} does not watch asset {asset_id!r}")
    if len(candidates) > 1:
        names = ", ".join(sensor.id for _site, _gateway, sensor, _asset in candidates)
        raise UnknownInFleet(
            f"asset {asset_id!r} has several temperature sensors ({names}); "
            "choose one with --sensor"
        )
    site, gateway, sensor, asset = candidates[0]
    return Scope(site, gateway, asset, sensor, _sensors_of(fleet, asset))


def of_sensor(fleet: Fleet, sensor_id: str) -> Scope:
    located = fleet.locate(sensor_id)
    if located is None or located[2].kind != "temperature":
        known = sorted(s.id for _si, _g, s, _a in fleet.sensors() if s.kind == "temperature")
        raise UnknownInFleet(
            f"the fleet has no temperature sensor {sensor_id!r}; sensors: {', '.join(known)}"
        )
    site, gateway, sensor, asset = located
    return Scope(site, gateway, asset, sensor, _sensors_of(fleet, asset))


def _sensors_of(fleet: Fleet, asset: Asset) -> tuple[str, ...]:
    return tuple(sensor.id for _s, _g, sensor, other in fleet.sensors() if other.id == asset.id)
