"""The alerts service's API: events from a real broker, roles, acknowledging and closing.

The app runs in this process (FastAPI's TestClient, the lifespan included) with
its consumer on a real Mosquitto; the database is SQLite or PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine
from coldchain_alerts.main import create_app
from coldchain_alerts.settings import AlertsSettings
from coldchain_devstack.servers import Mosquitto, wait_until
from tests.alertsapi import token_for

STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _event(state: AlertState, at: datetime, peak: float) -> AlertEvent:
    return AlertEvent(
        key=f"temperature_above/van-2.chilled/{STARTED.isoformat()}",
        state=state,
        rule="over_max",
        severity=Severity.CRITICAL,
        site="dortmund-hub",
        asset="van-2-chilled",
        sensor="van-2.chilled",
        started_at=STARTED,
        at=at,
        value_c=peak,
        peak_c=peak,
        limit_c=6.0,
        regulatory_limit_c=7.0,
        delay_s=900,
        duration_s=(at - STARTED).total_seconds() if state is AlertState.CLEARED else None,
        degree_minutes=30.0 if state is AlertState.CLEARED else None,
    )


class Client:
    """The TestClient with one user's token."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body, headers=self.headers)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.put(path, json=body, headers=self.headers)


@pytest.fixture
def app(database_url: str, mosquitto: Mosquitto) -> Iterator[TestClient]:
    settings = AlertsSettings(database_url=database_url, mqtt_port=mosquitto.port, influx_url="")
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def officer(app: TestClient, database_url: str) -> Client:
    return Client(app, token_for(database_url, "anna", Role.OFFICER))


@pytest.fixture
def auditor(app: TestClient, database_url: str) -> Client:
    return Client(app, token_for(database_url, "ulrike", Role.AUDITOR))


@pytest.fixture
def admin(app: TestClient, database_url: str) -> Client:
    return Client(app, token_for(database_url, "root", Role.ADMIN))


def _publish(mosquitto: Mosquitto, *events: AlertEvent) -> None:
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    try:
        for event in events:
            info = publisher.publish(topics.alerts(event.site), event.model_dump_json(), qos=1)
            info.wait_for_publish(timeout=10)
    finally:
        publisher.disconnect()
        publisher.loop_stop()


def test_every_endpoint_but_health_and_metrics_needs_a_token(app: TestClient) -> None:
    assert app.get("/healthz").status_code in (200, 503)
    assert app.get("/metrics").status_code == 200
    for path in ("/api/v1/alerts", "/api/v1/alerts/1", "/api/v1/contacts", "/api/v1/audit"):
        response = app.get(path)
        assert response.status_code == 401, path
        assert "token" in response.json()["detail"]
    wrong = app.get("/api/v1/alerts", headers={"Authorization": "Bearer cct_nope"})
    assert wrong.status_code == 401
    assert app.post("/api/v1/alerts/1/acknowledge", json={"comment": "x"}).status_code == 401


def test_an_alert_from_mqtt_is_acknowledged_and_closed_with_its_timeline(
    officer: Client, auditor: Client, mosquitto: Mosquitto
) -> None:
    wait_until(lambda: officer.get("/healthz").status_code == 200, 10, "healthz 200")
    _publish(mosquitto, _event(AlertState.RAISED, STARTED + timedelta(minutes=15), 8.5))
    (alert,) = wait_until(lambda: officer.get("/api/v1/alerts").json(), 10, "the alert")
    assert alert | {"id": 0} == alert | {
        "id": 0,
        "site": "dortmund-hub",
        "asset": "van-2-chilled",
        "sensor": "van-2.chilled",
        "rule": "over_max",
        "severity": "critical",
        "status": "open",
        "active": True,
        "opened_at": "2026-11-24T10:00:00Z",
        "raised_at": "2026-11-24T10:15:00Z",
        "peak_c": 8.5,
        "limit_c": 6.0,
        "regulatory_limit_c": 7.0,
    }
    path = f"/api/v1/alerts/{alert['id']}"

    refused = auditor.post(f"{path}/acknowledge", {"comment": "seen"})
    assert refused.status_code == 403
    assert "auditor" in refused.json()["detail"]
    empty = officer.post(f"{path}/acknowledge", {"comment": ""})
    assert empty.status_code == 422
    acknowledged = officer.post(f"{path}/acknowledge", {"comment": "driver turns back"})
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["acknowledged_by"] == "anna"
    again = officer.post(f"{path}/acknowledge", {"comment": "again"})
    assert again.status_code == 409
    assert again.json()["code"] == "not_open"

    closing = {
        "cause": "compressor failed",
        "corrective_action": "goods moved to cold room 1",
        "product_decision": "quarantine",
    }
    active = officer.post(f"{path}/close", closing)
    assert (active.status_code, active.json()["code"]) == (409, "still_active")
    _publish(mosquitto, _event(AlertState.CLEARED, STARTED + timedelta(minutes=50), 11.0))
    wait_until(lambda: not officer.get(path).json()["active"], 10, "the clear")
    incomplete = officer.post(f"{path}/close", {"cause": "?"})
    assert (incomplete.status_code, incomplete.json()["code"]) == (409, "closing_incomplete")
    assert officer.post(f"{path}/close", closing | {"product_decision": "eat"}).status_code == 422
    closed = officer.post(f"{path}/close", closing)
    assert closed.status_code == 200, closed.text

    detail = auditor.get(path).json()
    assert (detail["status"], detail["product_decision"], detail["closed_by"]) == (
        "closed",
        "quarantine",
        "anna",
    )
    assert [step["action"] for step in detail["timeline"]] == [
        "opened",
        "acknowledged",
        "cleared",
        "closed",
    ]
    assert detail["timeline"][1]["detail"] == {"comment": "driver turns back"}
    assert auditor.get("/api/v1/alerts", status="closed").json()[0]["id"] == alert["id"]
    assert auditor.get("/api/v1/alerts", status="open").json() == []
    assert officer.get("/api/v1/alerts/999999").status_code == 404


def test_filters(officer: Client, mosquitto: Mosquitto) -> None:
    _publish(mosquitto, _event(AlertState.RAISED, STARTED + timedelta(minutes=15), 8.5))
    wait_until(lambda: officer.get("/api/v1/alerts").json(), 10, "the alert")
    assert len(officer.get("/api/v1/alerts", site="dortmund-hub").json()) == 1
    assert officer.get("/api/v1/alerts", site="elsewhere").json() == []
    assert len(officer.get("/api/v1/alerts", asset="van-2-chilled", active="true").json()) == 1
    assert officer.get("/api/v1/alerts", since="2026-11-24T10:00:01Z").json() == []
    assert len(officer.get("/api/v1/alerts", until="2026-11-24T10:00:01Z").json()) == 1
    naive = officer.get("/api/v1/alerts", since="2026-11-24T10:00:00")
    assert naive.status_code == 422


def test_contacts_policies_and_users_are_for_admins(
    admin: Client, officer: Client, auditor: Client
) -> None:
    anna = {"name": "Anna Schmidt", "language": "de", "email": "anna@example.org"}
    assert officer.post("/api/v1/contacts", anna).status_code == 403
    created = admin.post("/api/v1/contacts", anna)
    assert created.status_code == 201, created.text
    contact = created.json()
    assert admin.post("/api/v1/contacts", anna).status_code == 409
    assert admin.post("/api/v1/contacts", anna | {"phone": "0171"}).status_code == 422
    assert auditor.get("/api/v1/contacts").json() == [contact]

    policy = {"ack_timeout_s": 900, "reminder_interval_s": 600, "levels": [[contact["id"]]]}
    assert admin.put("/api/v1/policies/dortmund-hub", policy).json() == policy | {
        "site": "dortmund-hub"
    }
    missing = admin.put("/api/v1/policies/dortmund-hub", policy | {"levels": [[424242]]})
    assert missing.status_code == 404
    assert admin.put("/api/v1/policies/Bad Site", policy).status_code == 422

    assert (
        admin.post(
            "/api/v1/users", {"username": "x", "role": "officer", "password": "short"}
        ).status_code
        == 422
    )
    made = admin.post(
        "/api/v1/users",
        {"username": "bernd", "role": "officer", "password": "a long enough password"},
    )
    assert made.status_code == 201, made.text
    token = admin.post("/api/v1/users/bernd/tokens", {"name": "phone"}).json()
    assert token["token"].startswith("cct_")
    bernd = Client(admin.client, token["token"])
    assert bernd.get("/api/v1/me").json()["username"] == "bernd"
    assert (
        admin.client.delete(f"/api/v1/tokens/{token['id']}", headers=admin.headers).status_code
        == 204
    )
    assert bernd.get("/api/v1/me").status_code == 401

    actions = [entry["action"] for entry in auditor.get("/api/v1/audit").json()]
    for expected in ("contact.created", "policy.changed", "user.created", "token.revoked"):
        assert expected in actions


def test_the_audit_log_exports_and_verifies(admin: Client, auditor: Client) -> None:
    admin.post("/api/v1/contacts", {"name": "Bernd", "email": "bernd@example.org"})
    export = auditor.get("/api/v1/audit/export.csv")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [row["action"] for row in rows][-1] == "contact.created"
    assert all(len(row["sha256"]) == 64 for row in rows)
    verdict = auditor.get("/api/v1/audit/verify").json()
    assert verdict == {
        "ok": True,
        "entries": len(rows),
        "first_bad_seq": None,
        "problem": "",
        "compared_with_influxdb": False,
    }


def test_events_that_cannot_be_stored_are_kept_aside_and_do_not_block_the_rest(
    officer: Client, mosquitto: Mosquitto, database_url: str
) -> None:
    """A malformed event, and one the database refuses for good, are kept with the reason."""
    poison = _event(AlertState.RAISED, STARTED + timedelta(minutes=15), 8.5).model_copy(
        update={"key": "temperature_above/van-2.chilled/poison"}
    )
    engine = make_engine(database_url)
    with engine.begin() as connection:
        # The database refuses this one event, as it would a value it cannot store.
        if engine.dialect.name == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER poison BEFORE INSERT ON alert_occurrence "
                    "WHEN NEW.key LIKE '%/poison' BEGIN SELECT RAISE(ABORT, 'poison'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "ALTER TABLE alert_occurrence ADD CONSTRAINT poison "
                    "CHECK (key NOT LIKE '%/poison')"
                )
            )
    engine.dispose()
    good = _event(AlertState.RAISED, STARTED + timedelta(minutes=15), 8.5)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    try:
        for payload in (b"{not json", poison.model_dump_json().encode()):
            publisher.publish(topics.alerts("dortmund-hub"), payload, qos=1).wait_for_publish(10)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    _publish(mosquitto, good)

    (stored,) = wait_until(lambda: officer.get("/api/v1/alerts").json(), 15, "the good event")
    assert stored["peak_c"] == 8.5
    # The good event may be stored before the refused ones are kept aside: it is not
    # held up by them.
    wait_until(
        lambda: "coldchain_alerts_events_refused_total 2.0" in officer.get("/metrics").text,
        15,
        "both refusals counted",
    )
    refused = [e for e in officer.get("/api/v1/audit").json() if e["action"] == "event.refused"]
    assert len(refused) == 2
    assert "not a valid alert event" in json.loads(refused[0]["detail"])["reason"]
    assert (
        "database refused event temperature_above/van-2.chilled/poison"
        in json.loads(refused[1]["detail"])["reason"]
    )
    engine = make_engine(database_url)
    with engine.connect() as connection:
        kept = connection.execute(text("SELECT payload FROM refused_event ORDER BY id")).all()
    engine.dispose()
    assert [row[0] for row in kept] == ["{not json", poison.model_dump_json()]
