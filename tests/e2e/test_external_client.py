"""A client outside our code (mosquitto_pub) talks to ingest through the real broker."""

from __future__ import annotations

import json
import queue
import subprocess
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from conftest import SITE, Stack
from paho.mqtt.enums import CallbackAPIVersion
from servers import wait_until

TOPIC = f"coldchain/v1/{SITE}/cold-room-1/telemetry"
INVALID = "coldchain_ingest_messages_invalid_total"


def _publish(stack: Stack, payload: str) -> None:
    subprocess.run(
        ["mosquitto_pub", "-p", str(stack.mosquitto.port), "-q", "1", "-t", TOPIC, "-m", payload],
        check=True,
        timeout=10,
    )


def _telemetry(seq: int, ts: datetime, temp_c: object) -> str:
    return json.dumps(
        {
            "v": 1,
            "gateway": "cold-room-1",
            "seq": seq,
            "sent_at": ts.isoformat(),
            "readings": [{"sensor": "cold-room-1.air", "ts": ts.isoformat(), "temp_c": temp_c}],
        }
    )


def _subscriber(port: int, topic: str) -> queue.Queue[mqtt.MQTTMessage]:
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.put(True)
    client.on_message = lambda _c, _u, message: received.put(message)
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert subscribed.get(timeout=10)
    return received


def _stored(stack: Stack, ts: datetime) -> list[float]:
    series = stack.influxdb.query(
        stack.database,
        f"SELECT temp_c FROM temperature WHERE time = {int(ts.timestamp()) * 10**9}",
    )
    return [row[1] for row in series[0]["values"]] if series else []


def test_valid_payload_stored_and_invalid_one_reported(stack: Stack) -> None:
    ingest = stack.start_ingest()
    invalid = _subscriber(stack.mosquitto.port, "coldchain/v1/_invalid/#")
    durable = _subscriber(stack.mosquitto.port, f"coldchain/v1/{SITE}/cold-room-1/durable")
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
