"""One version for the project: every part, the alerts API and the changelog agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = [
    "domain",
    "adapters",
    "firmware-sim",
    "gateway",
    "ingest",
    "alerts",
    "dashboards",
    "reports",
    "admin",
    "devstack",
]


def test_every_part_has_the_version_of_the_changelogs_latest_release() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, flags=re.MULTILINE)
    assert released, "CHANGELOG.md names no release"
    for part in PARTS:
        project = tomllib.loads((ROOT / part / "pyproject.toml").read_text(encoding="utf-8"))
        assert project["project"]["version"] == released[0], part
