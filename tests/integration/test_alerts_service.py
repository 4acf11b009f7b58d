"""The alerts service: events from a real broker into its database and out of its API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts.db import make_engine, make_sessionmaker
from coldchain_alerts.main import create_app
from coldchain_alerts.models import Alert, Base
from coldchain_alerts.settings import AlertsSettings
from coldchain_alerts.store import apply_event
from servers import Mosquitto, wait_until

STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _event(state: AlertState, at: datetime, peak: float) -> AlertEvent:
    return AlertEvent(
        key=f"over_max/van-2.chilled/{STARTED.isoformat()}",
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
        delay_s=900,
    )


def test_applying_events_is_idempotent_and_keeps_reading_times(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/alerts.sqlite3")
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    raised = _event(AlertState.RAISED, STARTED + timedelta(minutes=15), 8.5)
    cleared = _event(AlertState.CLEARED, STARTED + timedelta(minutes=40), 11.0)
    for event in (raised, raised, cleared, raised, cleared):
        with sessions.begin() as session:
            apply_event(session, event)
    with sessions() as session:
        (alert,) = session.scalars(select(Alert)).all()
    assert alert.status == "cleared"
    assert alert.opened_at == STARTED
    assert alert.raised_at == STARTED + timedelta(minutes=15)
    assert alert.cleared_at == STARTED + timedelta(minutes=40)
    assert alert.peak_c == 11.0


@pytest.fixture
def client(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[TestClient]:
    settings = AlertsSettings(
        database_url=f"sqlite:///{tmp_path}/alerts.sqlite3", mqtt_port=mosquitto.port
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_events_published_on_mqtt_are_served(client: TestClient, mosquitto: Mosquitto) -> None:
    wait_until(lambda: client.get("/healthz").status_code == 200, 10, "healthz 200")
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    event = _event(AlertState.RAISED, STARTED + timedelta(minutes=15), 8.5)
    info = publisher.publish(topics.alerts(event.site), event.model_dump_json(), qos=1)
    info.wait_for_publish(timeout=10)
    publisher.loop_stop()

    alerts = wait_until(lambda: client.get("/api/v1/alerts").json(), 10, "the alert")
    assert alerts == [
        {
            "id": 1,
            "site": "dortmund-hub",
            "asset": "van-2-chilled",
            "sensor": "van-2.chilled",
            "kind": "over_max",
            "severity": "critical",
            "status": "open",
            "opened_at": "2026-11-24T10:00:00Z",
            "cleared_at": None,
            "gateway": None,
            "peak_c": 8.5,
            "limit_c": 6.0,
            "regulatory_limit_c": None,
            "duration_s": None,
            "degree_minutes": None,
        }
    ]
    assert client.get("/api/v1/alerts", params={"status": "cleared"}).json() == []
    assert client.get("/healthz").json() == {"database": True, "broker": True}
