"""Registering and retiring a gateway through the alerts service, against a real Mosquitto
with the dynamic-security plugin loaded (the production broker's security), a real
InfluxDB, and our services run by their console commands.

The broker's file holds the services' and the admin's accounts only: the gateway
cold-room-1 of the test fleet gets its account through the API while everything runs.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coldchain import topics
from coldchain.contract import ExportedMessage, Telemetry
from coldchain_alerts.auth import Role
from coldchain_devstack import BIN, broker_users
from coldchain_devstack.servers import (
    CertificateAuthority,
    InfluxDB,
    SecuredMosquitto,
    certificate_authority,
    free_port,
    wait_until,
)
from coldchain_devstack.stack import SITE
from coldchain_io import dynsec
from tests.alertsapi import AlertsApi, ApiStack, token_for
from tests.integration.test_broker_security import Client, allowed, denied

GATEWAY = "cold-room-1"
USERNAME = f"{SITE}/{GATEWAY}"
PASSWORDS = {name: broker_users.new_password() for name in ("ingest", "alerts", dynsec.ADMIN)}


@pytest.fixture
def authority(tmp_path: Path) -> CertificateAuthority:
    return certificate_authority(tmp_path / "ca")


@pytest.fixture
def broker(tmp_path: Path, authority: CertificateAuthority) -> Iterator[SecuredMosquitto]:
    dynsec_file = tmp_path / "dynamic-security.json"
    for username, password in PASSWORDS.items():
        broker_users.set_password(dynsec_file, username, password)
    server = SecuredMosquitto(tmp_path, dynsec_file, authority)
    server.start()
    yield server
    server.stop()


def _tls(prefix: str, broker: SecuredMosquitto, username: str) -> dict[str, str]:
    return {
        f"{prefix}MQTT_HOST": "127.0.0.1",
        f"{prefix}MQTT_PORT": str(broker.tls_port),
        f"{prefix}MQTT_TLS": "true",
        f"{prefix}MQTT_CA_FILE": str(broker.authority.certificate),
        f"{prefix}MQTT_USERNAME": username,
        f"{prefix}MQTT_PASSWORD": PASSWORDS[username],
    }


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, broker: SecuredMosquitto, influxdb: InfluxDB
) -> Iterator[ApiStack]:
    services = ApiStack(tmp_path, broker, influxdb, f"test_{uuid.uuid4().hex[:12]}")
    services.start_ingest(**_tls("COLDCHAIN_INGEST_", broker, "ingest"))
    alerts = services.alerts(
        **_tls("COLDCHAIN_ALERTS_", broker, "alerts"),
        COLDCHAIN_ALERTS_DYNSEC_PASSWORD=PASSWORDS[dynsec.ADMIN],
        COLDCHAIN_ALERTS_GATEWAY_MQTT_HOST="127.0.0.1",
        COLDCHAIN_ALERTS_GATEWAY_MQTT_PORT=str(broker.tls_port),
        COLDCHAIN_ALERTS_GATEWAY_CA_FILE=str(broker.authority.certificate),
    )
    alerts.start()
    wait_until(services.alerts_healthy, 30, "the alerts service")
    yield services
    services.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for process in services.processes:
            print(f"----- {process.name} ({process.log}) -----\n{process.output()[-6000:]}")


def _register(api: AlertsApi, gateway: str = GATEWAY) -> dict[str, Any]:
    response = api.post("/api/v1/gateways", {"site": SITE, "gateway": gateway})
    assert response.status_code == 201, response.text
    bundle: dict[str, Any] = response.json()
    return bundle


def _enroll(
    bundle: dict[str, Any], directory: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    path = directory / "bundle.json"
    path.write_text(json.dumps(bundle))
    return subprocess.run(
        [
            str(BIN / "coldchain-gateway"),
            "enroll",
            str(path),
            "--env-file",
            str(directory / "gateway.env"),
            "--ca-dir",
            str(directory),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def _env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_a_gateway_enrolled_through_the_api_publishes_and_its_readings_are_stored(
    stack: ApiStack, tmp_path: Path
) -> None:
    bundle = _register(stack.alerts_api)
    enrolled = _enroll(bundle, tmp_path)
    assert enrolled.returncode == 0, enrolled.stderr
    env_file = tmp_path / "gateway.env"
    # The password for the owner only; the CA for the gateway's service user too.
    for written, mode in ((env_file, 0o600), (tmp_path / "coldchain-ca.crt", 0o644)):
        assert stat.S_IMODE(written.stat().st_mode) == mode, written
        assert str(written) in enrolled.stdout

    ticks = 4
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    gateway = stack.gateway(GATEWAY, start, ticks, **_env(env_file))
    gateway.start()
    assert gateway.wait(timeout=60) == 0, "drained: ingest confirmed every reading"
    stored = stack.influxdb.count(
        stack.database, "SELECT count(temp_c) FROM temperature WHERE sensor = 'cold-room-1.air'"
    )
    assert stored == ticks

    again = _enroll(bundle, tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    assert _enroll(bundle, tmp_path, "--force").returncode == 0


def test_the_bundle_is_handed_out_once(stack: ApiStack) -> None:
    bundle = _register(stack.alerts_api)
    again = stack.alerts_api.post("/api/v1/gateways", {"site": SITE, "gateway": GATEWAY})
    assert again.status_code == 409
    assert "once" in again.json()["detail"]
    listed = stack.alerts_api.get("/api/v1/gateways").json()
    assert [(g["site"], g["gateway"], g["retired_at"]) for g in listed] == [(SITE, GATEWAY, None)]
    assert bundle["settings"]["COLDCHAIN_GATEWAY_MQTT_PASSWORD"] not in json.dumps(listed)


def test_bad_requests_are_refused_with_a_reason(stack: ApiStack) -> None:
    api = stack.alerts_api
    for body in (
        {"site": SITE, "gateway": "+"},
        {"site": "#", "gateway": GATEWAY},
        {"site": SITE, "gateway": "van-1/telemetry"},
        {"site": "_alerts", "gateway": "x"},
        {"site": SITE},
        {"site": SITE, "gateway": GATEWAY, "password": "mine"},
    ):
        response = api.post("/api/v1/gateways", body)
        assert response.status_code == 422, body
        assert response.json()["detail"], body
    officer = AlertsApi(api.url, token_for(stack.alerts_database, "officer", Role.OFFICER))
    refused = officer.post("/api/v1/gateways", {"site": SITE, "gateway": GATEWAY})
    assert refused.status_code == 403 and "gateways" in refused.json()["detail"]
    missing = api.post(f"/api/v1/gateways/{SITE}/van-9/retire", {"reason": "gone"})
    assert missing.status_code == 404 and missing.json()["detail"]
    no_reason = api.post(f"/api/v1/gateways/{SITE}/{GATEWAY}/retire", {"reason": ""})
    assert no_reason.status_code == 422


def test_a_registered_gateway_has_its_own_topics_only_and_no_admin_rights(
    stack: ApiStack, broker: SecuredMosquitto
) -> None:
    password = _register(stack.alerts_api)["settings"]["COLDCHAIN_GATEWAY_MQTT_PASSWORD"]
    own = {"password": password}
    forged = [
        topics.telemetry(SITE, "van-1"),
        topics.status(SITE, "van-1"),
        topics.alerts(SITE),
        dynsec.CONTROL,
    ]
    for topic in forged:
        client = Client(broker.port, USERNAME, **own)
        assert allowed(client.connect())
        assert denied(client.publish(topic, b"{}")), topic
        client.close()
    client = Client(broker.port, USERNAME, **own)
    assert allowed(client.connect())
    assert allowed(client.publish(topics.status(SITE, GATEWAY), b"online"))
    assert client.subscribe(dynsec.RESPONSE).is_failure
    client.close()

    admin = Client(broker.port, dynsec.ADMIN, password=PASSWORDS[dynsec.ADMIN])
    assert allowed(admin.connect())
    assert denied(admin.publish(topics.telemetry(SITE, GATEWAY), b"{}"))
    admin.close()


def test_a_retired_gateway_is_cut_off_at_once(stack: ApiStack, broker: SecuredMosquitto) -> None:
    password = _register(stack.alerts_api)["settings"]["COLDCHAIN_GATEWAY_MQTT_PASSWORD"]
    live = Client(broker.port, USERNAME, password=password)
    assert allowed(live.connect())

    retired = stack.alerts_api.post(
        f"/api/v1/gateways/{SITE}/{GATEWAY}/retire", {"reason": "van sold"}
    )
    assert retired.status_code == 200, retired.text
    assert retired.json()["reason"] == "van sold" and retired.json()["retired_by"] == "tests"

    kicked = live._outcome.get(timeout=10)
    assert str(kicked) == "Administrative action", kicked
    live.paho.loop_stop()
    refused = Client(broker.port, USERNAME, password=password).connect()
    assert str(refused) == "Not authorized", refused
    again = stack.alerts_api.post(f"/api/v1/gateways/{SITE}/{GATEWAY}/retire", {"reason": "x"})
    assert again.status_code == 409
    audit = stack.alerts_api.get("/api/v1/audit")
    assert audit.status_code == 200, audit.text
    subject = f"gateway:{SITE}/{GATEWAY}"
    actions = [entry["action"] for entry in audit.json() if entry["subject"] == subject]
    assert actions == ["gateway.registered", "gateway.retired"], actions


def _pending_readings(outbox: Path) -> int:
    """Readings the gateway has sampled and not yet packed into messages (link down)."""
    with closing(sqlite3.connect(f"file:{outbox}?mode=ro", uri=True)) as db:
        count: int = db.execute("SELECT count(*) FROM pending WHERE kind = 'reading'").fetchone()[0]
        return count


def _run(command: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / command), *args], env=env, capture_output=True, text=True, timeout=180
    )


def _taken(exported: Path, retired_at: datetime) -> tuple[int, int]:
    """Readings of cold-room-1.air the file holds up to `retired_at`, and readings and
    events taken after it."""
    before = after = 0
    for line in exported.read_text().splitlines():
        message = Telemetry.model_validate_json(ExportedMessage.model_validate_json(line).payload)
        stamps = [r.ts for r in message.readings] + [e.ts for e in message.events]
        after += sum(ts > retired_at for ts in stamps)
        before += sum(r.ts <= retired_at for r in message.readings if r.sensor == AIR)
    return before, after


AIR = f"{GATEWAY}.air"


def test_a_retired_gateways_buffered_readings_are_stored_up_to_its_retirement(
    stack: ApiStack, tmp_path: Path
) -> None:
    """Enroll, publish, lose the broker link (readings buffer in the outbox), retire,
    export the outbox on the gateway, import it into ingest: every reading taken up to the
    retirement is in InfluxDB once, the later ones are refused and counted; twice
    imported, nothing is stored twice."""
    enrolled = _enroll(_register(stack.alerts_api), tmp_path)
    assert enrolled.returncode == 0, enrolled.stderr
    env = _env(tmp_path / "gateway.env")
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    published = stack.gateway(GATEWAY, start, 4, **env)
    published.start()
    assert published.wait(timeout=60) == 0, "drained: ingest confirmed every reading"

    cut_off = env | {"COLDCHAIN_GATEWAY_MQTT_PORT": str(free_port())}
    buffering = stack.gateway(
        GATEWAY,
        start,
        100_000,
        COLDCHAIN_GATEWAY_CLOCK="live",
        COLDCHAIN_GATEWAY_INTERVAL_S="1",
        **cut_off,
    )
    outbox = Path(buffering.env["COLDCHAIN_GATEWAY_OUTBOX"])
    buffering.start()
    wait_until(lambda: outbox.exists() and _pending_readings(outbox) >= 3, 30, "readings to buffer")
    retired = stack.alerts_api.post(f"/api/v1/gateways/{SITE}/{GATEWAY}/retire", {"reason": "sold"})
    assert retired.status_code == 200, retired.text
    retired_at = datetime.fromisoformat(retired.json()["retired_at"])
    at_retirement = _pending_readings(outbox)
    wait_until(lambda: _pending_readings(outbox) >= at_retirement + 3, 30, "readings after it")
    buffering.stop()

    exported = tmp_path / "cold-room-1.outbox.jsonl"
    export = _run("coldchain-gateway", "outbox", "export", str(exported), env=buffering.env)
    assert export.returncode == 0, export.stderr
    before, after = _taken(exported, retired_at)
    assert before >= 3 and after >= 3, (before, after)

    ingest = next(p for p in stack.processes if p.name == "ingest")
    line = f"gateway {SITE}/{GATEWAY} retired at"
    wait_until(lambda: line in ingest.output(), 30, "ingest to take the retirement")
    imported = _run("coldchain-ingest", "import-outbox", str(exported), env=ingest.env)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert f"refused: {after} readings and events taken after the retirement" in imported.stdout

    def stored(where: str = "") -> int:
        query = f"SELECT count(temp_c) FROM temperature WHERE sensor = '{AIR}'{where}"
        return stack.influxdb.count(stack.database, query)

    assert stored() == 4 + before, imported.stdout
    assert stored(f" AND time > '{retired_at.isoformat()}'") == 0
    metrics = stack.metrics()
    assert metrics is not None
    assert metrics["coldchain_ingest_readings_after_retirement_total"] == after

    again = _run("coldchain-ingest", "import-outbox", str(exported), env=ingest.env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "stored: 0 readings" in again.stdout and "stored before" in again.stdout
    assert stored() == 4 + before
