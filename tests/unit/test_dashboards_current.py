"""dashboards/{de,en}/*.json and dashboards/sites/*/{de,en}/*.json are what the code
builds, in both languages, use the provisioned data source, and Grafana's providers are
what the code writes; a site's dashboards query that site alone."""

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
from coldchain_dashboards.influxql import DATASOURCE_UID, SITE_FILTER
from coldchain_dashboards.sites import MAX_UID, SITELESS, folders, provisioning, queries
from tests.twosites import CANTEEN, CANTEEN_ASSET, HUB, two_sites, two_sites_data

REPO = Path(__file__).resolve().parents[2]
BOARDS = REPO / "dashboards"
FLEET = REPO / "fleet" / "dortmund-hub.yaml"
PROVISIONED = REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "influxdb.yaml"
PROVIDERS = REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "coldchain.yaml"
DASHBOARD_NAMES = ("operations", "compliance", "audit", "years")
SITE_LITERAL = re.compile(r"\"site\" = '[a-z0-9-]+'")


def test_committed_json_is_what_the_code_builds() -> None:
    built = build(Fleet.from_yaml(FLEET.read_text()), per_site=True)
    committed = {path.relative_to(BOARDS).as_posix() for path in BOARDS.glob("**/*.json")}
    assert committed == set(built), "run `make dashboards` to regenerate dashboards/**/*.json"
    for name, board in built.items():
        text = (BOARDS / name).read_text(encoding="utf-8")
        assert text == render(board), f"dashboards/{name} is stale: run `make dashboards`"


def test_committed_providers_are_what_the_code_writes() -> None:
    expected = provisioning(folders(Fleet.from_yaml(FLEET.read_text()), per_site=True))
    assert PROVIDERS.read_text(encoding="utf-8") == expected, "run `make dashboards`"


def test_every_query_uses_the_provisioned_data_source() -> None:
    (source,) = yaml.safe_load(PROVISIONED.read_text())["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, "influxdb")
    assert source["jsonData"]["version"] == "InfluxQL"
    for path in BOARDS.glob("**/*.json"):
        board = json.loads(path.read_text())
        refs = [t["datasource"] for p in board["panels"] for t in p.get("targets", [])]
        refs += [v["datasource"] for v in board["templating"]["list"]]
        refs += [a["datasource"] for a in board["annotations"].get("list", [])]
        assert refs and all(ref == {"type": "influxdb", "uid": DATASOURCE_UID} for ref in refs)


def test_every_query_is_raw_influxql_over_the_time_range() -> None:
    """Except open work, which reads every alert's latest step: an alert acknowledged a
    year ago and never closed is open work today."""
    whole_history = {*openwork.counts().values(), openwork.listing()}
    for path in BOARDS.glob("**/*.json"):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                assert target["rawQuery"] is True
                query = target["query"]
                bounded = "$timeFilter" in query or "now() -" in query
                unscoped = SITE_LITERAL.sub(lambda _: SITE_FILTER, query)
                assert bounded or unscoped in whole_history, target


def test_panel_ids_and_dashboard_uids_are_unique() -> None:
    boards: list[dict[str, Any]] = [json.loads(p.read_text()) for p in BOARDS.glob("**/*.json")]
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


# --- a site's own dashboards ----------------------------------------------------------


def _site_boards(site: str) -> dict[str, dict[str, Any]]:
    built = build(two_sites(), per_site=True)
    prefix = f"sites/{site}/"
    return {name.removeprefix(prefix): b for name, b in built.items() if name.startswith(prefix)}


@pytest.mark.parametrize("site", [HUB, CANTEEN])
def test_a_sites_dashboards_have_the_site_as_a_literal_in_every_query(site: str) -> None:
    """Never a variable: Grafana takes a variable's value from the URL (?var-site=...)."""
    boards = _site_boards(site)
    assert set(boards) == {f"{lang}/{n}.json" for lang in LANGUAGES for n in DASHBOARD_NAMES}
    literal = f"\"site\" = '{site}'"
    for name, board in boards.items():
        assert "$site" not in json.dumps(board), name
        assert [v["name"] for v in board["templating"]["list"]] == ["asset"], name
        for query in queries(board):
            reads = set(re.findall(r'FROM "([^"]+)"', query))
            assert literal in query or (reads and reads <= set(SITELESS)), (name, query)
            assert len(SITE_LITERAL.findall(query)) == query.count('"site"'), (name, query)


def test_a_sites_dashboards_leave_out_the_audit_logs_entries_of_every_site() -> None:
    for site in (HUB, CANTEEN):
        for name, board in _site_boards(site).items():
            assert "audit_chain" not in json.dumps(board), name
    hub_audit = [p["title"] for p in build(two_sites())["en/audit.json"]["panels"]]
    site_audit = [p["title"] for p in _site_boards(CANTEEN)["en/audit.json"]["panels"]]
    assert [t for t in hub_audit if t not in site_audit] == ["Audit log: entries"]


def test_a_sites_dashboards_list_and_draw_only_its_assets() -> None:
    canteen = _site_boards(CANTEEN)
    for name, board in canteen.items():
        text = json.dumps(board)
        for asset in ("cold-room-1", "freezer-1", "van-1-chilled"):
            assert asset not in text, (name, asset)
    (asset,) = canteen["en/operations.json"]["templating"]["list"]
    assert asset["query"] == (
        f'SHOW TAG VALUES FROM "temperature" WITH KEY = "asset" WHERE "site" = \'{CANTEEN}\''
    )
    limits = canteen["en/compliance.json"]["panels"][-1]["options"]["content"]
    assert CANTEEN_ASSET in limits


def test_a_sites_dashboards_and_folders_carry_the_site_in_their_uids() -> None:
    fleet = two_sites()
    built = build(fleet, per_site=True)
    uids = [board["uid"] for board in built.values()]
    assert len(uids) == len(set(uids)) == 3 * 8
    assert (
        built[f"sites/{CANTEEN}/de/compliance.json"]["uid"] == f"coldchain-compliance-{CANTEEN}-de"
    )
    assert "Kantine Nord" in built[f"sites/{CANTEEN}/de/compliance.json"]["title"]
    titles = {f.uid: f.title for f in folders(fleet, per_site=True)}
    assert titles == {
        "coldchain-de": "coldchain (Deutsch)",
        "coldchain-en": "coldchain (English)",
        f"coldchain-{HUB}-de": "coldchain: REGIOwez Dortmund (Deutsch)",
        f"coldchain-{HUB}-en": "coldchain: REGIOwez Dortmund (English)",
        f"coldchain-{CANTEEN}-de": "coldchain: Kantine Nord (Deutsch)",
        f"coldchain-{CANTEEN}-en": "coldchain: Kantine Nord (English)",
    }


def test_a_long_site_id_still_gives_grafana_uids_it_accepts() -> None:
    data = two_sites_data()
    long_id = "kantine-nord-ost-gebaeude-7-kuechentrakt-sued"
    data["sites"][-1]["id"] = long_id
    fleet = Fleet.model_validate(data)
    built = build(fleet, per_site=True)
    uids = {board["uid"] for board in built.values()}
    assert len(uids) == len(built) and all(len(uid) <= MAX_UID for uid in uids)
    assert all(len(f.uid) <= MAX_UID for f in folders(fleet, per_site=True))
    assert f"sites/{long_id}/en/audit.json" in built


def test_a_site_name_with_quotes_and_colons_is_a_folder_title_grafana_reads_back() -> None:
    data = two_sites_data()
    data["sites"][-1]["name"] = "Kantine 'Nord': Süd #2"
    known = folders(Fleet.model_validate(data), per_site=True)
    providers = yaml.safe_load(provisioning(known))["providers"]
    assert [p["folder"] for p in providers] == [f.title for f in known]
    assert providers[-1]["folder"] == "coldchain: Kantine 'Nord': Süd #2 (English)"
