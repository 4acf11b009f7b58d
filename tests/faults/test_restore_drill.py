"""The restore drill: run the pipeline, back up, lose every server's disk, restore.

Van 2's compressor fails (alerts raised), the officer acknowledges and decides, a
certificate is signed and sealed, `coldchain-admin backup` runs; then every server
stops and its data directory is deleted (InfluxDB, Mosquitto, the alerts store,
ingest's state file, the key list; the private key stays in the office safe). While
the hub is down, van 1 records readings into its outbox. Fresh servers, `coldchain-admin
restore`, the services start again, and: every reading is there once, the alerts
and their history are those of before, the audit log verifies, the certificate
verifies with the restored key list and against the restored readings, no alert is
raised twice, and van 1's outbox drains into the restored store. Van 2's compartment
is still warm after the restore and its readings go on: they belong to the excursion
the restored alert is about, which only ingest's restored rule state knows, so no
second alert is raised for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from coldchain_devstack import BIN, REPO
from coldchain_devstack.servers import InfluxDB, Mosquitto, wait_until
from coldchain_devstack.stack import SITE, TEST_DELAY_S
from tests.alertsapi import AlertsApi, ApiStack
from tests.mqttclient import telemetry_json

DATABASE = "coldchain"
MINUTE_NS = 60 * 1_000_000_000
SILENCE_RULES = {"no_data", "offline"}
DELIVERY = REPO / "docs" / "examples" / "delivery_tour-nord-stopp-3.yaml"
TICKS_BEFORE, TICKS_DURING = 120, 30
#: Van 2's readings after the restore: longer than the delay, so that a rule engine
#: without the restored state would raise the excursion as a new one.
TICKS_AFTER = TEST_DELAY_S // 60 + 10
#: Far above the seq van 2's gateway reached: ingest takes these as new messages.
SEQ_AFTER = 1_000_000


def _run(command: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    return subprocess.run(
        [str(BIN / command), *args], env=clean | env, capture_output=True, text=True, timeout=120
    )


def _admin_env(stack: ApiStack, keys: Path) -> dict[str, str]:
    return {
        "COLDCHAIN_ADMIN_DATABASE_URL": stack.alerts_database,
        "COLDCHAIN_ADMIN_INFLUX_URL": stack.influxdb.url,
        "COLDCHAIN_ADMIN_INFLUX_RPC": stack.influxdb.rpc,
        "COLDCHAIN_ADMIN_INFLUX_DATABASES": json.dumps([DATABASE]),
        "COLDCHAIN_ADMIN_INGEST_STATE": str(stack.directory / "ingest-state.sqlite3"),
        "COLDCHAIN_ADMIN_PUBLIC_KEYS": str(keys / "hub.pub"),
    }


def _report_env(stack: ApiStack, safe: Path, keys: Path) -> dict[str, str]:
    return {
        "COLDCHAIN_REPORT_INFLUX_URL": stack.influxdb.url,
        "COLDCHAIN_REPORT_INFLUX_DB": DATABASE,
        "COLDCHAIN_REPORT_FLEET": str(stack.fleet),
        "COLDCHAIN_REPORT_SIGNING_KEY": str(safe / "hub.key"),
        "COLDCHAIN_REPORT_PUBLIC_KEYS": str(keys / "hub.pub"),
    }


def _times(stack: ApiStack, sensor: str) -> list[int]:
    series = stack.influxdb.query(
        DATABASE, f"SELECT temp_c FROM temperature WHERE sensor = '{sensor}'"
    )
    return [row[0] for row in series[0]["values"]] if series else []


def _kept(api: AlertsApi) -> dict[int, dict[str, Any]]:
    """Every alert but those about silence, with its whole history."""
    return {
        alert["id"]: api.get(f"/api/v1/alerts/{alert['id']}").json()
        for alert in api.alerts(limit=500)
        if alert["rule"] not in SILENCE_RULES
    }


def _unconfirmed(stack: ApiStack) -> bool:
    return (stack.metrics() or {}).get("coldchain_ingest_alert_events_unconfirmed") == 0


def _van_2_goes_on(mosquitto: Mosquitto, start: datetime, temp_c: float) -> None:
    """Van 2's chilled compartment still warm: a reading a minute from `start`, at QoS 1."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", mosquitto.port)
    client.loop_start()
    try:
        for k in range(TICKS_AFTER):
            at = start + timedelta(minutes=k)
            payload = telemetry_json("van-2", "van-2.chilled", SEQ_AFTER + k, at, temp_c)
            topic = f"coldchain/v1/{SITE}/van-2/telemetry"
            client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def _destroy(*paths: Path) -> None:
    for path in paths:
        for found in path.parent.glob(f"{path.name}*"):
            shutil.rmtree(found) if found.is_dir() else found.unlink()


def test_backup_lose_every_disk_restore_and_carry_on(tmp_path: Path) -> None:
    hub, safe, keys = tmp_path / "hub", tmp_path / "safe", tmp_path / "keys"
    for directory in (hub, safe, keys):
        directory.mkdir()
    mosquitto, influxdb = (
        Mosquitto(tmp_path / "servers-before"),
        InfluxDB(tmp_path / "servers-before"),
    )
    mosquitto.start()
    influxdb.start()
    stack = ApiStack(hub, mosquitto, influxdb, DATABASE)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
    try:
        stack.start_ingest()
        stack.alerts().start()
        wait_until(stack.alerts_healthy, 30, "the alerts service")
        van_2 = stack.gateway("van-2", start, TICKS_BEFORE)
        van_2.start()
        assert van_2.wait(timeout=90) == 0, van_2.output()[-3000:]
        api = stack.alerts_api
        alert = wait_until(
            lambda: next(iter(_kept(api).values()), None), 30, "van 2's temperature alert"
        )
        acknowledged = api.post(f"/api/v1/alerts/{alert['id']}/acknowledge", {"comment": "on it"})
        assert acknowledged.status_code == 200, acknowledged.text
        decided = api.post(
            f"/api/v1/alerts/{alert['id']}/decision",
            {"cause": "compressor", "corrective_action": "moved", "product_decision": "discard"},
        )
        assert decided.status_code == 200, decided.text
        wait_until(lambda: _unconfirmed(stack), 30, "ingest to hear every event is stored")

        report_env = _report_env(stack, safe, keys)
        made_key = _run(
            "coldchain-report", report_env, "key", "create",
            "--private-key", str(safe / "hub.key"), "--keys", str(keys / "hub.pub"),
            "--hub", "Restore drill hub",
        )  # fmt: skip
        assert made_key.returncode == 0, made_key.stdout + made_key.stderr
        certificate = _run(
            "coldchain-report", report_env, "certificate", "--sensor", "van-2.chilled",
            "--from", start.isoformat(), "--to", (start + timedelta(hours=2)).isoformat(),
            "--delivery", str(DELIVERY), "--out-dir", str(tmp_path / "documents"),
        )  # fmt: skip
        assert certificate.returncode == 0, certificate.stdout + certificate.stderr
        signed = next((tmp_path / "documents").glob("*.json"))

        before = _kept(api)
        last_warm = stack.influxdb.query(
            DATABASE, "SELECT last(temp_c) FROM temperature WHERE sensor = 'van-2.chilled'"
        )[0]["values"][0][1]
        backed_up = _run("coldchain-admin", _admin_env(stack, keys), "backup", str(tmp_path / "b"))
        assert backed_up.returncode == 0, backed_up.stdout + backed_up.stderr
    finally:
        stack.stop()
        mosquitto.stop()
        influxdb.stop()

    _destroy(
        tmp_path / "servers-before",
        hub / "alerts.sqlite3",
        hub / "ingest-state.sqlite3",
        keys / "hub.pub",
    )
    # The fresh servers answer where the old ones did; van 1 records while they are down.
    mosquitto, influxdb = (
        Mosquitto(tmp_path / "servers-after"),
        InfluxDB(tmp_path / "servers-after"),
    )
    after = ApiStack(hub, mosquitto, influxdb, DATABASE)
    van_1 = after.gateway("van-1", start + timedelta(hours=2), TICKS_DURING)
    van_1.start()
    try:
        mosquitto.start()
        influxdb.start()
        restored = _run("coldchain-admin", _admin_env(after, keys), "restore", str(tmp_path / "b"))
        assert restored.returncode == 0, restored.stdout + restored.stderr
        after.start_ingest()
        after.alerts().start()
        wait_until(after.alerts_healthy, 30, "the restored alerts service")
        assert van_1.wait(timeout=90) == 0, van_1.output()[-3000:]
        api = AlertsApi(f"http://127.0.0.1:{after.alerts_port}", api.headers["Authorization"][7:])

        expected = [int(start.timestamp()) * 10**9 + k * MINUTE_NS for k in range(TICKS_BEFORE)]
        for sensor in ("van-2.chilled", "van-2.frozen"):
            assert _times(after, sensor) == expected, sensor
        during = int((start + timedelta(hours=2)).timestamp()) * 10**9
        expected = [during + k * MINUTE_NS for k in range(TICKS_DURING)]
        for sensor in ("van-1.chilled", "van-1.frozen"):
            assert _times(after, sensor) == expected, f"{sensor}: van 1's outbox drained once"

        wait_until(lambda: _unconfirmed(after), 30, "ingest's restored outbox to be receipted")
        now = _kept(api)
        assert {k: now[k] for k in before} == before, "alerts and their history as before"
        van_2_alerts = [a for a in now.values() if a["sensor"].startswith("van-2.")]
        assert len(van_2_alerts) == len(before), "no alert of van 2 raised twice"

        verified = _run(
            "coldchain-alerts",
            {
                "COLDCHAIN_ALERTS_DATABASE_URL": after.alerts_database,
                "COLDCHAIN_ALERTS_INFLUX_URL": after.influxdb.url,
                "COLDCHAIN_ALERTS_INFLUX_DB": DATABASE,
            },
            "audit", "verify",
        )  # fmt: skip
        assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout
        report_env = _report_env(after, safe, keys)
        offline = _run(
            "coldchain-report", report_env, "verify", str(signed), "--key", str(keys / "hub.pub")
        )
        assert offline.returncode == 0 and "verified" in offline.stdout, offline.stdout
        sealed = _run("coldchain-report", report_env, "verify", "--certificate", str(signed))
        assert sealed.returncode == 0, sealed.stdout
        assert sealed.stdout.startswith(f"matches: {TICKS_BEFORE} readings"), sealed.stdout

        goes_on = start + timedelta(minutes=TICKS_BEFORE)
        _van_2_goes_on(mosquitto, goes_on, last_warm)
        last = goes_on + timedelta(minutes=TICKS_AFTER - 1)
        wait_until(
            lambda: any(
                a["value_at"] and datetime.fromisoformat(a["value_at"]) >= last
                for a in _kept(api).values()
                if a["sensor"] == "van-2.chilled"
            ),
            30,
            "an alert of van 2's chilled compartment to show its last reading",
        )
        excursion = [a for a in _kept(api).values() if a["sensor"] == "van-2.chilled"]
        assert [a["id"] for a in excursion] == [alert["id"]], f"one alert: {excursion}"
        # A rule engine without the restored state takes the readings for a new
        # excursion: the same alert, but raised a second time (another occurrence).
        then = before[alert["id"]]
        assert (excursion[0]["occurrences"], excursion[0]["raised_at"]) == (
            then["occurrences"],
            then["raised_at"],
        ), "van 2's excursion raised again after the restore"
    finally:
        after.stop()
        mosquitto.stop()
        influxdb.stop()
