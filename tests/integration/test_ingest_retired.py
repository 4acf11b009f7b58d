"""A retired gateway at the ingest service, against its real servers: what it took after
its retirement is refused and counted, live or from an exported outbox, and
`coldchain-ingest import-outbox` refuses files it cannot take, saying why.
(tests/integration/test_gateway_onboarding.py runs the whole way through the real
gateway and alerts service.)"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

from coldchain import topics
from coldchain.contract import ExportedMessage, RetiredGateway, RetiredGateways
from coldchain_devstack import BIN
from coldchain_devstack.servers import Process, wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import ApiStack
from tests.mqttclient import subscribe, telemetry_json

VAN = "van-1"
SENSOR = "van-1.chilled"
RETIRED_AT = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def _at(minutes: int) -> datetime:
    return RETIRED_AT + timedelta(minutes=minutes)


def _line(seq: int, minutes: int, gateway: str = VAN) -> str:
    payload = telemetry_json(gateway, f"{gateway}.chilled", seq, _at(minutes), 4.0)
    topic = topics.telemetry(SITE, gateway)
    return ExportedMessage(topic=topic, payload=payload).model_dump_json()


def _import(stack: ApiStack, ingest: Process, lines: list[str]) -> subprocess.CompletedProcess[str]:
    exported = stack.directory / f"export-{len(list(stack.directory.glob('export-*')))}.jsonl"
    exported.write_bytes(("\n".join(lines) + "\n").encode(errors="surrogateescape"))
    return subprocess.run(
        [str(BIN / "coldchain-ingest"), "import-outbox", str(exported), "--wait-s", "60"],
        env=ingest.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _retire(stack: ApiStack) -> None:
    """What the alerts service publishes after a retirement."""
    retired = RetiredGateways(
        gateways=[RetiredGateway(site=SITE, gateway=VAN, retired_at=RETIRED_AT)]
    )
    _mosquitto_pub(stack, "-r", "-t", topics.RETIRED, "-m", retired.model_dump_json())


def _mosquitto_pub(stack: ApiStack, *args: str) -> None:
    port = str(stack.mosquitto.port)
    subprocess.run(["mosquitto_pub", "-p", port, "-q", "1", *args], check=True, timeout=30)


def _stored(stack: ApiStack) -> int:
    query = f"SELECT count(temp_c) FROM temperature WHERE sensor = '{SENSOR}'"
    return stack.influxdb.count(stack.database, query)


def test_what_a_retired_gateway_took_after_its_retirement_is_refused(stack: ApiStack) -> None:
    ingest = stack.start_ingest()
    before_retiring = _import(stack, ingest, [_line(1, -2)])
    assert before_retiring.returncode == 2
    assert f"no retirement of gateway {SITE}/{VAN}" in before_retiring.stderr

    _retire(stack)
    wait_until(lambda: f"gateway {SITE}/{VAN} retired at" in ingest.output(), 20, "retirement")
    invalid = subscribe(stack.mosquitto.port, topics.invalid(SITE, VAN))
    imported = _import(stack, ingest, [_line(1, -2), _line(2, 1)])
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "stored: 1 readings in 1 messages" in imported.stdout
    assert "refused: 1 readings and events taken after the retirement" in imported.stdout
    assert "line 2: refused: gateway dortmund-hub/van-1 was retired at" in imported.stdout
    notice = json.loads(invalid.get(timeout=10).payload)
    assert "retired" in notice["reason"]
    assert _stored(stack) == 1

    live = telemetry_json(VAN, SENSOR, 3, _at(5), 4.0)
    _mosquitto_pub(stack, "-t", topics.telemetry(SITE, VAN), "-m", live)
    assert "retired" in json.loads(invalid.get(timeout=10).payload)["reason"]
    metrics = stack.metrics() or {}
    assert metrics["coldchain_ingest_readings_after_retirement_total"] == 2
    assert _stored(stack) == 1


def test_the_import_refuses_a_file_it_cannot_take_naming_the_line(stack: ApiStack) -> None:
    ingest = stack.start_ingest()
    _retire(stack)
    for lines, reason in (
        ([_line(1, -2), "{not json"], "export-0.jsonl:2: not a line of an exported outbox"),
        ([_line(1, -2), _line(1, -2, gateway="van-2")], "one gateway's messages"),
        (
            [ExportedMessage(topic=topics.status(SITE, VAN), payload="{}").model_dump_json()],
            "is not a telemetry topic",
        ),
        ([_line(1, -2), "\udcff"], ":2: not a line of an exported outbox"),
    ):
        refused = _import(stack, ingest, lines)
        assert refused.returncode == 2, refused.stdout
        assert reason in refused.stderr, refused.stderr
