"""The fleet registry through the real services: the alerts service keeps the versions,
ingest judges readings with the version of their time, without a restart.

Mosquitto, InfluxDB, the alerts service and ingest run as deployed (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml

from coldchain_alerts.auth import Role
from coldchain_devstack import REPO
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import AlertsApi, ApiStack, token_for
from tests.mqttclient import subscribe

ASSET = "cold-room-1"
SENSOR = "cold-room-1.air"
MAX_C = "assets/cold-room-1/limits/max_c"


def _fleet(stack: ApiStack, delay_s: float) -> dict[str, Any]:
    fleet: dict[str, Any] = yaml.safe_load(stack.fleet.read_text())
    for asset in fleet["sites"][0]["assets"]:
        asset["limits"] = {"delay_s": delay_s}
    return fleet


def _start(stack: ApiStack, ingest: bool = True) -> AlertsApi:
    stack.alerts().start()
    wait_until(stack.alerts_healthy, 30, "the alerts service to serve")
    if ingest:
        stack.start_ingest()
    return stack.alerts_api


def _limits_in_influxdb(stack: ApiStack) -> list[tuple[int, float]]:
    """(version, max_c) of each point of the asset's fleet_limits, in time order."""
    series = stack.influxdb.query(
        stack.database, f"SELECT version, max_c FROM fleet_limits WHERE asset = '{ASSET}'"
    )
    return [(row[1], row[2]) for one in series for row in one["values"]]


def _burst(stack: ApiStack, start: datetime, count: int, step_s: float, temp_c: float) -> None:
    """One message of readings at `temp_c`, every `step_s` from `start`: a gateway's buffer
    after a dead zone."""
    readings = [
        {
            "sensor": SENSOR,
            "ts": (start + timedelta(seconds=n * step_s)).isoformat(),
            "temp_c": temp_c,
        }
        for n in range(count)
    ]
    payload = {"v": 1, "gateway": ASSET, "seq": 1, "sent_at": readings[-1]["ts"]}
    payload["readings"] = readings
    topic = f"coldchain/v1/{SITE}/{ASSET}/telemetry"
    argv = ["mosquitto_pub", "-p", str(stack.mosquitto.port), "-q", "1", "-t", topic]
    subprocess.run([*argv, "-m", json.dumps(payload)], check=True, timeout=10)


def _next(alerts: queue.Queue[mqtt.MQTTMessage], **match: str) -> dict[str, Any]:
    while True:
        event: dict[str, Any] = json.loads(alerts.get(timeout=30).payload)
        if all(event.get(k) == v for k, v in match.items()):
            return event


def test_a_limit_changed_through_the_api_judges_the_next_readings_and_not_the_older_ones(
    stack: ApiStack,
) -> None:
    """max_c 6 (the category's) until the change, 4 from then on. A burst at 5 °C that
    spans the change, arriving after it, alarms from the change on, not before; ingest
    was not restarted, and the change is in the audit chain with its reason."""
    api = _start(stack)
    alerts = subscribe(stack.mosquitto.port, "coldchain/v1/_alerts/#")
    seeded = api.put("/api/v1/fleet", {"fleet": _fleet(stack, 60), "reason": "registry seeded"})
    assert seeded.status_code == 201, seeded.text
    wait_until(lambda: len(_limits_in_influxdb(stack)) == 1, 30, "ingest to take version 1")

    changed = api.post(
        "/api/v1/fleet/changes",
        {"path": MAX_C, "value": 4.0, "reason": "poultry moves into cold room 1"},
    )
    assert changed.status_code == 201, changed.text
    version = changed.json()["version"]
    valid_from = datetime.fromisoformat(
        api.get(f"/api/v1/fleet/versions/{version}").json()["valid_from"]
    )
    wait_until(lambda: len(_limits_in_influxdb(stack)) == 2, 30, "ingest to take version 2")
    assert _limits_in_influxdb(stack) == [(1, 6.0), (version, 4.0)]

    # Every 10 s from 5 minutes before the change to 90 s after it, all at 5 °C.
    start = valid_from - timedelta(seconds=300)
    _burst(stack, start, 40, 10.0, 5.0)
    raised = _next(alerts, rule="over_max", state="raised", sensor=SENSOR)
    first_after = start + timedelta(seconds=10 * 30)
    assert datetime.fromisoformat(raised["started_at"]) == first_after
    assert raised["limit_c"] == 4.0

    entries = api.get("/api/v1/audit").json()
    made = [e for e in entries if e["action"] == "fleet.changed"]
    detail = json.loads(made[-1]["detail"])
    assert detail["reason"] == "poultry moves into cold room 1"
    assert detail["changes"] == [{"path": MAX_C, "old": None, "new": 4.0}]
    assert api.get("/api/v1/audit/verify").json()["ok"]


def test_loosening_a_critical_limit_waits_for_a_second_person(stack: ApiStack) -> None:
    api = _start(stack, ingest=False)
    assert (
        api.put("/api/v1/fleet", {"fleet": _fleet(stack, 60), "reason": "seed"}).status_code == 201
    )
    tightened = api.post("/api/v1/fleet/changes", {"path": MAX_C, "value": 4.0, "reason": "a"})
    assert tightened.status_code == 201

    loosened = api.post("/api/v1/fleet/changes", {"path": MAX_C, "value": 5.5, "reason": "dairy"})
    assert loosened.status_code == 202, loosened.text
    request = loosened.json()
    assert request["status"] == "pending" and request["version"] is None
    assert "cold-room-1: max_c 4 → 5.5" in request["loosens"]
    newest = api.get("/api/v1/fleet").json()
    assert newest["fleet"]["sites"][0]["assets"][0]["limits"]["max_c"] == 4.0

    own = api.post(f"/api/v1/fleet/requests/{request['id']}/approve", {})
    assert own.status_code == 409
    assert "second person" in own.json()["detail"]
    auditor = AlertsApi(api.url, token_for(stack.alerts_database, "ines", Role.AUDITOR))
    assert auditor.post(f"/api/v1/fleet/requests/{request['id']}/approve", {}).status_code == 403

    officer = AlertsApi(api.url, token_for(stack.alerts_database, "olga", Role.OFFICER))
    approved = officer.post(f"/api/v1/fleet/requests/{request['id']}/approve", {})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "applied"
    newest = api.get("/api/v1/fleet").json()
    assert newest["approved_by"] == "olga" and newest["created_by"] == "tests"
    assert newest["fleet"]["sites"][0]["assets"][0]["limits"]["max_c"] == 5.5
    again = officer.post(f"/api/v1/fleet/requests/{request['id']}/approve", {})
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"path": MAX_C, "value": 4.0}, 422, "needs a reason"),
        ({"path": MAX_C, "value": 7.0, "reason": "r"}, 422, "above the legal maximum"),
        ({"path": "assets/nowhere/limits/max_c", "value": 4.0, "reason": "r"}, 422, "no asset"),
        (
            {"path": "assets/cold-room-1/limits/colour", "value": 1, "reason": "r"},
            422,
            "not a limit",
        ),
        ({"path": MAX_C, "value": "cold", "reason": "r"}, 422, "max_c"),
        (
            {"path": "assets/cold-room-1/category", "value": "ice", "reason": "r"},
            422,
            "unknown category",
        ),
        ({"path": MAX_C, "value": 4.0, "reason": "x" * 2001}, 422, "at most 2000"),
    ],
)
def test_bad_changes_are_refused_with_the_reason(
    stack: ApiStack, body: dict[str, Any], status: int, says: str
) -> None:
    api = _start(stack, ingest=False)
    assert (
        api.put("/api/v1/fleet", {"fleet": _fleet(stack, 60), "reason": "seed"}).status_code == 201
    )
    refused = api.post("/api/v1/fleet/changes", body)
    assert refused.status_code == status, refused.text
    assert says in json.dumps(refused.json()["detail"])
    assert len(api.get("/api/v1/fleet/versions").json()) == 1


def test_export_reproduces_the_imported_file(database_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    env["COLDCHAIN_ALERTS_DATABASE_URL"] = database_url
    cli = str(Path(sys.executable).parent / "coldchain-alerts")
    demo = REPO / "fleet" / "dortmund-hub.yaml"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    without = run("fleet", "import", str(demo))
    assert without.returncode == 2 and "needs a reason" in without.stdout
    imported = run("fleet", "import", str(demo), "--reason", "seeded from the demo file")
    assert imported.returncode == 0, imported.stdout + imported.stderr
    exported = run("fleet", "export")
    assert exported.returncode == 0, exported.stderr
    assert yaml.safe_load(exported.stdout) == yaml.safe_load(demo.read_text())
    history = run("fleet", "history")
    assert "seeded from the demo file" in history.stdout
    assert 'assets/cold-room-2/category: null → "poultry"' in history.stdout
