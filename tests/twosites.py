"""The demo hub and a canteen: the fleet the tests of a site's dashboards build from."""

from __future__ import annotations

from typing import Any

import yaml

from coldchain.fleet import Fleet, parse_yaml
from coldchain_devstack.stack import DEMO_FLEET

HUB, CANTEEN = "dortmund-hub", "canteen"
CANTEEN_ASSET, CANTEEN_SENSOR, CANTEEN_GATEWAY = "canteen-room", "canteen-gw.air", "canteen-gw"
CANTEEN_INTERVAL_S = 60


def two_sites_data() -> dict[str, Any]:
    """The demo fleet and a canteen with a cold room, a gateway and a probe."""
    data: dict[str, Any] = parse_yaml(DEMO_FLEET.read_text())
    data["sites"].append(
        {
            "id": CANTEEN,
            "name": "Kantine Nord",
            "timezone": "Europe/Berlin",
            "assets": [
                {
                    "id": CANTEEN_ASSET,
                    "name": {"de": "Kühlraum Kantine", "en": "Canteen cold room"},
                    "category": "meat_products",
                }
            ],
            "gateways": [
                {
                    "id": CANTEEN_GATEWAY,
                    "sensors": [
                        {
                            "id": CANTEEN_SENSOR,
                            "asset": CANTEEN_ASSET,
                            "interval_s": CANTEEN_INTERVAL_S,
                        }
                    ],
                }
            ],
        }
    )
    return data


def two_sites() -> Fleet:
    return Fleet.model_validate(two_sites_data())


def two_sites_yaml() -> str:
    return yaml.safe_dump(two_sites_data(), sort_keys=False, allow_unicode=True)
