"""Write the JSON Schema of every contract v1 message into a directory.

Usage: coldchain-contract-schemas docs/contract   (what `make schemas` runs)

The schemas are generated from the pydantic models in coldchain.contract, which
stay the single definition; tests/unit/test_contract_schemas.py fails when the
committed files differ from what this command would write.
"""

from __future__ import annotations

import inspect
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from coldchain import topics
from coldchain.contract import (
    CONTRACT_VERSION,
    AlertEvent,
    AlertReceipt,
    DurableMark,
    FleetVersion,
    InvalidNotice,
    RetiredGateways,
    Telemetry,
)
from coldchain_devstack import REPO

DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class WireMessage:
    model: type[BaseModel]
    stem: str
    topic: str
    delivery: str


MESSAGES = [
    WireMessage(
        Telemetry,
        "telemetry",
        topics.telemetry("{site}", "{gateway}"),
        "QoS 1, published by the gateway",
    ),
    WireMessage(
        DurableMark,
        "durable-mark",
        topics.durable("{site}", "{gateway}"),
        "QoS 1, retained, published by ingest",
    ),
    WireMessage(
        InvalidNotice,
        "invalid-notice",
        topics.INVALID_FILTER.removesuffix("#") + "{site}/{gateway}",
        "QoS 1, published by ingest for every rejected telemetry message; "
        "ids that are not valid appear as '_'",
    ),
    WireMessage(
        AlertEvent,
        "alert-event",
        topics.alerts("{site}"),
        "QoS 1, published by ingest",
    ),
    WireMessage(
        AlertReceipt,
        "alert-receipt",
        topics.ALERT_RECEIPTS,
        "QoS 1, published by the alerts service",
    ),
    WireMessage(
        FleetVersion,
        "fleet-version",
        topics.fleet("{version}"),  # type: ignore[arg-type]
        "QoS 1, retained, published by the alerts service for every fleet version",
    ),
    WireMessage(
        RetiredGateways,
        "retired-gateways",
        topics.RETIRED,
        "QoS 1, retained, published by the alerts service after each retirement",
    ),
]


def render(directory: Path | str) -> dict[str, str]:
    """The schema files for `directory`, as file name -> text; writes nothing.

    `directory` only shapes the `$comment` that tells how to regenerate the files.
    """
    command = f"coldchain-contract-schemas {_shown(Path(directory))}"
    return {_file_name(message): _text(_schema(message, command)) for message in MESSAGES}


def write(directory: Path) -> list[Path]:
    """Write the schema files, removing schema files of messages that no longer exist."""
    directory.mkdir(parents=True, exist_ok=True)
    files = render(directory)
    for stale in directory.glob("*.schema.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def _file_name(message: WireMessage) -> str:
    return f"{message.stem}.v{CONTRACT_VERSION}.schema.json"


def _schema(message: WireMessage, command: str) -> dict[str, Any]:
    schema = message.model.model_json_schema(mode="validation")
    name = _file_name(message).removesuffix(".schema.json")
    schema["$schema"] = DIALECT
    schema["$id"] = f"urn:coldchain:contract:{name}"
    schema["$comment"] = f"Generated from coldchain.contract by `{command}`; do not edit."
    schema["title"] = f"{message.model.__name__} (coldchain contract v{CONTRACT_VERSION})"
    schema["description"] = _description(message)
    return schema


def _description(message: WireMessage) -> str:
    first = f"MQTT topic `{message.topic}` ({message.delivery})."
    # The docstring's first line names the topic by hand; the rest explains the message.
    rest = inspect.cleandoc(message.model.__doc__ or "").partition("\n\n")[2]
    return f"{first}\n\n{rest}" if rest else first


def _text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _shown(directory: Path) -> str:
    try:
        return directory.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return directory.as_posix()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: coldchain-contract-schemas DIRECTORY", file=sys.stderr)
        return 2
    for path in write(Path(argv[0])):
        print(f"wrote {path}")
    return 0
