"""The committed JSON Schemas in docs/contract match the models, and the README's example."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from coldchain.contract import Telemetry
from coldchain_devstack import contract_schemas

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_DIR = ROOT / "docs" / "contract"
RENDERED = contract_schemas.render(CONTRACT_DIR)


def readme_example() -> dict[str, Any]:
    """The README's one ```json block: the example telemetry payload."""
    text = (CONTRACT_DIR / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    document: dict[str, Any] = json.loads(block)
    return document


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_committed_schema_is_up_to_date(name: str) -> None:
    path = CONTRACT_DIR / name
    assert path.exists(), f"{path} is missing; run `make schemas`"
    committed = path.read_text(encoding="utf-8")
    assert committed == RENDERED[name], f"{path} is out of date; run `make schemas`"


def test_no_stale_schema_files() -> None:
    committed = {path.name for path in CONTRACT_DIR.glob("*.schema.json")}
    stale = committed - set(RENDERED)
    assert not stale, f"{sorted(stale)} no longer match a message; run `make schemas`"


def test_render_is_stable_and_path_independent() -> None:
    assert contract_schemas.render(CONTRACT_DIR) == RENDERED
    assert contract_schemas.render(os.path.relpath(CONTRACT_DIR)) == RENDERED


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_schema_header(name: str) -> None:
    schema = json.loads(RENDERED[name])
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(name.removesuffix(".schema.json"))
    assert "coldchain/v1/" in schema["description"]
    assert schema["additionalProperties"] is False
    assert RENDERED[name].endswith("}\n")


def test_telemetry_schema_names_its_topic_and_limits() -> None:
    schema = json.loads(RENDERED["telemetry.v1.schema.json"])
    assert "`coldchain/v1/{site}/{gateway}/telemetry`" in schema["description"]
    assert schema["properties"]["readings"]["maxItems"] == 500


def test_readme_example_is_valid_against_the_schema() -> None:
    example = readme_example()
    schema = json.loads(RENDERED["telemetry.v1.schema.json"])
    assert set(schema["required"]) <= set(example) <= set(schema["properties"])
    # Strict: no coercion, so the example's types are those the schema names.
    Telemetry.model_validate_json(json.dumps(example), strict=True)
