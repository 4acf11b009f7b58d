"""The ingest service against its real servers: what InfluxDB refuses, and what a
gateway may not say."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import httpx

from coldchain.contract import MAX_CLOCK_LEAD
from coldchain_devstack import BIN
from coldchain_devstack.servers import free_port, wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import ApiStack
from tests.mqttclient import subscribe, telemetry_json


def _mosquitto_pub(stack: ApiStack, *args: str, stdin: bytes | None = None) -> None:
    port = str(stack.mosquitto.port)
    subprocess.run(["mosquitto_pub", "-p", port, *args], input=stdin, check=True, timeout=60)


def _publish(stack: ApiStack, gateway: str, payload: str) -> None:
    topic = f"coldchain/v1/{SITE}/{gateway}/telemetry"
    _mosquitto_pub(stack, "-q", "1", "-t", topic, "-m", payload)


def _healthz(stack: ApiStack) -> tuple[int, dict[str, object]]:
    response = httpx.get(f"http://127.0.0.1:{stack.metrics_port}/healthz", timeout=5)
    return response.status_code, response.json()


def _dead_letters(stack: ApiStack, command: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    env["COLDCHAIN_INGEST_STATE"] = str(stack.directory / "ingest-state.sqlite3")
    return subprocess.run(
        [str(BIN / "coldchain-ingest"), "dead-letters", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _temperatures(stack: ApiStack, sensor: str) -> int:
    return stack.influxdb.count(
        stack.database, f"SELECT count(temp_c) FROM temperature WHERE sensor = '{sensor}'"
    )


def test_a_field_type_conflict_loses_no_reading_and_is_loud(stack: ApiStack) -> None:
    """Somebody writes one string into `temp_c`: InfluxDB then refuses every reading of
    that shard. The readings are kept, confirmed only as kept, said out loud, and
    stored once InfluxDB takes them again, also across a crash of ingest."""
    ingest = stack.start_ingest()
    now = datetime.now(UTC).replace(microsecond=0)
    stack.influxdb.write(
        stack.database,
        f'temperature,sensor=intruder temp_c="warm" {int(now.timestamp()) * 10**9}',
    )
    durable = subscribe(stack.mosquitto.port, f"coldchain/v1/{SITE}/cold-room-1/durable")
    invalid = subscribe(stack.mosquitto.port, "coldchain/v1/_invalid/#")

    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "cold-room-1.air", 1, now, 3.5))

    assert json.loads(durable.get(timeout=20).payload)["seq"] == 1, "kept, so durable"
    assert _temperatures(stack, "cold-room-1.air") == 0, "InfluxDB refused it"
    assert invalid.empty(), "a valid reading is not reported as invalid"
    metrics = stack.metrics() or {}
    assert metrics["coldchain_ingest_dead_letters"] == 1.0
    assert metrics["coldchain_ingest_refused_by_influxdb_total"] >= 1.0
    status, health = _healthz(stack)
    assert status == 503 and health["stored"] is False
    assert "dead-letter store" in str(health["problems"])
    assert "refused" in ingest.output() and "dead-letter store" in ingest.output()
    listed = _dead_letters(stack, "list")
    assert listed.returncode == 1
    assert "cold-room-1/telemetry" in listed.stdout and "field type conflict" in listed.stdout

    ingest.kill()  # what was kept is on disk, not only in memory
    stack.influxdb.query(stack.database, "DROP MEASUREMENT temperature")  # the fix
    assert _dead_letters(stack, "retry").returncode == 0
    stack.start_ingest()

    wait_until(lambda: _temperatures(stack, "cold-room-1.air") == 1, 30, "the kept reading")
    wait_until(lambda: _healthz(stack)[0] == 200, 30, "ingest healthy again")
    assert (stack.metrics() or {})["coldchain_ingest_dead_letters"] == 0.0
    assert _dead_letters(stack, "list").returncode == 0


def test_points_influxdb_refuses_are_kept_and_the_rest_is_stored(stack: ApiStack) -> None:
    stack.start_ingest()
    stack.influxdb.query(
        stack.database,
        f'ALTER RETENTION POLICY "autogen" ON "{stack.database}" DURATION 1h SHARD DURATION 1h',
    )
    durable = subscribe(stack.mosquitto.port, f"coldchain/v1/{SITE}/cold-room-2/durable")
    now = datetime.now(UTC).replace(microsecond=0)
    expired = now - timedelta(hours=3)

    _publish(stack, "cold-room-2", telemetry_json("cold-room-2", "cold-room-2.air", 1, expired, 2))
    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "cold-room-1.air", 1, now, 3.0))

    assert json.loads(durable.get(timeout=20).payload)["seq"] == 1, "kept, so confirmed"
    wait_until(lambda: _temperatures(stack, "cold-room-1.air"), 20, "the other gateway's reading")
    listed = _dead_letters(stack, "list")
    assert "cold-room-2/telemetry" in listed.stdout and "retention" in listed.stdout
    assert "cold-room-1" not in listed.stdout
    metrics = stack.metrics() or {}
    assert metrics["coldchain_ingest_messages_invalid_total"] == 0.0


def test_a_gateway_reporting_another_gateways_sensor_is_refused(stack: ApiStack) -> None:
    stack.start_ingest()
    invalid = subscribe(stack.mosquitto.port, "coldchain/v1/_invalid/#")
    ts = datetime.now(UTC).replace(microsecond=0)
    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "van-2.chilled", 1, ts, 30.0))
    notice = json.loads(invalid.get(timeout=20).payload)
    assert "sensor van-2.chilled belongs to gateway van-2" in notice["reason"]
    assert stack.influxdb.count(stack.database, "SELECT count(temp_c) FROM temperature") == 0


def _clock_jump_json(sender: str, sensor: str, seq: int, ts: datetime) -> str:
    event = {"sensor": sensor, "ts": ts.isoformat(), "kind": "clock_jump"}
    return json.dumps(
        {"v": 1, "gateway": sender, "seq": seq, "sent_at": ts.isoformat(), "events": [event]}
        | {"readings": []}
    )


def _alarms(stack: ApiStack) -> list[list[object]]:
    series = stack.influxdb.query(stack.database, 'SELECT "key", gateway FROM alert')
    return series[0]["values"] if series else []


def test_nobody_raises_another_gateways_own_alarms(stack: ApiStack) -> None:
    """van-2's clock_jump (sensor `van-2.clock`) sent by another gateway of the fleet, or
    by an account the fleet does not know, is refused and counted; van-2's own is not."""
    stack.start_ingest()
    invalid = subscribe(stack.mosquitto.port, "coldchain/v1/_invalid/#")
    ts = datetime.now(UTC).replace(microsecond=0)
    for seq, (sender, sensor) in enumerate(
        [("cold-room-1", "van-2.clock"), ("intruder", "van-2.clock"), ("cold-room-1", "van-2")],
        start=1,
    ):
        _publish(stack, sender, _clock_jump_json(sender, sensor, seq, ts))
        notice = json.loads(invalid.get(timeout=20).payload)
        assert notice["reason"] == f"sensor {sensor} belongs to gateway van-2, not {sender}"
    _publish(stack, "van-2", _clock_jump_json("van-2", "van-2.clock", 1, ts))
    wait_until(lambda: _alarms(stack), 20, "van-2's own clock_jump alarm")
    assert [row[2] for row in _alarms(stack)] == ["van-2"]
    assert (stack.metrics() or {})["coldchain_ingest_messages_invalid_total"] == 3.0


def test_a_status_under_another_site_is_refused(stack: ApiStack) -> None:
    stack.start_ingest()
    invalid = subscribe(stack.mosquitto.port, "coldchain/v1/_invalid/#")
    topic = "coldchain/v1/elsewhere/van-2/status"
    _mosquitto_pub(stack, "-q", "1", "-t", topic, "-m", "offline")
    notice = json.loads(invalid.get(timeout=20).payload)
    assert notice["topic"] == topic
    assert notice["reason"] == "gateway van-2 belongs to site dortmund-hub"
    assert _alarms(stack) == [], "no offline alarm for van-2"


def test_retained_telemetry_is_taken_once_not_at_every_reconnect(stack: ApiStack) -> None:
    ingest = stack.start_ingest()
    ts = datetime.now(UTC).replace(microsecond=0)
    topic = f"coldchain/v1/{SITE}/cold-room-1/telemetry"
    payload = telemetry_json("cold-room-1", "cold-room-1.air", 1, ts, 3.0)
    _mosquitto_pub(stack, "-q", "1", "-r", "-t", topic, "-m", payload)
    wait_until(lambda: _temperatures(stack, "cold-room-1.air") == 1, 20, "the reading, once")
    ingest.stop()
    stack.start_ingest()  # a new connection subscribes again
    durable = subscribe(stack.mosquitto.port, f"coldchain/v1/{SITE}/+/durable")
    durable.get(timeout=10)  # ingest's retained mark: the broker has handled the subscription
    _publish(stack, "cold-room-2", telemetry_json("cold-room-2", "cold-room-2.air", 1, ts, 2.0))
    wait_until(lambda: _temperatures(stack, "cold-room-2.air") == 1, 20, "a later message")
    assert (stack.metrics() or {})["coldchain_ingest_messages_received_total"] == 1.0


def test_a_qos0_flood_is_bounded_while_ingest_cannot_store(stack: ApiStack) -> None:
    """QoS 0 has no receive window: without a bound, a flood while InfluxDB is away
    would pile up in ingest's memory (577 MB in a review)."""
    backlog = 100
    stack.start_ingest(
        COLDCHAIN_INGEST_INFLUX_URL=f"http://127.0.0.1:{free_port()}",  # nothing answers
        COLDCHAIN_INGEST_INFLUX_CREATE_DB="false",
        COLDCHAIN_INGEST_QOS0_BACKLOG=str(backlog),
    )
    ts = datetime.now(UTC).replace(microsecond=0)
    flood = 5000
    lines = "\n".join(
        telemetry_json("intruder", "intruder.air", seq, ts, 3.0) for seq in range(1, flood + 1)
    )
    topic = f"coldchain/v1/{SITE}/intruder/telemetry"
    _mosquitto_pub(stack, "-q", "0", "-l", "-t", topic, stdin=lines.encode())
    # At most two batches (500 messages each) are taken while the first waits for InfluxDB.
    taken = 2 * 500
    wait_until(
        lambda: (
            (stack.metrics() or {}).get("coldchain_ingest_messages_dropped_total", 0)
            >= flood - taken - backlog
        ),
        30,
        "QoS 0 messages beyond the bound to be dropped and counted",
    )


def test_a_message_ahead_of_ingests_clock_is_never_confirmed_until_it_is_stored(
    stack: ApiStack,
) -> None:
    """Ahead of ingest's clock: the gateway's clock or ingest's may be wrong. If it is
    ingest's, the reading is good: the gateway must keep it until it is stored (a review
    lost 15 of 40 readings while ingest ran ten minutes behind)."""
    ingest = stack.start_ingest()
    durable = subscribe(stack.mosquitto.port, f"coldchain/v1/{SITE}/cold-room-1/durable")
    lead = timedelta(minutes=5, seconds=8)
    ahead = datetime.now(UTC).replace(microsecond=0) + lead
    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "cold-room-1.air", 1, ahead, 3.0))
    at = datetime.now(UTC).replace(microsecond=0)
    second = telemetry_json("cold-room-1", "cold-room-1.air", 2, at, 3.1)
    _publish(stack, "cold-room-1", second)
    wait_until(lambda: _temperatures(stack, "cold-room-1.air") == 1, 20, "the second reading")
    ingest.stop()  # the hold is kept on disk
    stack.start_ingest()
    now = datetime.now(UTC).replace(microsecond=0)
    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "cold-room-1.air", 3, now, 3.2))
    wait_until(lambda: _temperatures(stack, "cold-room-1.air") == 2, 20, "the third reading")
    assert durable.empty(), "no mark may pass message 1 while it is not stored"

    # The clocks agree again once the lead has passed; the gateway sends 1 again.
    wait_until(lambda: datetime.now(UTC) + MAX_CLOCK_LEAD >= ahead, 30, "the clocks to agree")
    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "cold-room-1.air", 1, ahead, 3.0))
    wait_until(lambda: _temperatures(stack, "cold-room-1.air") == 3, 20, "the first reading")
    assert json.loads(durable.get(timeout=20).payload)["seq"] == 1
    # As the gateway does, everything above its mark again: a mark has no gap below it.
    _publish(stack, "cold-room-1", second)
    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "cold-room-1.air", 3, now, 3.2))
    assert json.loads(durable.get(timeout=20).payload)["seq"] == 3


def test_a_gateway_cannot_fill_influxdb_with_sensors_the_fleet_does_not_know(
    stack: ApiStack,
) -> None:
    """Each unknown sensor is a series; InfluxDB's tag values are limited, and once they
    run out it refuses the fleet's own new sensors (a review made it refuse freezer-1)."""
    stack.start_ingest()
    invalid = subscribe(stack.mosquitto.port, "coldchain/v1/_invalid/#")
    ts = datetime.now(UTC).replace(microsecond=0)
    readings = [{"sensor": f"van-1.x{n}", "ts": ts.isoformat(), "temp_c": 3.0} for n in range(40)]
    message = {"v": 1, "gateway": "van-1", "seq": 1, "sent_at": ts.isoformat()}
    _publish(stack, "van-1", json.dumps(message | {"readings": readings[:30]}))
    _publish(stack, "van-1", json.dumps(message | {"seq": 2, "readings": readings[30:]}))
    notice = json.loads(invalid.get(timeout=20).payload)
    assert "more than 32 sensors the fleet does not know" in notice["reason"]
    wait_until(
        lambda: stack.influxdb.count(stack.database, "SELECT count(temp_c) FROM temperature") == 30,
        20,
        "the first message's readings, stored",
    )


def test_refused_messages_between_stored_ones_do_not_hold_the_durable_mark(
    stack: ApiStack,
) -> None:
    """A mark covers a gateway's messages without a gap, and a message refused for breaking
    the contract is done too (sending it again would not help): its seq, read from what
    is left of it, closes the gap. Garbage nested deeper than a parser's stack neither
    closes it nor stops ingest."""
    ingest = stack.start_ingest()
    durable = subscribe(stack.mosquitto.port, f"coldchain/v1/{SITE}/cold-room-1/durable")
    now = datetime.now(UTC).replace(microsecond=0)
    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "cold-room-1.air", 1, now, 3.0))
    assert json.loads(durable.get(timeout=20).payload)["seq"] == 1
    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "cold-room-1.air", 2, now, "warm"))
    topic = f"coldchain/v1/{SITE}/cold-room-1/telemetry"
    _mosquitto_pub(stack, "-q", "1", "-t", topic, "-s", stdin=b"[" * 100_000)
    later = now + timedelta(minutes=1)
    _publish(stack, "cold-room-1", telemetry_json("cold-room-1", "cold-room-1.air", 3, later, 3.1))
    assert json.loads(durable.get(timeout=20).payload)["seq"] == 3
    assert _temperatures(stack, "cold-room-1.air") == 2
    assert ingest.running
