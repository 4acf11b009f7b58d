"""Faults of the services while gateways publish steadily, on real processes.

Every reading the gateways recorded must end up stored once: none lost, none
unexpected (tests/verdict.py).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from coldchain_devstack.servers import InfluxDB, Mosquitto, Process, wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import ApiStack
from tests.influxrelay import WriteHolder
from tests.mqttclient import telemetry_json
from tests.verdict import outbox_counter, verdict

GATEWAYS = {"van-1": ("van-1.chilled", "van-1.frozen"), "cold-room-1": ("cold-room-1.air",)}


def _start(hours_ago: float) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=hours_ago)


def _count(stack: ApiStack) -> int:
    try:
        return stack.influxdb.count(stack.database, "SELECT count(temp_c) FROM temperature")
    except httpx.HTTPError:
        return -1


def _verdict(stack: ApiStack, start: datetime, ticks: int) -> dict[str, int]:
    sensors = [sensor for group in GATEWAYS.values() for sensor in group]
    return verdict(stack.influxdb, stack.database, start, ticks, sensors)


def _all_stored(ticks: int) -> dict[str, int]:
    readings = ticks * sum(len(sensors) for sensors in GATEWAYS.values())
    return {"stored once": readings, "lost": 0, "unexpected": 0}


def _publish_steadily(stack: ApiStack, start: datetime, ticks: int) -> list[Process]:
    gateways = [stack.gateway(g, start, ticks, speed=900) for g in GATEWAYS]
    for gateway in gateways:
        gateway.start()
    return gateways


def _drained(gateways: list[Process]) -> None:
    for gateway in gateways:
        assert gateway.wait(timeout=180) == 0, gateway.output()[-3000:]


def test_ingest_killed_mid_stream_and_restarted(stack: ApiStack) -> None:
    ticks = 300
    start = _start(hours_ago=8)
    ingest = stack.start_ingest()
    gateways = _publish_steadily(stack, start, ticks)
    wait_until(lambda: _count(stack) >= 150, 30, "a steady stream before the kill")
    ingest.kill()
    stopped_at = _count(stack)
    ingest.start()
    _drained(gateways)
    assert stopped_at < 3 * ticks, "the kill came after everything was stored"
    assert _verdict(stack, start, ticks) == _all_stored(ticks)


@pytest.fixture
def own_influxdb(tmp_path: Path) -> Iterator[InfluxDB]:
    """An InfluxDB of this test alone, which it may stop and start."""
    server = InfluxDB(tmp_path / "own-influxdb")
    server.start()
    yield server
    server.stop()


def test_influxdb_down_for_a_while_then_back(
    tmp_path: Path, mosquitto: Mosquitto, own_influxdb: InfluxDB
) -> None:
    stack = ApiStack(tmp_path, mosquitto, own_influxdb, f"test_{uuid.uuid4().hex[:12]}")
    try:
        ticks = 300
        start = _start(hours_ago=8)
        stack.start_ingest()
        gateways = _publish_steadily(stack, start, ticks)
        wait_until(lambda: _count(stack) >= 60, 30, "some readings before InfluxDB goes")
        own_influxdb.stop()
        outbox = tmp_path / "van-1.sqlite3"
        sampled = outbox_counter(outbox, "ticks")
        wait_until(
            lambda: outbox_counter(outbox, "ticks") >= sampled + 100,
            60,
            "gateways piling up meanwhile",
        )
        own_influxdb.start()
        _drained(gateways)
        assert _verdict(stack, start, ticks) == _all_stored(ticks)
        failures = (stack.metrics() or {}).get("coldchain_ingest_write_failures_total", 0)
        assert failures >= 1, "ingest noticed the outage and retried"
    finally:
        stack.stop()


def test_alerts_service_down_while_the_alarm_happens(stack: ApiStack) -> None:
    start = _start(hours_ago=4)
    stack.start_ingest()
    alerts = stack.alerts()
    alerts.start()
    wait_until(lambda: _healthy(stack.alerts_port), 30, "the alerts service, once")
    alerts.stop()

    gateway = stack.gateway("van-2", start, 120)
    gateway.start()
    assert gateway.wait(timeout=90) == 0, gateway.output()[-3000:]
    raised = stack.influxdb.count(
        stack.database, "SELECT count(started_ns) FROM alert WHERE sensor = 'van-2.chilled'"
    )
    assert raised >= 1, "the alarm happened while the alerts service was down"

    alerts.start()
    stored = wait_until(
        lambda: [
            a
            for a in _alerts(stack)
            if a["sensor"] == "van-2.chilled" and str(a["rule"]).startswith("over_")
        ],
        30,
        "the alert after the service returned",
    )
    assert len(stored) == 1
    assert stored[0]["severity"] == "critical"


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _alerts(stack: ApiStack) -> list[dict[str, object]]:
    return list(stack.alerts_api.alerts())


def test_ingest_says_it_is_not_storing_while_influxdb_takes_no_write(stack: ApiStack) -> None:
    """A review: InfluxDB answering /ping but taking over 10 s per write stalled ingest
    while /healthz said 200."""
    relay = WriteHolder(stack.influxdb.port)
    try:
        stack.start_ingest(
            COLDCHAIN_INGEST_INFLUX_URL=f"http://127.0.0.1:{relay.port}",
            COLDCHAIN_INGEST_INFLUX_TIMEOUT_S="1",
            COLDCHAIN_INGEST_STALLED_AFTER_S="3",
        )
        health = f"http://127.0.0.1:{stack.metrics_port}/healthz"
        wait_until(lambda: httpx.get(health, timeout=5).status_code == 200, 30, "healthy")
        relay.holding.set()
        # One start for the gateways and the verdict: taken twice, a minute turning in
        # between judges readings a minute later than those sampled.
        start = _start(hours_ago=2)
        gateways = _publish_steadily(stack, start, 20)
        answer = wait_until(
            lambda: (r := httpx.get(health, timeout=5)).status_code == 503 and r.json(),
            30,
            "/healthz to say nothing is stored",
        )
        assert answer["storing"] is False and answer["influxdb"] is True
        relay.holding.clear()
        _drained(gateways)
        wait_until(lambda: httpx.get(health, timeout=5).status_code == 200, 30, "healthy again")
        assert _verdict(stack, start, 20) == _all_stored(20)
    finally:
        relay.close()


def test_the_first_message_after_a_quiet_spell_is_not_called_stalled(stack: ApiStack) -> None:
    """A review: after a quiet spell longer than `stalled_after_s` (a worker whose
    gateways are quiet, a small site at night), /healthz said 503 from the first new
    message until it was stored, as if it had waited the whole spell: a liveness probe
    would restart a healthy ingest."""
    relay = WriteHolder(stack.influxdb.port)
    stalled_after_s = 4.0
    try:
        stack.start_ingest(
            COLDCHAIN_INGEST_INFLUX_URL=f"http://127.0.0.1:{relay.port}",
            COLDCHAIN_INGEST_INFLUX_TIMEOUT_S="1",
            COLDCHAIN_INGEST_STALLED_AFTER_S=str(stalled_after_s),
        )
        wait_until(lambda: _healthy(stack.metrics_port), 30, "healthy")
        _stays_healthy(stack.metrics_port, stalled_after_s + 1, "while quiet")
        relay.holding.set()  # the message waits a while for InfluxDB, less than the limit
        payload = telemetry_json("cold-room-1", "cold-room-1.air", 1, datetime.now(UTC), 3.0)
        topic = f"coldchain/v1/{SITE}/cold-room-1/telemetry"
        argv = ["mosquitto_pub", "-p", str(stack.mosquitto.port), "-q", "1", "-t", topic]
        subprocess.run([*argv, "-m", payload], check=True, timeout=10)
        _stays_healthy(stack.metrics_port, stalled_after_s / 2, "while the message waits")
        relay.holding.clear()
        wait_until(lambda: _count(stack) == 1, 30, "the message stored")
    finally:
        relay.close()


def _stays_healthy(port: int, seconds: float, when: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert answer.status_code == 200, f"{when}: {answer.text}"
