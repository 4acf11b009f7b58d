"""Build the four dashboards from the fleet file, in German and English, and write them as JSON.

The JSON files in `dashboards/de/` and `dashboards/en/` (every site, for the hub) and in
`dashboards/sites/{site}/{de,en}/` (one site each: coldchain_dashboards.sites) are
generated: `make dashboards` (this module's `write`) regenerates them, and a test fails
when they differ from what `build` makes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from coldchain.fleet import Fleet
from coldchain_dashboards import audit, compliance, operations, years
from coldchain_dashboards.assets import WatchedAsset, timezone, watched_assets
from coldchain_dashboards.language import LANGUAGES
from coldchain_dashboards.sites import scoped


def build(fleet: Fleet, *, per_site: bool = False) -> dict[str, dict[str, Any]]:
    """Every dashboard in every language as Grafana JSON, by path: `de/compliance.json`;
    with `per_site` also each site's own: `sites/kantine-nord/de/compliance.json`."""
    assets = watched_assets(fleet)
    tz = timezone(fleet)
    boards = _boards(assets, tz)
    if per_site:
        for site in fleet.sites:
            mine = [watched for watched in assets if watched.site == site.id]
            for name, board in _boards(mine, tz).items():
                boards[f"sites/{site.id}/{name}"] = scoped(board, site)
    return boards


def _boards(assets: list[WatchedAsset], tz: str) -> dict[str, dict[str, Any]]:
    """The four dashboards of `assets` in both languages, by path."""
    boards = {}
    for lang in LANGUAGES:
        boards[f"{lang}/operations.json"] = operations.build(assets, tz, lang)
        boards[f"{lang}/compliance.json"] = compliance.build(assets, tz, lang)
        boards[f"{lang}/audit.json"] = audit.build(tz, lang)
        boards[f"{lang}/years.json"] = years.build(assets, tz, lang)
    return {name: _as_json(board) for name, board in boards.items()}


def render(board: dict[str, Any]) -> str:
    """The file text of one dashboard: stable key order, so diffs show real changes."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(fleet: Fleet, out: Path, *, per_site: bool = False) -> list[Path]:
    """Write every dashboard into `out`; returns the files written."""
    written = []
    for name, board in build(fleet, per_site=per_site).items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(board), encoding="utf-8")
        written.append(path)
    return written


def _as_json(board: Dashboard) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    for number, panel in enumerate(data.get("panels", []), 1):
        panel["id"] = number
    return data
