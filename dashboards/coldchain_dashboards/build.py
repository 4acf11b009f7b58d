"""Build the four dashboards from the fleet file, in German and English, and write them as JSON.

The JSON files in `dashboards/de/` and `dashboards/en/` are generated: `make
dashboards` (this module's `write`) regenerates them, and a test fails when they
differ from what `build` makes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from coldchain.fleet import Fleet
from coldchain_dashboards import audit, compliance, operations, years
from coldchain_dashboards.assets import timezone, watched_assets
from coldchain_dashboards.language import LANGUAGES, Language


def build(fleet: Fleet) -> dict[str, dict[str, Any]]:
    """Every dashboard in every language as Grafana JSON, by path: `de/compliance.json`."""
    assets = watched_assets(fleet)
    tz = timezone(fleet)
    boards = {}
    for lang in LANGUAGES:
        boards[f"{lang}/operations.json"] = operations.build(assets, tz, lang)
        boards[f"{lang}/compliance.json"] = compliance.build(assets, tz, lang)
        boards[f"{lang}/audit.json"] = audit.build(tz, lang)
        boards[f"{lang}/years.json"] = years.build(assets, tz, lang)
    return {name: _as_json(board) for name, board in boards.items()}


def language_of(name: str) -> Language:
    """The language of a dashboard by its path in `build`'s answer."""
    folder = name.split("/", 1)[0]
    for language in LANGUAGES:
        if language == folder:
            return language
    raise ValueError(f"{name}: not in a language's folder ({', '.join(LANGUAGES)})")


def render(board: dict[str, Any]) -> str:
    """The file text of one dashboard: stable key order, so diffs show real changes."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(fleet: Fleet, out: Path) -> list[Path]:
    """Write every dashboard into `out`; returns the files written."""
    written = []
    for name, board in build(fleet).items():
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
