"""Hostile telemetry through the real broker into the real ingest, between valid messages.

Every hostile message must come back on `_invalid` with a reason that says what
was wrong, be counted, and leave ingest running; every valid message around
them must be stored exactly once. The broker takes packets up to
localstack.MAX_PACKET_BYTES (1 MiB), so a payload just under it reaches ingest,
which refuses it for its size (contract.MAX_PAYLOAD_BYTES), and ingest's notice
of 64 KiB of control bytes under a 64 KiB topic (about 0.5 MiB, the largest it
sends) reaches the broker. A 10 MB payload and a NUL in a topic name never reach
ingest: the broker drops the client.
"""

from __future__ import annotations

import json
import queue
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from coldchain import topics
from coldchain.contract import MAX_PAYLOAD_BYTES
from coldchain_devstack.localstack import MAX_PACKET_BYTES
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import ApiStack
from tests.mqttclient import subscribe, telemetry_json

GATEWAY = "cold-room-1"
SENSOR = "cold-room-1.air"
TOPIC = topics.telemetry(SITE, GATEWAY)
TEN_MB = 10 * 1024 * 1024
#: Over the contract's limit, under the broker's: the largest payload ingest gets.
NEAR_PACKET_LIMIT = MAX_PACKET_BYTES - 1024
#: The longest topic MQTT allows, on the telemetry filter; quotes, which JSON escapes.
LONG_TOPIC = topics.telemetry('"' * (65535 - len(topics.telemetry("", GATEWAY))), GATEWAY)
#: Valid messages start this long ago: inside every clock bound of the contract.
START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
OLD = "1970-01-01T00:00:00Z"
FAR = "9999-12-31T23:59:59Z"


@dataclass(frozen=True)
class Hostile:
    name: str
    payload: bytes
    reason: str
    topic: str = TOPIC


def _document(**changes: object) -> dict[str, object]:
    document = json.loads(telemetry_json(GATEWAY, SENSOR, 999, START, 3.5))
    document.update(changes)
    return document


def _json(**changes: object) -> bytes:
    return json.dumps(_document(**changes)).encode()


def _compact(**changes: object) -> bytes:
    return json.dumps(_document(**changes), separators=(",", ":")).encode()


def _reading(**changes: object) -> list[dict[str, object]]:
    return [{"sensor": SENSOR, "ts": START.isoformat(), "temp_c": 3.5, **changes}]


PATTERN = "String should match pattern"
NOT_JSON = "payload is not valid JSON"
CORPUS = [
    Hostile("broken JSON", _json()[:-7], f"{NOT_JSON} (UTF-8, no NaN or Infinity): EOF"),
    Hostile("empty payload", b"", NOT_JSON),
    Hostile("not UTF-8", b"\xff\xfe" + _json(), NOT_JSON),
    Hostile("seq as text", _json(seq="7"), "seq: Input should be a valid integer"),
    Hostile("temperature as text", _json(readings=_reading(temp_c="warm")), "readings.0.temp_c"),
    Hostile("readings as object", _json(readings={}), "readings: Input should be a valid array"),
    Hostile("version as bool", _json(v=True), "v: expected the integer 1, not true"),
    Hostile("version as 1.0", _json(v=1.0), "v: expected the integer 1, not 1.0"),
    Hostile(
        "NaN", _json().replace(b"3.5", b"NaN"), "readings.0.temp_c: Input should be a finite number"
    ),
    Hostile(
        "Infinity",
        _json().replace(b"3.5", b"Infinity"),
        "readings.0.temp_c: Input should be a finite number",
    ),
    Hostile(
        "-Infinity battery",
        _json(battery_v=-12345.5).replace(b"-12345.5", b"-Infinity"),
        "battery_v: Input should be a finite number",
    ),
    Hostile(
        "1e999",
        _json().replace(b"3.5", b"1e999"),
        "readings.0.temp_c: Input should be a finite number",
    ),
    Hostile("seq beyond 2**53", _json(seq=10**400), "seq: Input should be less than or equal to"),
    Hostile(
        "100k readings",
        _compact(readings=[0] * 100_000),
        "readings: List should have at most 500 items after validation, not 100000",
    ),
    Hostile(
        "100k events",
        _compact(events=[{}] * 60_000),
        "events: List should have at most 500 items after validation, not 60000",
    ),
    Hostile(
        "100k array at the top",
        json.dumps([0] * 100_000, separators=(",", ":")).encode(),
        "message: Input should be an object",
    ),
    Hostile("nesting 100k deep", b"[" * 100_000 + b"]" * 100_000, "recursion limit exceeded"),
    Hostile(
        "nesting in a field",
        _json(readings="X").replace(b'"X"', b'{"a":' * 5000 + b"1" + b"}" * 5000),
        "recursion limit exceeded",
    ),
    Hostile(
        "nearly 1 MiB",
        _json().ljust(NEAR_PACKET_LIMIT, b" "),
        f"payload is {NEAR_PACKET_LIMIT} bytes; the limit is {MAX_PAYLOAD_BYTES}",
    ),
    Hostile(
        "64 KiB of control bytes under a 64 KiB topic",
        b"\x01" * 64 * 1024,
        NOT_JSON,
        LONG_TOPIC,
    ),
    Hostile(
        "right-to-left mark in gateway", _json(gateway=f"{GATEWAY}\u200f"), f"gateway: {PATTERN}"
    ),
    Hostile(
        "zero-width space in sensor",
        _json(readings=_reading(sensor="cold-room-1\u200b.air")),
        f"readings.0.sensor: {PATTERN}",
    ),
    Hostile("emoji gateway", _json(gateway="🧊"), f"gateway: {PATTERN}"),
    Hostile(
        "NUL in sensor",
        _json(readings=_reading(sensor="cold-room-1.\u0000air")),
        f"readings.0.sensor: {PATTERN}",
    ),
    Hostile(
        "right-to-left override in topic site",
        _json(),
        "topic site '\\u202edortmund-hub' is not a valid id",
        topics.telemetry(f"\u202e{SITE}", GATEWAY),
    ),
    Hostile(
        "emoji in topic gateway",
        _json(),
        "payload gateway 'cold-room-1' does not match topic gateway '🧊'",
        topics.telemetry(SITE, "🧊"),
    ),
    Hostile(
        "payload gateway of another topic",
        _json(gateway="cold-room-2"),
        "payload gateway 'cold-room-2' does not match topic gateway 'cold-room-1'",
    ),
    Hostile(
        "upper-case topic site",
        _json(),
        "topic site 'Dortmund-Hub' is not a valid id",
        topics.telemetry("Dortmund-Hub", GATEWAY),
    ),
    Hostile("reading in 1970", _json(readings=_reading(ts=OLD)), "is before 2020-01-01"),
    Hostile("reading in 9999", _json(readings=_reading(ts=FAR)), "not before 2100-01-01"),
    Hostile("sent in 1970", _json(sent_at=OLD), "is before 2020-01-01"),
    Hostile("sent in 9999", _json(sent_at=FAR), "not before 2100-01-01"),
    Hostile("unknown field", _json(colour="blue"), "colour: Extra inputs are not permitted"),
]


def _valid(seq: int) -> tuple[bytes, datetime, float]:
    ts = START + timedelta(minutes=seq)
    temp_c = 2.0 + seq % 10 / 10
    return telemetry_json(GATEWAY, SENSOR, seq, ts, temp_c).encode(), ts, temp_c


class Publisher:
    """A plain paho client publishing at QoS 1 and waiting for each PUBACK."""

    def __init__(self, port: int) -> None:
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes) -> None:
        info = self._client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=30)
        assert info.is_published(), f"the broker did not take {len(payload)} bytes on {topic}"

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def _dropped_by_broker(port: int, topic: str, payload: bytes) -> str | None:
    """Publish from a client of its own; why the broker then disconnected it, or None if
    it took the message."""
    dropped: queue.Queue[str] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_disconnect = lambda _c, _u, _f, reason, _p: dropped.put(str(reason))
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1)
        reason = dropped.get(timeout=10)
        return None if info.is_published() else reason
    finally:
        client.loop_stop()


def _stored(stack: ApiStack) -> list[tuple[int, float, int]]:
    series = stack.influxdb.query(
        stack.database, f"SELECT temp_c, seq FROM temperature WHERE sensor = '{SENSOR}'"
    )
    return [(row[0], row[1], row[2]) for row in series[0]["values"]] if series else []


def _health(stack: ApiStack) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{stack.metrics_port}/healthz", timeout=5)


def _notices(
    received: queue.Queue[mqtt.MQTTMessage], count: int
) -> list[tuple[str, dict[str, Any]]]:
    notices = []
    for _ in range(count):
        message = received.get(timeout=30)
        notices.append((message.topic, json.loads(message.payload)))
    return notices


def test_hostile_messages_are_rejected_and_counted_and_valid_ones_stored(stack: ApiStack) -> None:
    ingest = stack.start_ingest()
    wait_until(lambda: _health(stack).status_code == 200, 10, "ingest connected to the broker")
    invalid = subscribe(stack.mosquitto.port, topics.INVALID_FILTER)
    publisher = Publisher(stack.mosquitto.port)
    expected = []
    try:
        for seq, hostile in enumerate(CORPUS, start=1):
            payload, ts, temp_c = _valid(seq)
            publisher.publish(TOPIC, payload)
            expected.append((int(ts.timestamp()) * 10**9, temp_c, seq))
            publisher.publish(hostile.topic, hostile.payload)
        # MQTT forbids U+0000 in topic names: Mosquitto drops the client, ingest sees nothing.
        nul = topics.telemetry(f"{SITE}\x00", GATEWAY)
        assert _dropped_by_broker(stack.mosquitto.port, nul, _json()) == "Malformed packet"
        # Over max_packet_size: the broker closes the connection before it reads the packet
        # ("Packet too large", when the client reads that before the connection is reset).
        assert _dropped_by_broker(stack.mosquitto.port, TOPIC, _json().ljust(TEN_MB, b" "))
        payload, ts, temp_c = _valid(len(CORPUS) + 1)
        publisher.publish(TOPIC, payload)
        expected.append((int(ts.timestamp()) * 10**9, temp_c, len(CORPUS) + 1))
    finally:
        publisher.close()

    notices = _notices(invalid, len(CORPUS))
    for hostile, (topic, notice) in zip(CORPUS, notices, strict=True):
        assert notice["topic"] == hostile.topic, hostile.name
        assert hostile.reason in notice["reason"], (hostile.name, notice["reason"])
        assert notice["payload_bytes"] == len(hostile.payload), hostile.name
        assert len(notice["payload"].encode()) <= 3 * 64 * 1024, hostile.name
        assert topic.startswith(f"{topics.PREFIX}/_invalid/"), hostile.name
    assert invalid.empty()

    stored = wait_until(lambda: len(_stored(stack)) == len(expected) and _stored(stack), 30, "all")
    assert stored == expected
    total = len(CORPUS) + len(expected)
    metrics = wait_until(
        lambda: (
            (m := stack.metrics()) and m["coldchain_ingest_messages_acked_total"] == total and m
        ),
        10,
        "every message acknowledged",
    )
    assert metrics["coldchain_ingest_messages_invalid_total"] == len(CORPUS)
    assert metrics["coldchain_ingest_messages_received_total"] == total
    assert metrics["coldchain_ingest_readings_written_total"] == len(expected)
    assert metrics["coldchain_ingest_backlog"] == 0
    assert ingest.running
    health = _health(stack)
    assert health.status_code == 200, health.text
