"""Build the three dashboards from the fleet file and write them as JSON.

The JSON files in `dashboards/` are generated: `make dashboards` (this module's
`write`) regenerates them, and a test fails when they differ from what `build` makes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from coldchain.fleet import Fleet
from coldchain_dashboards import audit, compliance, operations
from coldchain_dashboards.assets import timezone, watched_assets


def build(fleet: Fleet) -> dict[str, dict[str, Any]]:
    """Every dashboard as Grafana JSON, by file name."""
    assets = watched_assets(fleet)
    tz = timezone(fleet)
    boards = {
        "operations.json": operations.build(assets, tz),
        "compliance.json": compliance.build(assets, tz),
        "audit.json": audit.build(tz),
    }
    return {name: _as_json(board) for name, board in boards.items()}


def render(board: dict[str, Any]) -> str:
    """The file text of one dashboard: stable key order, so diffs show real changes."""
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(fleet: Fleet, out: Path) -> list[Path]:
    """Write every dashboard into `out`; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, board in build(fleet).items():
        path = out / name
        path.write_text(render(board), encoding="utf-8")
        written.append(path)
    return written


def _as_json(board: Dashboard) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    for number, panel in enumerate(data.get("panels", []), 1):
        panel["id"] = number
    return data
