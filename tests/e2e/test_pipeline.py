"""The whole pipeline on real servers.

firmware -> gateway -> Mosquitto -> ingest -> InfluxDB -> rules -> alerts service.

Gateways run on the replay clock: sample k carries start + k minutes and the
simulated physics follows the same clock, so every expected reading is known.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from coldchain_devstack.servers import wait_until
from tests.alertsapi import ApiStack

MINUTE_NS = 60 * 1_000_000_000
#: Rules about silence, not temperature: the replayed readings are hours old, so the
#: silence check may raise them for every sensor at any moment of the test.
SILENCE_RULES = {"no_data", "offline"}


def _start(hours_ago: float) -> datetime:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(hours=hours_ago)


def _ns(ts: datetime) -> int:
    return int(ts.timestamp()) * 1_000_000_000


def _alerts(stack: ApiStack) -> list[dict[str, object]]:
    response = stack.alerts_api.get("/api/v1/alerts")
    response.raise_for_status()
    alerts: list[dict[str, object]] = response.json()
    return alerts


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _times(stack: ApiStack, sensor: str) -> list[int]:
    series = stack.influxdb.query(
        stack.database, f"SELECT temp_c FROM temperature WHERE sensor = '{sensor}'"
    )
    return [row[0] for row in series[0]["values"]] if series else []


def test_every_reading_stored_once_and_one_alert_for_the_failed_compressor(stack: ApiStack) -> None:
    ticks = 120
    start = _start(hours_ago=3)
    stack.start_ingest()
    alerts = stack.alerts()
    alerts.start()
    wait_until(lambda: _healthy(stack.alerts_port), 30, "the alerts service to be healthy")
    gateways = [stack.gateway("van-2", start, ticks), stack.gateway("cold-room-1", start, ticks)]
    for gateway in gateways:
        gateway.start()
    for gateway in gateways:
        assert gateway.wait(timeout=90) == 0, gateway.output()[-3000:]

    expected = [_ns(start) + k * MINUTE_NS for k in range(ticks)]
    for sensor in ("van-2.chilled", "van-2.frozen", "cold-room-1.air"):
        assert _times(stack, sensor) == expected, sensor
    total = stack.influxdb.count(stack.database, "SELECT count(temp_c) FROM temperature")
    assert total == 3 * ticks

    rows = [
        row
        for row in stack.influxdb.query(
            stack.database,
            """SELECT "key", rule, state FROM alert WHERE sensor = 'van-2.chilled'""",
        )[0]["values"]
        if row[2] not in SILENCE_RULES
    ]
    assert {row[1] for row in rows} == {rows[0][1]}, "one alert, escalating"
    final_rule = rows[-1][2]
    others = stack.influxdb.query(
        stack.database, """SELECT "key", rule FROM alert WHERE sensor != 'van-2.chilled'"""
    )
    other_rules = {row[2] for row in others[0]["values"]} if others else set()
    assert other_rules <= SILENCE_RULES, "only the exited gateways and silent sensors"

    def temperature_alert() -> list[dict[str, object]]:
        found = [
            a
            for a in _alerts(stack)
            if a["sensor"] == "van-2.chilled" and a["rule"] not in SILENCE_RULES
        ]
        return found if found and found[0]["rule"] == final_rule else []

    stored = wait_until(temperature_alert, 30, "the alert to reach the alerts service")
    assert len(stored) == 1, stored
    alert = stored[0]
    assert (alert["asset"], alert["sensor"], alert["severity"]) == (
        "van-2-chilled",
        "van-2.chilled",
        "critical",
    )
    assert alert["status"] == "open"
    assert alert["rule"] in ("over_max", "over_absolute")
    assert isinstance(alert["peak_c"], float) and alert["peak_c"] > 6.0
    opened = datetime.fromisoformat(str(alert["opened_at"]))
    assert start < opened < start + timedelta(minutes=ticks)


def test_gateway_killed_mid_run_resumes_without_loss_or_duplicates(stack: ApiStack) -> None:
    ticks = 300
    start = _start(hours_ago=6)
    stack.start_ingest()
    gateway = stack.gateway("van-1", start, ticks, speed=600)
    gateway.start()
    wait_until(
        lambda: stack.influxdb.count(stack.database, "SELECT count(temp_c) FROM temperature") >= 60,
        30,
        "some readings to be stored before the kill",
    )
    gateway.kill()
    stored_before = stack.influxdb.count(stack.database, "SELECT count(temp_c) FROM temperature")
    assert stored_before < 2 * ticks, "the gateway finished before it was killed"

    gateway.start()
    assert gateway.wait(timeout=90) == 0, gateway.output()[-3000:]

    expected = [_ns(start) + k * MINUTE_NS for k in range(ticks)]
    for sensor in ("van-1.chilled", "van-1.frozen"):
        assert _times(stack, sensor) == expected, sensor
    seqs = set()
    for measurement in ("temperature", "event", "position"):
        series = stack.influxdb.query(stack.database, f"SELECT seq FROM {measurement}")
        seqs |= {row[1] for row in series[0]["values"]} if series else set()
    assert seqs == set(range(1, max(seqs) + 1)), "no seq skipped, every message stored"
