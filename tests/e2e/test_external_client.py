"""A client outside our code (mosquitto_pub) talks to ingest through the real broker."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import ApiStack
from tests.mqttclient import subscribe, telemetry_json

TOPIC = f"coldchain/v1/{SITE}/cold-room-1/telemetry"
INVALID = "coldchain_ingest_messages_invalid_total"


def _publish(stack: ApiStack, payload: str) -> None:
    subprocess.run(
        ["mosquitto_pub", "-p", str(stack.mosquitto.port), "-q", "1", "-t", TOPIC, "-m", payload],
        check=True,
        timeout=10,
    )


def _telemetry(seq: int, ts: datetime, temp_c: object) -> str:
    return telemetry_json("cold-room-1", "cold-room-1.air", seq, ts, temp_c)


def _stored(stack: ApiStack, ts: datetime) -> list[float]:
    series = stack.influxdb.query(
        stack.database,
        f"SELECT temp_c FROM temperature WHERE time = {int(ts.timestamp()) * 10**9}",
    )
    return [row[1] for row in series[0]["values"]] if series else []


def test_valid_payload_stored_and_invalid_one_reported(stack: ApiStack) -> None:
    ingest = stack.start_ingest()
    invalid = subscribe(stack.mosquitto.port, "coldchain/v1/_invalid/#")
    durable = subscribe(stack.mosquitto.port, f"coldchain/v1/{SITE}/cold-room-1/durable")
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)

    _publish(stack, _telemetry(1, first, 3.5))
    assert wait_until(lambda: _stored(stack, first), 20, "the valid reading") == [3.5]

    _publish(stack, _telemetry(2, first + timedelta(minutes=1), "warm"))
    notice = json.loads(invalid.get(timeout=20).payload)
    assert notice["topic"] == TOPIC
    assert "readings.0.temp_c" in notice["reason"]
    assert json.loads(notice["payload"])["seq"] == 2
    assert wait_until(lambda: (stack.metrics() or {}).get(INVALID), 10, "the count") == 1.0
    assert ingest.running

    later = first + timedelta(minutes=1)
    _publish(stack, _telemetry(3, later, 3.7))
    assert wait_until(lambda: _stored(stack, later), 20, "the reading after it") == [3.7]
    marks = [json.loads(durable.get(timeout=10).payload)["seq"] for _ in range(2)]
    assert marks == [1, 3]
