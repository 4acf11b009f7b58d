"""The rule engine inside the ingest service, on real Mosquitto and InfluxDB.

What only the running service can show: a silent sensor noticed by the
scheduler, a gateway's offline status, and an ingest killed in the middle of an
excursion that neither alarms twice nor forgets.
"""

from __future__ import annotations

import json
import queue
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import yaml

from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import ApiStack
from tests.mqttclient import subscribe, telemetry_json


def _publish(stack: ApiStack, topic: str, payload: str, retain: bool = False) -> None:
    argv = ["mosquitto_pub", "-p", str(stack.mosquitto.port), "-q", "1", "-t", topic]
    subprocess.run([*argv, *(["-r"] if retain else []), "-m", payload], check=True, timeout=10)


def _reading(stack: ApiStack, seq: int, ts: datetime, temp_c: float) -> None:
    payload = telemetry_json("cold-room-1", "cold-room-1.air", seq, ts, temp_c)
    _publish(stack, f"coldchain/v1/{SITE}/cold-room-1/telemetry", payload)


def _next(alerts: queue.Queue[mqtt.MQTTMessage], **match: str) -> dict[str, Any]:
    """The next alert event whose fields equal `match`, skipping others."""
    while True:
        event: dict[str, Any] = json.loads(alerts.get(timeout=20).payload)
        if all(event.get(k) == v for k, v in match.items()):
            return event


def _only_cold_room_1(stack: ApiStack, **limits: float) -> None:
    """Shrink the test fleet to one sensor, reporting every second, with these limits."""
    fleet = yaml.safe_load(stack.fleet.read_text())
    site = fleet["sites"][0]
    site["assets"] = [a for a in site["assets"] if a["id"] == "cold-room-1"]
    site["assets"][0]["limits"] = limits
    site["gateways"] = [g for g in site["gateways"] if g["id"] == "cold-room-1"]
    site["gateways"][0]["sensors"][0]["interval_s"] = 1
    stack.fleet.write_text(yaml.safe_dump(fleet))


def test_a_silent_sensor_raises_no_data_and_its_next_reading_clears_it(stack: ApiStack) -> None:
    _only_cold_room_1(stack)
    alerts = subscribe(stack.mosquitto.port, "coldchain/v1/_alerts/#")
    stack.start_ingest(COLDCHAIN_INGEST_SILENCE_CHECK_S="0.2")
    first = datetime.now(UTC)
    _reading(stack, 1, first, 3.0)

    raised = _next(alerts, rule="no_data", state="raised")
    assert raised["sensor"] == "cold-room-1.air"
    due = datetime.fromisoformat(raised["at"])
    assert due >= datetime.fromisoformat(raised["started_at"]) + timedelta(seconds=2)

    later = datetime.now(UTC)
    _reading(stack, 2, later, 3.1)
    cleared = _next(alerts, rule="no_data", state="cleared")
    assert cleared["key"] == raised["key"]
    assert datetime.fromisoformat(cleared["at"]) == later


def test_a_reading_that_alarms_does_not_wait_for_its_batch_to_fill(stack: ApiStack) -> None:
    # A batch waits an hour to fill: only the reading above the maximum writes it.
    _only_cold_room_1(stack, delay_s=0)
    alerts = subscribe(stack.mosquitto.port, "coldchain/v1/_alerts/#")
    stack.start_ingest(COLDCHAIN_INGEST_BATCH_MAX_WAIT_S="3600")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    _reading(stack, 1, start, 4.0)
    _reading(stack, 2, start + timedelta(minutes=1), 8.0)

    raised = _next(alerts, state="raised", rule="over_max")
    assert datetime.fromisoformat(raised["at"]) == start + timedelta(minutes=1)
    # The quiet reading that waited went with it, in order.
    metrics = wait_until(stack.metrics, 10, "ingest's metrics")
    assert metrics["coldchain_ingest_readings_written_total"] == 2


def _offline_after(stack: ApiStack, seconds: float) -> None:
    fleet = yaml.safe_load(stack.fleet.read_text())
    for gateway in fleet["sites"][0]["gateways"]:
        gateway["offline_after_s"] = seconds
    stack.fleet.write_text(yaml.safe_dump(fleet))


def test_gateway_offline_status_is_an_alarm_once_it_lasts_until_it_is_online(
    stack: ApiStack,
) -> None:
    _offline_after(stack, 2)
    alerts = subscribe(stack.mosquitto.port, "coldchain/v1/_alerts/#")
    stack.start_ingest(COLDCHAIN_INGEST_SILENCE_CHECK_S="0.2")
    status = f"coldchain/v1/{SITE}/van-3/status"
    _publish(stack, status, "offline", retain=True)
    raised = _next(alerts, rule="offline", state="raised")
    assert raised["gateway"] == "van-3"
    started, at = (datetime.fromisoformat(raised[k]) for k in ("started_at", "at"))
    assert at == started + timedelta(seconds=2)
    _publish(stack, status, "online", retain=True)
    assert _next(alerts, rule="offline", state="cleared")["key"] == raised["key"]


def test_a_gateway_back_online_within_its_delay_is_no_alarm(stack: ApiStack) -> None:
    _offline_after(stack, 3)
    alerts = subscribe(stack.mosquitto.port, "coldchain/v1/_alerts/#")
    stack.start_ingest(COLDCHAIN_INGEST_SILENCE_CHECK_S="0.2")
    for gateway in ("van-1", "van-2"):
        _publish(stack, f"coldchain/v1/{SITE}/{gateway}/status", "offline", retain=True)
    _publish(stack, f"coldchain/v1/{SITE}/van-1/status", "online", retain=True)
    # van-2 stays offline: its alarm comes after the delay, and van-1's never does.
    seen = []
    while not seen or seen[-1] != ("offline", "van-2"):
        event = json.loads(alerts.get(timeout=20).payload)
        seen.append((event["rule"], event.get("gateway")))
    while not alerts.empty():  # what arrived with it
        event = json.loads(alerts.get_nowait().payload)
        seen.append((event["rule"], event.get("gateway")))
    assert ("offline", "van-1") not in seen


def test_ingest_killed_mid_excursion_alarms_once_and_still_clears(stack: ApiStack) -> None:
    _only_cold_room_1(stack, delay_s=120)
    alerts = subscribe(stack.mosquitto.port, "coldchain/v1/_alerts/#")
    ingest = stack.start_ingest()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    values = [4.0] * 2 + [8.0] * 6
    for minute, value in enumerate(values):
        _reading(stack, minute + 1, start + timedelta(minutes=minute), value)
    raised = _next(alerts, state="raised", rule="over_max")
    assert datetime.fromisoformat(raised["at"]) == start + timedelta(minutes=4)

    ingest.kill()
    for minute, value in enumerate([8.0] * 4 + [4.0] * 2, start=len(values)):
        _reading(stack, minute + 1, start + timedelta(minutes=minute), value)
    ingest.start()
    cleared = _next(alerts, state="cleared")
    assert cleared["key"] == raised["key"]
    assert datetime.fromisoformat(cleared["at"]) == start + timedelta(minutes=12)

    # The events go out before their records are written: wait for the cleared record.
    def cleared_recorded() -> list[tuple[str, str]] | None:
        records = _alert_records(stack, "temperature_")
        return records if records[-1:] == [(raised["key"], "cleared")] else None

    temperature = wait_until(cleared_recorded, 10, "the cleared alert's record")
    assert temperature == [(raised["key"], "raised"), (raised["key"], "cleared")]


def _alert_records(stack: ApiStack, prefix: str) -> list[tuple[str, str]]:
    """(key, state) of cold-room-1.air's alert records whose key starts with `prefix`."""
    series = stack.influxdb.query(
        stack.database, """SELECT "key", state FROM alert WHERE sensor = 'cold-room-1.air'"""
    )
    rows = series[0]["values"] if series else []
    return [(row[1], row[2]) for row in rows if row[1].startswith(prefix)]
