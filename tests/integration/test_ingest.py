"""The ingest service against its real servers: what it does with points InfluxDB refuses."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

from conftest import SITE, Stack
from mqttclient import subscribe, telemetry_json
from servers import wait_until


def _publish(stack: Stack, gateway: str, payload: str) -> None:
    topic = f"coldchain/v1/{SITE}/{gateway}/telemetry"
    subprocess.run(
        ["mosquitto_pub", "-p", str(stack.mosquitto.port), "-q", "1", "-t", topic, "-m", payload],
        check=True,
        timeout=10,
    )


def test_points_influxdb_refuses_go_to_invalid_and_the_rest_is_stored(stack: Stack) -> None:
    stack.start_ingest()
    stack.influxdb.query(
        stack.database,
        f'ALTER RETENTION POLICY "autogen" ON "{stack.database}" DURATION 1h SHARD DURATION 1h',
    )
    invalid = subscribe(stack.mosquitto.port, "coldchain/v1/_invalid/#")
    durable = subscribe(stack.mosquitto.port, f"coldchain/v1/{SITE}/cold-room-2/durable")
    now = datetime.now(UTC).replace(microsecond=0)
    expired = now - timedelta(hours=3)

    _publish(stack, "cold-room-2", telemetry_json("cold-room-2", "cold-room-2.air", 1, expired, 2))
    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "cold-room-1.air", 1, now, 3.0))

    notice = json.loads(invalid.get(timeout=20).payload)
    assert notice["topic"].endswith("/cold-room-2/telemetry")
    assert "InfluxDB refused" in notice["reason"] and "retention" in notice["reason"]
    assert json.loads(durable.get(timeout=10).payload)["seq"] == 1, "handled, so confirmed"
    wait_until(
        lambda: stack.influxdb.count(
            stack.database, "SELECT count(temp_c) FROM temperature WHERE sensor = 'cold-room-1.air'"
        ),
        20,
        "the other gateway's reading",
    )
    metrics = stack.metrics() or {}
    assert metrics["coldchain_ingest_messages_invalid_total"] == 1.0


def test_a_gateway_reporting_another_gateways_sensor_is_refused(stack: Stack) -> None:
    stack.start_ingest()
    invalid = subscribe(stack.mosquitto.port, "coldchain/v1/_invalid/#")
    ts = datetime.now(UTC).replace(microsecond=0)
    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "van-2.chilled", 1, ts, 30.0))
    notice = json.loads(invalid.get(timeout=20).payload)
    assert "sensor van-2.chilled belongs to gateway van-2" in notice["reason"]
    assert stack.influxdb.count(stack.database, "SELECT count(temp_c) FROM temperature") == 0
