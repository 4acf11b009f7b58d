"""What the dashboards need to know about the fleet: each asset's limits and sampling.

Limits come from the fleet file (category preset plus the asset's overrides), exactly
as the rules use them; the panels draw them as threshold bands.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from coldchain.compliance import Band
from coldchain.fleet import Asset, Fleet
from coldchain_dashboards.errors import FleetNotSupported


@dataclass(frozen=True)
class WatchedAsset:
    """An asset with one temperature probe reporting every `interval_s` seconds."""

    asset: Asset
    site: str
    interval_s: float

    @property
    def id(self) -> str:
        return self.asset.id

    @property
    def band(self) -> Band:
        """The alarm band, °C: the limits the rules alarm on."""
        return Band(max_c=self.asset.limits.max_c, min_c=self.asset.limits.min_c)

    @property
    def legal_max_c(self) -> float:
        """The category's regulatory maximum, °C."""
        return self.asset.limits.regulatory_max_c


def watched_assets(fleet: Fleet) -> list[WatchedAsset]:
    """Every asset with its probe's interval; an asset without a probe is left out.

    The panels show one temperature line per asset, so an asset watched by two
    temperature probes is refused.
    """
    probes: dict[str, list[float]] = defaultdict(list)
    for _, _, sensor, asset in fleet.sensors():
        if sensor.kind == "temperature":
            probes[asset.id].append(sensor.interval_s)
    watched = []
    for site in fleet.sites:
        for asset in site.assets:
            intervals = probes.get(asset.id, [])
            if len(intervals) > 1:
                raise FleetNotSupported(
                    f"asset {asset.id} has {len(intervals)} temperature probes; the "
                    "dashboards show one temperature per asset: give each probe its own "
                    "asset in the fleet file"
                )
            if intervals:
                watched.append(WatchedAsset(asset, site.id, intervals[0]))
    return watched


def timezone(fleet: Fleet) -> str:
    """The one time zone of every site: compliance days are its local days."""
    zones = {site.timezone for site in fleet.sites}
    if len(zones) != 1:
        raise FleetNotSupported(
            f"sites are in several time zones ({', '.join(sorted(zones))}); the dashboards "
            "group by one local day: build them from one fleet file per time zone"
        )
    return zones.pop()
