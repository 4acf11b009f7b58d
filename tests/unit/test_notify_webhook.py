"""The webhook body: its committed JSON Schema is current, and the documented example valid."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import given

from coldchain_alerts.notify import Notice, Reason, render
from coldchain_alerts.notify.webhook import WebhookBody, body, json_schema_text
from tests.unit.test_notify_message import NOW, languages, notices, van_too_warm

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "alerts-webhook.v1.schema.json"
DOC = ROOT / "docs" / "alerts-webhook.md"
REGENERATE = (
    '.venv/bin/python -c "from coldchain_alerts.notify.webhook import json_schema_text as t; '
    "print(t(), end='')\" > docs/alerts-webhook.v1.schema.json"
)


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema_text(), (
        f"{SCHEMA_FILE.name} is out of date; regenerate it: {REGENERATE}"
    )


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(schema())
    assert schema()["additionalProperties"] is False


def test_documented_example_is_valid() -> None:
    (block,) = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    example = json.loads(block)
    validator().validate(example)
    WebhookBody.model_validate_json(block, strict=False)


def test_documented_fields_are_the_schemas() -> None:
    text = DOC.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\w+)`", text, re.MULTILINE))
    assert documented == set(schema()["properties"])


@given(notices, languages)
def test_every_body_is_valid_against_the_schema(notice: Notice, language: str) -> None:
    rendered = render(notice, language)  # type: ignore[arg-type]
    document = json.loads(body(notice, rendered, language).model_dump_json())  # type: ignore[arg-type]
    validator().validate(document)
    assert document["v"] == 1
    assert len(document["alerts"]) == len(notice.alerts)


def test_times_are_utc_with_z() -> None:
    notice = Notice("dortmund-hub", 1, Reason.NEW, (van_too_warm(),), NOW)
    document = json.loads(body(notice, render(notice, "en"), "en").model_dump_json())
    assert document["created_at"] == "2026-11-24T02:57:00Z"
    assert document["alerts"][0]["since"] == "2026-11-24T02:12:00Z"
    assert datetime.fromisoformat(document["created_at"]).tzinfo == UTC
