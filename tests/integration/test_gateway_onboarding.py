"""Registering and retiring a gateway through the alerts service, against a real Mosquitto
with the dynamic-security plugin loaded (the production broker's security), a real
InfluxDB, and our services run by their console commands.

The broker's file holds the services' and the admin's accounts only: the gateway
cold-room-1 of the test fleet gets its account through the API while everything runs.
"""

from __future__ import annotations

import json
import stat
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coldchain import topics
from coldchain_alerts.auth import Role
from coldchain_devstack import BIN, broker_users
from coldchain_devstack.servers import (
    CertificateAuthority,
    InfluxDB,
    SecuredMosquitto,
    certificate_authority,
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
