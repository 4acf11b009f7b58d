"""dashboards/{de,en}/*.json are what the code builds, in both languages, and use the
provisioned data source."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from coldchain.fleet import Fleet
from coldchain.languages import LANGUAGES
from coldchain_dashboards import FleetNotSupported, build, openwork, render
from coldchain_dashboards.compliance import status_texts
from coldchain_dashboards.influxql import DATASOURCE_UID

REPO = Path(__file__).resolve().parents[2]
BOARDS = REPO / "dashboards"
FLEET = REPO / "fleet" / "dortmund-hub.yaml"
PROVISIONED = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "influxdb.yaml"


def test_committed_json_is_what_the_code_builds() -> None:
    built = build(Fleet.from_yaml(FLEET.read_text()))
    committed = {path.relative_to(BOARDS).as_posix() for path in BOARDS.glob("**/*.json")}
    assert committed == set(built), "run `make dashboards` to regenerate dashboards/*/*.json"
    for name, board in built.items():
        text = (BOARDS / name).read_text(encoding="utf-8")
        assert text == render(board), f"dashboards/{name} is stale: run `make dashboards`"


def test_every_query_uses_the_provisioned_data_source() -> None:
    (source,) = yaml.safe_load(PROVISIONED.read_text())["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, "influxdb")
    assert source["jsonData"]["version"] == "InfluxQL"
    for path in BOARDS.glob("*/*.json"):
        board = json.loads(path.read_text())
        refs = [t["datasource"] for p in board["panels"] for t in p.get("targets", [])]
        refs += [v["datasource"] for v in board["templating"]["list"]]
        refs += [a["datasource"] for a in board["annotations"].get("list", [])]
        assert refs and all(ref == {"type": "influxdb", "uid": DATASOURCE_UID} for ref in refs)


def test_every_query_is_raw_influxql_over_the_time_range() -> None:
    """Except open work, which reads every alert's latest step: an alert acknowledged a
    year ago and never closed is open work today."""
    whole_history = {*openwork.counts().values(), openwork.listing()}
    for path in BOARDS.glob("*/*.json"):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                assert target["rawQuery"] is True
                query = target["query"]
                bounded = "$timeFilter" in query or "now() -" in query
                assert bounded or query in whole_history, target


def test_panel_ids_and_dashboard_uids_are_unique() -> None:
    boards: list[dict[str, Any]] = [json.loads(p.read_text()) for p in BOARDS.glob("*/*.json")]
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


#: Texts that are the same in both languages: names, units, abbreviations, ids.
NEUTRAL = {"coldchain", "MKT", "Gateway", "Problem", "SHA-256", "gateway"}
GERMAN = re.compile(r"[äöüßÄÖÜ]|\b(der|die|das|und|ist|nicht|pro|Tag|Alarme|Alarmband|Grenzen)\b")
ENGLISH = re.compile(r"\b(the|and|of|is|per|day|alert|limits|when|which)\b", re.IGNORECASE)


def _texts(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(where, text) of everything a person reads in a dashboard: titles, descriptions,
    labels, legends, column headers, value mappings, annotation names, panel content."""
    readable = {
        "title",
        "description",
        "label",
        "alias",
        "displayName",
        "text",
        "content",
        "noValue",
    }
    if isinstance(node, dict):
        if node.get("id") == "displayName":  # a column header in an override
            yield f"{path}.displayName", node["value"]
        for key, value in node.items():
            named = key == "name" and path.endswith(("annotations.list", "layers"))
            if isinstance(value, str) and (key in readable or named):
                yield f"{path}.{key}", value
            yield from _texts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item, path)


def test_every_dashboard_has_its_counterpart_in_the_other_language() -> None:
    built = build(Fleet.from_yaml(FLEET.read_text()))
    german = {name.removeprefix("de/") for name in built if name.startswith("de/")}
    english = {name.removeprefix("en/") for name in built if name.startswith("en/")}
    assert german == english == {"operations.json", "compliance.json", "audit.json", "years.json"}
    uids = [board["uid"] for board in built.values()]
    assert len(set(uids)) == len(uids) == 8


@pytest.mark.parametrize("name", ["operations.json", "compliance.json", "audit.json", "years.json"])
def test_no_text_is_left_in_the_other_language(name: str) -> None:
    built = build(Fleet.from_yaml(FLEET.read_text()))
    de, en = built[f"de/{name}"], built[f"en/{name}"]
    assert [p["type"] for p in de["panels"]] == [p["type"] for p in en["panels"]]
    pairs = list(zip(_texts(de), _texts(en), strict=True))
    assert pairs, name
    for (where, german), (where_en, english) in pairs:
        assert where == where_en
        if (
            german in NEUTRAL
            or not re.search("[a-zA-Z]", german)
            or re.fullmatch(r"[-\w.]*\$[\w $]*", german)
        ):
            continue  # a name, a number, or a legend of tag and column values only
        assert german != english, f"{name} {where}: {german!r} in both"
        assert not GERMAN.search(english), f"en/{name} {where}: {english!r}"
        assert not ENGLISH.search(german), f"de/{name} {where}: {german!r}"


def test_the_compliance_table_marks_today_preliminary_in_each_language() -> None:
    built = build(Fleet.from_yaml(FLEET.read_text()))
    for lang in LANGUAGES:
        board = built[f"{lang}/compliance.json"]
        assert board["time"] == {"from": "now-7d/d", "to": "now"}, "today is in the range"
        table = board["panels"][0]
        (values, null) = table["fieldConfig"]["defaults"]["mappings"]
        preliminary, final = status_texts(lang)
        assert values["options"]["true"]["text"] == preliminary
        assert values["options"]["false"]["text"] == null["options"]["result"]["text"] == final
        assert preliminary in table["title"]
