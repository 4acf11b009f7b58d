"""The alert path under a broker crash: no alarm ingest raised is lost, none doubled.

Mosquitto saves what it holds every few seconds; an alert event it took and had
not saved yet is gone with a `kill -9`. Ingest keeps every event until the
alerts service confirms it (ingest/coldchain_ingest/outbox.py), so the events
must all arrive anyway. The truth is what ingest itself recorded in InfluxDB
(the `alert` measurement), compared with the alerts service's database.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from coldchain_alerts.db import make_engine, make_sessionmaker
from coldchain_alerts.models import Occurrence
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import ApiStack
from tests.mqttclient import subscribe, telemetry_json
from tests.verdict import verdict

SENSORS = ["van-1.chilled", "van-1.frozen"]


#: One gateway per round: one gateway's reports within ten minutes are one alarm.
JUMPERS = ["cold-room-1", "cold-room-2", "freezer-1"]


def _clock_jump(port: int, seq: int, at: datetime, gateway: str = "cold-room-1") -> None:
    """A gateway reports that its clock jumped: an alarm at once (QoS 1, PUBACK awaited)."""
    payload = {
        "v": 1,
        "gateway": gateway,
        "seq": seq,
        "sent_at": at.isoformat(),
        "readings": [],
        "events": [{"sensor": f"{gateway}.clock", "ts": at.isoformat(), "kind": "clock_jump"}],
    }
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(
            f"coldchain/v1/{SITE}/{gateway}/telemetry", json.dumps(payload), qos=1
        )
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def _ingest_connected(stack: ApiStack) -> bool:
    try:
        health = httpx.get(f"http://127.0.0.1:{stack.metrics_port}/healthz", timeout=1).json()
    except httpx.HTTPError:
        return False
    return health["broker"] is True


def _raised_keys(stack: ApiStack) -> set[str]:
    series = stack.influxdb.query(
        stack.database, """SELECT "key" FROM alert WHERE "state" = 'raised'"""
    )
    return {row[1] for row in series[0]["values"]} if series else set()


def _stored_keys(stack: ApiStack) -> set[str]:
    engine = make_engine(stack.alerts_database)
    try:
        with make_sessionmaker(engine)() as session:
            return set(session.scalars(select(Occurrence.key)))
    finally:
        engine.dispose()


def test_broker_killed_right_after_each_alert_loses_no_alert_and_no_reading(
    stack: ApiStack,
) -> None:
    ticks = 600
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=12)
    stack.start_ingest(COLDCHAIN_INGEST_ALERT_REDELIVER_AFTER_S="2")
    alerts = stack.alerts()
    alerts.start()
    wait_until(stack.alerts_healthy, 30, "the alerts service, once")
    alerts.stop()  # its session waits at the broker; the alarms happen while it is down

    gateway = stack.gateway("van-1", start, ticks, speed=1200)
    gateway.start()
    jumps = []
    for jumper in JUMPERS:
        # The hand-written publisher has no outbox: it publishes once ingest listens.
        wait_until(lambda: _ingest_connected(stack), 30, "ingest connected to the broker")
        at = datetime.now(UTC)
        key = f"clock_jump/{jumper}/{at.isoformat()}"
        _clock_jump(stack.mosquitto.port, 1, at, jumper)
        # Ingest records an event in InfluxDB right after publishing it.
        wait_until(lambda k=key: k in _raised_keys(stack), 30, f"ingest to publish {key}")
        stack.mosquitto.kill()  # within its autosave interval: what it did not save is gone
        stack.mosquitto.start()
        jumps.append(key)

    assert gateway.wait(timeout=180) == 0, gateway.output()[-3000:]
    assert verdict(stack.influxdb, stack.database, start, ticks, SENSORS) == {
        "stored once": len(SENSORS) * ticks,
        "lost": 0,
        "unexpected": 0,
    }
    raised = _raised_keys(stack)
    assert set(jumps) <= raised

    alerts.start()
    wait_until(lambda: raised <= _stored_keys(stack), 60, "every alarm ingest raised")
    wait_until(
        lambda: (stack.metrics() or {}).get("coldchain_ingest_alert_events_unconfirmed") == 0,
        60,
        "ingest to hear that the alerts service stored every event",
    )
    jump_alerts = [a for a in stack.alerts_api.alerts() if a["rule"] == "clock_jump"]
    assert sorted(a["gateway"] for a in jump_alerts) == sorted(JUMPERS)
    assert [a["occurrences"] for a in jump_alerts] == [1] * len(JUMPERS), "each alarm once"


def _unconfirmed(stack: ApiStack) -> float | None:
    return (stack.metrics() or {}).get("coldchain_ingest_alert_events_unconfirmed")


def test_a_receipt_the_state_file_refuses_stops_nothing(stack: ApiStack) -> None:
    """A receipt arrives while ingest's state file is locked (or full): the events stay
    kept, and ingest goes on taking telemetry (it once lost its network thread)."""
    ingest = stack.start_ingest(COLDCHAIN_INGEST_ALERT_REDELIVER_AFTER_S="1")
    alerts = stack.alerts()
    alerts.start()
    wait_until(stack.alerts_healthy, 30, "the alerts service, once")
    alerts.stop()
    marks = subscribe(stack.mosquitto.port, f"coldchain/v1/{SITE}/cold-room-1/durable")
    at = datetime.now(UTC)
    _clock_jump(stack.mosquitto.port, 1, at)
    wait_until(lambda: _unconfirmed(stack) == 1, 30, "the alarm kept until it is receipted")
    # The alarm is kept before the rule state is saved; the durable mark comes after.
    assert json.loads(marks.get(timeout=30).payload)["seq"] == 1

    holder = sqlite3.connect(stack.directory / "ingest-state.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # every write of ingest to its state file waits, then fails
    try:
        alerts.start()  # stores the event and sends its receipt
        wait_until(
            lambda: (
                "could not note a receipt" in ingest.output()
                or "Exception in thread" in ingest.output()
            ),
            60,
            "ingest to fail to note the receipt",
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert "Exception in thread" not in ingest.output()
    payload = telemetry_json("cold-room-2", "cold-room-2.air", 1, datetime.now(UTC), 3.0)
    topic = f"coldchain/v1/{SITE}/cold-room-2/telemetry"
    argv = ["mosquitto_pub", "-p", str(stack.mosquitto.port), "-q", "1", "-t", topic]
    subprocess.run([*argv, "-m", payload], check=True, timeout=10)
    wait_until(
        lambda: stack.influxdb.count(
            stack.database, "SELECT count(temp_c) FROM temperature WHERE sensor = 'cold-room-2.air'"
        ),
        30,
        "a reading after the refused receipt",
    )
    wait_until(lambda: _unconfirmed(stack) == 0, 60, "the event sent again and receipted")
    assert [a["rule"] for a in stack.alerts_api.alerts()] == ["clock_jump"]


def test_an_alarm_the_state_file_refuses_waits_for_it_and_ends_nothing(stack: ApiStack) -> None:
    """The state file is locked (or the disk full) when a message raises an alarm: ingest
    tries again to keep the event and the rules' state, acknowledges nothing meanwhile,
    and once the file takes them the alarm arrives once and the durable mark moves. It
    once ended there: the error left the pipeline's thread and the process."""
    # A receipt that comes while the file is locked is not noted: the event goes again.
    ingest = stack.start_ingest(COLDCHAIN_INGEST_ALERT_REDELIVER_AFTER_S="2")
    alerts = stack.alerts()
    alerts.start()
    wait_until(stack.alerts_healthy, 30, "the alerts service")
    marks = subscribe(stack.mosquitto.port, f"coldchain/v1/{SITE}/cold-room-1/durable")

    holder = sqlite3.connect(stack.directory / "ingest-state.sqlite3", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # every write of ingest to its state file waits, then fails
    try:
        _clock_jump(stack.mosquitto.port, 1, datetime.now(UTC))
        wait_until(
            lambda: "could not keep" in ingest.output() or not ingest.running,
            60,
            "ingest to fail to keep the alarm",
        )
        assert ingest.running, ingest.output()[-3000:]
        assert marks.empty(), "a durable mark before the message's alarm was kept"
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert json.loads(marks.get(timeout=60).payload)["seq"] == 1
    wait_until(lambda: _unconfirmed(stack) == 0, 60, "the alarm stored by the alerts service")
    assert [(a["rule"], a["occurrences"]) for a in stack.alerts_api.alerts()] == [("clock_jump", 1)]
    assert (stack.metrics() or {}).get("coldchain_ingest_state_write_failures_total", 0) >= 1
    assert ingest.running and "Traceback" not in ingest.output()


def test_a_lasting_excursion_keeps_one_update_waiting_while_the_alerts_service_is_away(
    stack: ApiStack,
) -> None:
    """Every reading of an excursion is an update; while nobody receipts them, ingest
    keeps the raise and the latest update, not one copy per reading (a review counted
    about 1.2 million for one sensor and one day)."""
    stack.start_ingest()
    alerts = stack.alerts()
    alerts.start()
    wait_until(stack.alerts_healthy, 30, "the alerts service, once")
    alerts.stop()
    readings = [30.0 + k for k in range(20)]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=len(readings))
    topic = f"coldchain/v1/{SITE}/cold-room-1/telemetry"
    for seq, value in enumerate(readings, start=1):
        ts = start + timedelta(seconds=seq)
        payload = telemetry_json("cold-room-1", "cold-room-1.air", seq, ts, value)
        argv = ["mosquitto_pub", "-p", str(stack.mosquitto.port), "-q", "1", "-t", topic]
        subprocess.run([*argv, "-m", payload], check=True, timeout=10)
    wait_until(
        lambda: (stack.metrics() or {}).get("coldchain_ingest_messages_acked_total") == 20,
        30,
        "every reading taken",
    )
    assert _unconfirmed(stack) == 2, "the raise and the latest update"

    alerts.start()
    wait_until(lambda: _unconfirmed(stack) == 0, 60, "both receipted")
    (alert,) = stack.alerts_api.alerts()
    assert (alert["value_c"], alert["peak_c"]) == (readings[-1], max(readings))
