"""dashboards/*.json are what the code builds, and use the provisioned data source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from coldchain.fleet import Fleet
from coldchain_dashboards import FleetNotSupported, build, openwork, render
from coldchain_dashboards.influxql import DATASOURCE_UID

REPO = Path(__file__).resolve().parents[2]
BOARDS = REPO / "dashboards"
FLEET = REPO / "fleet" / "dortmund-hub.yaml"
PROVISIONED = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "influxdb.yaml"


def test_committed_json_is_what_the_code_builds() -> None:
    built = build(Fleet.from_yaml(FLEET.read_text()))
    committed = {path.name for path in BOARDS.glob("*.json")}
    assert committed == set(built), "run `make dashboards` to regenerate dashboards/*.json"
    for name, board in built.items():
        text = (BOARDS / name).read_text(encoding="utf-8")
        assert text == render(board), f"dashboards/{name} is stale: run `make dashboards`"


def test_every_query_uses_the_provisioned_data_source() -> None:
    (source,) = yaml.safe_load(PROVISIONED.read_text())["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, "influxdb")
    assert source["jsonData"]["version"] == "InfluxQL"
    for path in BOARDS.glob("*.json"):
        board = json.loads(path.read_text())
        refs = [t["datasource"] for p in board["panels"] for t in p.get("targets", [])]
        refs += [v["datasource"] for v in board["templating"]["list"]]
        refs += [a["datasource"] for a in board["annotations"].get("list", [])]
        assert refs and all(ref == {"type": "influxdb", "uid": DATASOURCE_UID} for ref in refs)


def test_every_query_is_raw_influxql_over_the_time_range() -> None:
    """Except open work, which reads every alert's latest step: an alert acknowledged a
    year ago and never closed is open work today."""
    whole_history = {*openwork.counts().values(), openwork.listing()}
    for path in BOARDS.glob("*.json"):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                assert target["rawQuery"] is True
                query = target["query"]
                bounded = "$timeFilter" in query or "now() -" in query
                assert bounded or query in whole_history, target


def test_panel_ids_and_dashboard_uids_are_unique() -> None:
    boards: list[dict[str, Any]] = [json.loads(p.read_text()) for p in BOARDS.glob("*.json")]
    assert len({b["uid"] for b in boards}) == len(boards)
    for board in boards:
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids))


def test_an_asset_with_two_probes_is_refused() -> None:
    fleet = yaml.safe_load(FLEET.read_text())
    gateway = fleet["sites"][0]["gateways"][0]
    gateway["sensors"].append({"id": "cold-room-1.spare", "asset": gateway["sensors"][0]["asset"]})
    with pytest.raises(FleetNotSupported, match="2 temperature probes"):
        build(Fleet.model_validate(fleet))
