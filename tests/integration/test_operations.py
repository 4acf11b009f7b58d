"""What operations see: health endpoints that mean something, metrics, and JSON logs."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_devstack.servers import Process, free_port, service, wait_until
from coldchain_devstack.stack import SITE
from coldchain_io.logs import JsonFormatter
from tests.alertsapi import ApiStack
from tests.mqttclient import telemetry_json

STARTED = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _get(port: int, path: str) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    except httpx.HTTPError:
        return None


def _health(port: int, status: int) -> dict[str, Any] | None:
    """The /healthz body once it answers with `status`, else None."""
    response = _get(port, "/healthz")
    if response is None or response.status_code != status:
        return None
    body: dict[str, Any] = response.json()
    return body


def _publish(port: int, topic: str, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


# --- ingest /healthz --------------------------------------------------------------------


def test_ingest_health_follows_the_broker(stack: ApiStack) -> None:
    stack.start_ingest()
    port = stack.metrics_port
    assert wait_until(lambda: _health(port, 200), 10, "healthy") == {
        "broker": True,
        "influxdb": True,
        "stored": True,
        "storing": True,
        "influxdb_account": True,
        "problems": [],
    }

    stack.mosquitto.stop()
    body = wait_until(lambda: _health(port, 503), 10, "503 without the broker")
    assert body["broker"] is False and body["influxdb"] is True
    assert body["problems"] == [
        f"not connected to the MQTT broker at localhost:{stack.mosquitto.port}"
    ]
    assert _get(port, "/metrics") is not None, "metrics are still served"

    stack.mosquitto.start()
    wait_until(lambda: _health(port, 200), 30, "healthy again after the broker returns")


def test_ingest_health_names_influxdb_when_it_is_unreachable(stack: ApiStack) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    stack.start_ingest(
        COLDCHAIN_INGEST_INFLUX_URL=closed, COLDCHAIN_INGEST_INFLUX_CREATE_DB="false"
    )
    body = wait_until(
        lambda: (b := _health(stack.metrics_port, 503)) and b["broker"] and b, 10, "503"
    )
    assert body == {
        "broker": True,
        "influxdb": False,
        "stored": True,
        "storing": True,
        "influxdb_account": True,
        "problems": [f"InfluxDB at {closed} does not answer /ping"],
    }


def test_ingest_metrics_cover_what_operations_watch(stack: ApiStack) -> None:
    stack.start_ingest()
    text = wait_until(lambda: _get(stack.metrics_port, "/metrics"), 10, "/metrics").text
    for name in [
        "coldchain_ingest_messages_received_total",
        "coldchain_ingest_messages_invalid_total",
        "coldchain_ingest_messages_acked_total",
        "coldchain_ingest_readings_written_total",
        "coldchain_ingest_readings_late_total",
        "coldchain_ingest_write_seconds_bucket",
        "coldchain_ingest_write_failures_total",
        "coldchain_ingest_alert_events_total",
        "coldchain_ingest_backlog",
        "coldchain_ingest_messages_dropped_total",
        "coldchain_ingest_refused_by_influxdb_total",
        "coldchain_ingest_dead_letters",
        "coldchain_ingest_alert_events_unconfirmed",
    ]:
        assert f"\n{name}" in text, name


# --- alerts /metrics ----------------------------------------------------------------------


def _event(state: AlertState, severity: Severity = Severity.CRITICAL) -> bytes:
    event = AlertEvent(
        key=f"over_max/cold-room-1.air/{STARTED.isoformat()}",
        state=state,
        rule="over_max",
        severity=severity,
        site=SITE,
        asset="cold-room-1",
        sensor="cold-room-1.air",
        started_at=STARTED,
        at=STARTED + timedelta(minutes=15 if state is AlertState.RAISED else 40),
        value_c=8.0,
        peak_c=8.0,
        limit_c=6.0,
        delay_s=900,
        duration_s=None if state is AlertState.RAISED else 1500,
    )
    return event.model_dump_json().encode()


def _samples(port: int) -> dict[str, float] | None:
    response = _get(port, "/metrics")
    if response is None or response.status_code != 200:
        return None
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_alerts_metrics_count_open_alerts_and_events(stack: ApiStack) -> None:
    stack.alerts().start()
    port = stack.alerts_port
    wait_until(lambda: _health(port, 200), 30, "the alerts service to be healthy")
    open_critical = 'coldchain_alerts_open{severity="critical"}'
    open_warning = 'coldchain_alerts_open{severity="warning"}'
    samples = _samples(port) or {}
    assert samples[open_critical] == 0 and samples[open_warning] == 0
    assert samples["coldchain_alerts_events_total"] == 0

    _publish(stack.mosquitto.port, topics.alerts(SITE), _event(AlertState.RAISED))
    samples = wait_until(
        lambda: (s := _samples(port)) and s[open_critical] == 1 and s, 10, "one open alert"
    )
    assert samples[open_warning] == 0
    assert samples["coldchain_alerts_events_total"] == 1

    assert samples['coldchain_alerts_active{severity="critical"}'] == 1

    _publish(stack.mosquitto.port, topics.alerts(SITE), _event(AlertState.CLEARED))
    samples = wait_until(
        lambda: (s := _samples(port)) and s["coldchain_alerts_events_total"] == 2 and s, 10, "2"
    )
    assert samples['coldchain_alerts_active{severity="critical"}'] == 0
    assert samples[open_critical] == 1, "cleared, but still waiting for someone to acknowledge"


# --- structured logs ----------------------------------------------------------------------


def _json_lines(process: Process) -> list[dict[str, Any]]:
    """Every line of the process's output as a JSON object (the test fails on any other)."""
    records = []
    for number, line in enumerate(process.output().splitlines(), start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{process.name} log line {number} is not JSON: {line!r}")
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= record.keys(), line
        assert datetime.fromisoformat(record["time"]).utcoffset() == timedelta(0), line
        records.append(record)
    return records


def test_every_service_logs_one_json_object_per_line(stack: ApiStack) -> None:
    ingest = stack.start_ingest(COLDCHAIN_INGEST_LOG_FORMAT="json")
    alerts = service(
        "alerts",
        "coldchain-alerts",
        stack.directory,
        {
            "COLDCHAIN_ALERTS_MQTT_PORT": str(stack.mosquitto.port),
            "COLDCHAIN_ALERTS_PORT": str(stack.alerts_port),
            "COLDCHAIN_ALERTS_DATABASE_URL": f"sqlite:///{stack.directory}/alerts.sqlite3",
            "COLDCHAIN_ALERTS_LOG_FORMAT": "json",
        },
    )
    stack.processes.append(alerts)
    alerts.start()
    wait_until(lambda: _health(stack.alerts_port, 200), 30, "the alerts service")
    gateway = stack.gateway("cold-room-1", STARTED, ticks=3, COLDCHAIN_GATEWAY_LOG_FORMAT="json")
    gateway.start()
    hostile = telemetry_json("cold-room-1", "cold-room-1.air", 99, STARTED, "warm\nINFO forged")
    _publish(stack.mosquitto.port, topics.telemetry(SITE, "cold-room-1"), hostile.encode())
    wait_until(
        lambda: (stack.metrics() or {}).get("coldchain_ingest_messages_invalid_total"), 10, "1"
    )
    assert gateway.wait(60) == 0
    assert ingest.stop() == 0
    alerts.stop()  # uvicorn re-raises SIGTERM once shut down: its exit status says nothing

    ingest_records = _json_lines(ingest)
    assert any(
        r["level"] == "WARNING" and r["message"].startswith("invalid message on")
        for r in ingest_records
    )
    alerts_records = _json_lines(alerts)
    loggers = {r["logger"] for r in alerts_records}
    assert {"uvicorn.error", "uvicorn.access"} <= loggers, loggers
    assert _json_lines(gateway), "the gateway logged nothing"


def test_json_records_carry_the_exception() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord(
            "coldchain", logging.ERROR, __file__, 1, "failed: %s", ("x",), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "coldchain"
    assert entry["message"] == "failed: x"
    assert (
        entry["exception"].startswith("Traceback")
        and "ValueError: bad\nthing" in entry["exception"]
    )
