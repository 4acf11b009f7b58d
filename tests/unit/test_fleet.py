"""The fleet file: the demo hub loads, inconsistencies are named, category presets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from coldchain.categories import DELAY_S, PRESETS
from coldchain.errors import FleetConfigError
from coldchain.fleet import Asset, Fleet

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fleet" / "dortmund-hub.yaml"


def demo() -> Fleet:
    return Fleet.from_yaml(DEMO.read_text(encoding="utf-8"))


def test_demo_fleet_loads() -> None:
    fleet = demo()
    assert [site.id for site in fleet.sites] == ["dortmund-hub"]
    site = fleet.sites[0]
    assert len(site.gateways) == 6
    assert len(site.assets) == 9


def test_every_demo_sensor_maps_to_its_asset() -> None:
    fleet = demo()
    sensors = [(g, s) for site in fleet.sites for g in site.gateways for s in g.sensors]
    assert len(sensors) == 12, "9 probes and 3 van doors"
    for gateway, sensor in sensors:
        located = fleet.locate(sensor.id)
        assert located is not None, sensor.id
        site, found_gateway, found_sensor, asset = located
        assert (site.id, found_gateway.id, found_sensor) == ("dortmund-hub", gateway.id, sensor)
        assert asset.id == sensor.asset


def test_demo_vans_have_plates_and_the_hub_an_address() -> None:
    fleet = demo()
    assert fleet.sites[0].address == "Musterstraße 1, 44147 Dortmund"
    plates = {gateway.id: gateway.plate for _, gateway in fleet.gateways()}
    assert plates == {
        "cold-room-1": None,
        "cold-room-2": None,
        "freezer-1": None,
        "van-1": "DO-RW 101",
        "van-2": "DO-RW 102",
        "van-3": "DO-RW 103",
    }


def test_locate_unknown_sensor() -> None:
    assert demo().locate("van-9.chilled") is None


def fleet_text(
    assets: list[dict[str, Any]] | None = None,
    gateways: list[dict[str, Any]] | None = None,
    more_sites: list[dict[str, Any]] | None = None,
) -> str:
    site = {
        "id": "hub",
        "name": "Hub",
        "assets": assets if assets is not None else [an_asset("room-1")],
        "gateways": gateways
        if gateways is not None
        else [a_gateway("gw-1", ("gw-1.air", "room-1"))],
    }
    return str(yaml.safe_dump({"sites": [site, *(more_sites or [])]}))


def an_asset(asset_id: str, category: str = "poultry") -> dict[str, Any]:
    return {"id": asset_id, "name": {"de": asset_id, "en": asset_id}, "category": category}


def a_gateway(gateway_id: str, *sensors: tuple[str, str]) -> dict[str, Any]:
    return {"id": gateway_id, "sensors": [{"id": s, "asset": a} for s, a in sensors]}


def test_minimal_fleet_loads() -> None:
    fleet = Fleet.from_yaml(fleet_text())
    located = fleet.locate("gw-1.air")
    assert located is not None
    assert located[3].limits.delay_s == DELAY_S
    assert located[3].limits.max_c == 4.0


BROKEN = [
    # (fleet file text, words the error must contain)
    pytest.param(
        fleet_text(assets=[an_asset("room-1"), an_asset("room-1")]),
        "asset id 'room-1' appears twice",
        id="duplicate-asset",
    ),
    pytest.param(
        fleet_text(gateways=[a_gateway("gw-1"), a_gateway("gw-1")]),
        "gateway id 'gw-1' appears twice",
        id="duplicate-gateway",
    ),
    pytest.param(
        fleet_text(gateways=[a_gateway("gw-1", ("gw-1.air", "room-1"), ("gw-1.air", "room-1"))]),
        "sensor id 'gw-1.air' appears twice",
        id="duplicate-sensor",
    ),
    pytest.param(
        fleet_text(
            more_sites=[
                {
                    "id": "other",
                    "name": "Other",
                    "assets": [an_asset("room-1")],
                    "gateways": [],
                }
            ]
        ),
        "asset id 'room-1' appears twice",
        id="duplicate-asset-across-sites",
    ),
    pytest.param(
        fleet_text(assets=[an_asset("room-1", category="sushi")]),
        "unknown category 'sushi'",
        id="unknown-category",
    ),
    pytest.param(
        fleet_text(gateways=[a_gateway("gw-1", ("gw-1.air", "room-9"))]),
        "sensor gw-1.air names asset room-9, which site hub does not define",
        id="unknown-asset",
    ),
    pytest.param(
        fleet_text(
            gateways=[a_gateway("gw-1", ("gw-1.air", "far-room"))],
            more_sites=[
                {"id": "other", "name": "O", "assets": [an_asset("far-room")], "gateways": []}
            ],
        ),
        "sensor gw-1.air names asset far-room, which site hub does not define",
        id="asset-of-another-site",
    ),
    pytest.param(
        fleet_text(assets=[an_asset("Room 1")], gateways=[]), "sites.0.assets.0.id", id="bad-id"
    ),
    pytest.param(
        fleet_text(assets=[{**an_asset("room-1"), "delay_s": -5}]),
        "delay_s",
        id="negative-delay",
    ),
    pytest.param(
        fleet_text(assets=[{**an_asset("room-1"), "colour": "blue"}]),
        "colour",
        id="unknown-field",
    ),
    pytest.param(
        fleet_text(gateways=[{**a_gateway("gw-1", ("gw-1.air", "room-1")), "plate": "DO-X 1"}]),
        "gateway gw-1 has a plate but is not mobile",
        id="plate-on-a-stationary-gateway",
    ),
    pytest.param(
        fleet_text(gateways=[{**a_gateway("gw-1"), "mobile": True, "plate": "DO-X 1; DROP"}]),
        "sites.0.gateways.0.plate",
        id="plate-not-a-plate",
    ),
    pytest.param(
        yaml.safe_dump(
            {
                "sites": [
                    {
                        "id": "hub",
                        "name": "Hub",
                        "address": "Line 1\nLine 2",
                        "assets": [],
                        "gateways": [],
                    }
                ]
            }
        ),
        "sites.0.address",
        id="address-on-two-lines",
    ),
    pytest.param("sites: [", "fleet file is not valid", id="broken-yaml"),
    pytest.param("", "fleet file is not valid", id="empty-file"),
]


@pytest.mark.parametrize(("text", "culprit"), BROKEN)
def test_broken_fleet_names_the_culprit(text: str, culprit: str) -> None:
    with pytest.raises(FleetConfigError) as caught:
        Fleet.from_yaml(text)
    assert culprit in str(caught.value)


def test_asset_limits_override_the_preset_and_keep_the_regulatory_maximum() -> None:
    asset = Asset(id="a", name={"de": "A", "en": "A"}, category="poultry", limits={"max_c": 3.0})
    assert asset.limits.max_c == 3.0
    assert asset.limits.regulatory_max_c == 4.0
    assert asset.limits.delay_s == DELAY_S


def test_inconsistent_limit_overrides_are_refused_at_load_time() -> None:
    with pytest.raises(ValueError, match="max_c"):
        Asset(id="a", name={"de": "A", "en": "A"}, category="poultry", limits={"max_c": 30.0})
    with pytest.raises(ValueError, match="delay_s"):
        Asset(id="a", name={"de": "A", "en": "A"}, category="poultry", limits={"delay_s": -1})


def test_quick_frozen_tolerates_a_short_rise_of_three_kelvin_only() -> None:
    limits = PRESETS["quick_frozen"].limits()
    assert (limits.max_c, limits.absolute_max_c, limits.min_c) == (-18.0, -15.0, None)


# The table of ../shared/BRIEF.md ("What compliant means"), in °C.
BRIEF_MAXIMA = {
    "minced_meat": 2.0,
    "red_offal": 3.0,
    "poultry": 4.0,
    "meat_products": 6.0,
    "red_meat": 7.0,
    "fresh_fish": 2.0,
    "perishable": 7.0,
    "quick_frozen": -18.0,
    "ice_cream": -20.0,
    "frozen_other": -12.0,
}


def test_presets_are_exactly_the_brief_categories() -> None:
    assert set(PRESETS) == set(BRIEF_MAXIMA)


@pytest.mark.parametrize(("category", "max_c"), sorted(BRIEF_MAXIMA.items()))
def test_preset_maximum(category: str, max_c: float) -> None:
    preset = PRESETS[category]
    assert preset.id == category
    assert preset.max_c == max_c
    assert preset.frozen == (max_c < 0)
    assert preset.name_de and preset.name_en and preset.source


def test_a_gateway_may_not_speak_for_another() -> None:
    fleet = demo()
    assert fleet.sender_problem("dortmund-hub", "van-1", ["van-1.chilled", "spare.probe"]) is None
    assert "belongs to gateway van-2" in str(
        fleet.sender_problem("dortmund-hub", "van-1", ["van-1.chilled", "van-2.chilled"])
    )
    assert "belongs to site dortmund-hub" in str(
        fleet.sender_problem("elsewhere", "van-1", ["van-1.chilled"])
    )


@pytest.mark.parametrize("sender", ["cold-room-1", "not-in-the-fleet"])
@pytest.mark.parametrize("sensor", ["van-2.clock", "van-2.outbox", "van-2.anything", "van-2"])
def test_no_gateway_may_raise_another_gateways_own_alarms(sender: str, sensor: str) -> None:
    """`van-2.clock` and `van-2.outbox` carry van-2's clock_jump and outbox_thinned."""
    problem = demo().sender_problem("dortmund-hub", sender, [sensor])
    assert problem == f"sensor {sensor} belongs to gateway van-2, not {sender}"


def test_a_gateway_reports_its_own_alarms_and_unknown_sensors() -> None:
    fleet = demo()
    assert fleet.sender_problem("dortmund-hub", "van-2", ["van-2.clock", "van-2.outbox"]) is None
    assert fleet.sender_problem("dortmund-hub", "van-2", ["spare.probe", "probe-7"]) is None
