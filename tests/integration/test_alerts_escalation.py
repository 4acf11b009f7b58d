"""Escalation in the running service: who is told, when, once, and after a restart.

The alerts service runs as its own process (`coldchain-alerts run`) against a
real Mosquitto; alert events are published as ingest publishes them. Level 1
is told by e-mail (a real SMTP server on loopback), level 2 by webhook (a
recording HTTP server). Policies here are seconds long; production's are minutes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts import people, policies
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_devstack.servers import InfluxDB, Mosquitto, Process, free_port, service, wait_until
from tests.alertsapi import AlertsApi, token_for
from tests.fakes import RecordingHttpServer, SmtpSink

SITE = "dortmund-hub"
ACK_TIMEOUT_S = 6
#: Long enough for the 20 events of a flood to be stored, also on a busy CI machine.
WINDOW_S = 3.0


class Scene:
    """The alerts service with its contacts, policy, mail sink and webhook recorder."""

    def __init__(
        self,
        directory: Path,
        mosquitto: Mosquitto,
        smtp: SmtpSink,
        webhook: RecordingHttpServer,
        influx_url: str = "",
        influx_db: str = "coldchain",
    ) -> None:
        self.directory = directory
        self.mosquitto = mosquitto
        self.smtp = smtp
        self.webhook = webhook
        self.database = f"sqlite:///{directory}/alerts.sqlite3"
        self.port = free_port()
        self.influx_url = influx_url
        self.influx_db = influx_db
        self.process: Process | None = None
        migrate(self.database)
        self.api = AlertsApi(f"http://127.0.0.1:{self.port}", token_for(self.database))

    def policy(self, levels: list[list[dict[str, str]]], reminder_s: int | None = None) -> None:
        engine = make_engine(self.database)
        with make_sessionmaker(engine).begin() as session:
            ids = []
            for level in levels:
                ids.append(
                    [
                        people.save_contact(session, "tests", contact | {"active": True}).id
                        for contact in level
                    ]
                )
            policies.set_policy(session, "tests", SITE, ACK_TIMEOUT_S, reminder_s, ids)
        engine.dispose()

    def start(self) -> Process:
        self.process = service(
            "alerts",
            "coldchain-alerts",
            self.directory,
            {
                "COLDCHAIN_ALERTS_PORT": str(self.port),
                "COLDCHAIN_ALERTS_DATABASE_URL": self.database,
                "COLDCHAIN_ALERTS_MQTT_PORT": str(self.mosquitto.port),
                "COLDCHAIN_ALERTS_INFLUX_URL": self.influx_url,
                "COLDCHAIN_ALERTS_INFLUX_DB": self.influx_db,
                "COLDCHAIN_ALERTS_PUBLIC_URL": "https://alerts.example.org",
                "COLDCHAIN_ALERTS_ESCALATION_WINDOW_S": str(WINDOW_S),
                "COLDCHAIN_ALERTS_SMTP_HOST": "127.0.0.1",
                "COLDCHAIN_ALERTS_SMTP_PORT": str(self.smtp.port),
                "COLDCHAIN_ALERTS_SMTP_SECURITY": "none",
                "COLDCHAIN_ALERTS_SMTP_FROM": "coldchain@example.org",
            },
        )
        self.process.start()
        wait_until(self._healthy, 30, "the alerts service to be healthy")
        return self.process

    def _healthy(self) -> bool:
        try:
            return self.api.get("/healthz").status_code == 200
        except Exception:  # noqa: BLE001 - not listening yet
            return False

    def publish(self, *events: AlertEvent) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", self.mosquitto.port)
        client.loop_start()
        try:
            for event in events:
                info = client.publish(topics.alerts(SITE), event.model_dump_json(), qos=1)
                info.wait_for_publish(timeout=10)
        finally:
            client.disconnect()
            client.loop_stop()

    def escalation_job(self) -> float | None:
        """When the site's persistent escalation job runs next (epoch s), or None."""
        with closing(sqlite3.connect(self.directory / "alerts.sqlite3")) as db:
            row = db.execute(
                "SELECT next_run_time FROM apscheduler_jobs WHERE id = ?", (f"escalate:{SITE}",)
            ).fetchone()
        return None if row is None else float(row[0])

    def timeline(self, alert_id: int) -> list[str]:
        steps = self.api.get(f"/api/v1/alerts/{alert_id}").json()["timeline"]
        return [step["action"] for step in steps]


def raised(sensor: str, minutes_ago: float = 20) -> AlertEvent:
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes_ago)
    return AlertEvent(
        key=f"temperature_above/{sensor}/{started.isoformat()}",
        state=AlertState.RAISED,
        rule="over_max",
        severity=Severity.CRITICAL,
        site=SITE,
        asset="cold-room-1",
        sensor=sensor,
        started_at=started,
        at=started + timedelta(minutes=15),
        value_c=9.5,
        peak_c=9.5,
        limit_c=6.0,
        regulatory_limit_c=7.0,
        delay_s=900,
    )


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink(refuse={"nobody@example.org"}) as sink:
        yield sink


@pytest.fixture
def webhook() -> Iterator[RecordingHttpServer]:
    with RecordingHttpServer() as server:
        yield server


@pytest.fixture
def scene(
    tmp_path: Path, mosquitto: Mosquitto, smtp: SmtpSink, webhook: RecordingHttpServer
) -> Iterator[Scene]:
    made = Scene(tmp_path, mosquitto, smtp, webhook)
    yield made
    if made.process is not None:
        made.process.stop()


def _levels(webhook: RecordingHttpServer) -> list[list[dict[str, str]]]:
    return [
        [{"name": "Anna Schmidt", "language": "de", "email": "anna@example.org"}],
        [{"name": "Hub manager", "language": "en", "webhook_url": f"{webhook.url}/hook"}],
    ]


def test_a_flood_is_one_message_per_level_and_escalates_until_acknowledged(
    scene: Scene, smtp: SmtpSink, webhook: RecordingHttpServer
) -> None:
    scene.policy(_levels(webhook))
    scene.start()
    flood = [raised(f"cold-room-1.probe-{n:02d}") for n in range(20)]
    scene.publish(*flood)

    (mail,) = smtp.wait_for(1, timeout=20)
    assert mail["To"] == "Anna Schmidt <anna@example.org>"
    body = mail.get_content()
    assert body.count("https://alerts.example.org/alerts/") == 20
    assert "20" in mail["Subject"]

    (hook,) = webhook.wait_for(1, timeout=ACK_TIMEOUT_S + 20)
    notice = hook.json()
    assert (notice["level"], notice["reason"], notice["language"]) == (2, "escalation", "en")
    assert len(notice["alerts"]) == 20
    assert len(smtp.messages) == 1, "level 1 is not told twice"

    for alert in scene.api.alerts(status="open"):
        response = scene.api.post(
            f"/api/v1/alerts/{alert['id']}/acknowledge", {"comment": "compressor restarted"}
        )
        assert response.status_code == 200, response.text
    # With every alert acknowledged, the site's job has nothing left to schedule.
    wait_until(lambda: scene.escalation_job() is None, 20, "the escalation job to end")
    assert (len(smtp.messages), len(webhook.requests)) == (1, 1)
    alert = scene.api.alerts()[0]
    assert scene.timeline(alert["id"]) == ["opened", "notified", "escalated", "acknowledged"]


def test_a_restart_neither_loses_nor_repeats_an_escalation(
    scene: Scene, smtp: SmtpSink, webhook: RecordingHttpServer
) -> None:
    scene.policy(_levels(webhook))
    process = scene.start()
    scene.publish(raised("cold-room-1.air"))
    smtp.wait_for(1, timeout=20)
    due = wait_until(scene.escalation_job, 10, "level 2 to be scheduled")
    process.kill()  # as in a power cut: no chance to clean up
    scene.start()

    (hook,) = webhook.wait_for(1, timeout=ACK_TIMEOUT_S + 30)
    assert hook.json()["level"] == 2
    assert datetime.now(UTC).timestamp() >= due
    wait_until(lambda: scene.escalation_job() is None, 20, "the escalation to finish")
    assert len(smtp.messages) == 1, "level 1 was not told again after the restart"
    assert len(webhook.requests) == 1
    (alert,) = scene.api.alerts()
    assert scene.timeline(alert["id"]) == ["opened", "notified", "escalated"]


def test_a_level_nobody_heard_is_passed_over_at_once(
    scene: Scene, smtp: SmtpSink, webhook: RecordingHttpServer
) -> None:
    levels = _levels(webhook)
    levels[0] = [{"name": "Gone", "language": "de", "email": "nobody@example.org"}]
    scene.policy(levels)
    scene.start()
    opened = datetime.now(UTC)
    scene.publish(raised("cold-room-1.air"))
    (hook,) = webhook.wait_for(1, timeout=ACK_TIMEOUT_S + 20)
    assert hook.json()["level"] == 2
    (alert,) = scene.api.alerts()
    detail = scene.api.get(f"/api/v1/alerts/{alert['id']}").json()
    notified = next(step for step in detail["timeline"] if step["action"] == "notified")
    (delivery,) = notified["detail"]["deliveries"]
    assert (delivery["ok"], delivery["channel"]) == (False, "email")
    assert "nobody@example.org" in delivery["error"]
    escalated = next(step for step in detail["timeline"] if step["action"] == "escalated")
    waited = datetime.fromisoformat(escalated["at"]) - opened
    assert waited < timedelta(seconds=ACK_TIMEOUT_S), "level 2 did not wait for level 1"
    metrics = scene.api.get("/metrics").text
    assert 'coldchain_alerts_notifications_total{channel="email",outcome="failed"} 1.0' in metrics


def test_reminders_until_acknowledged_and_actions_reach_influxdb(
    tmp_path: Path,
    mosquitto: Mosquitto,
    smtp: SmtpSink,
    webhook: RecordingHttpServer,
    influxdb: InfluxDB,
) -> None:
    database = f"test_{tmp_path.name[-12:].replace('-', '_')}"
    influxdb.query("", f'CREATE DATABASE "{database}"')
    scene = Scene(tmp_path, mosquitto, smtp, webhook, influxdb.url, database)
    scene.policy(_levels(webhook)[:1], reminder_s=2)
    try:
        scene.start()
        scene.publish(raised("cold-room-1.air"))
        smtp.wait_for(3, timeout=30)  # the first message and two reminders
        (alert,) = scene.api.alerts()
        scene.api.post(f"/api/v1/alerts/{alert['id']}/acknowledge", {"comment": "on it"})
        wait_until(lambda: scene.escalation_job() is None, 20, "the reminders to stop")
        told = len(smtp.messages)
        actions = scene.timeline(alert["id"])
        assert actions[:2] == ["opened", "notified"]
        assert actions[-1] == "acknowledged"
        assert actions.count("reminded") == told - 1

        def stored() -> list[str]:
            series = influxdb.query(
                database,
                f'SELECT "action", "actor" FROM alert_action WHERE alert_id = \'{alert["id"]}\'',
            )
            return [row[1] for row in series[0]["values"]] if series else []

        wait_until(lambda: len(stored()) == len(actions), 20, "the actions in InfluxDB")
        assert stored() == actions
        fields = {
            name: kind
            for name, kind in influxdb.query(database, "SHOW FIELD KEYS FROM alert_action")[0][
                "values"
            ]
        }
        assert fields == {
            "actor": "string",
            "comment": "string",
            "level": "integer",
            "started_ns": "integer",
            "standing": "string",
        }, "as docs/influxdb-schema.md and the Audit dashboard have them"
        notified = influxdb.query(
            database, "SELECT comment FROM alert_action WHERE \"action\" = 'notified'"
        )
        assert notified[0]["values"][0][1] == "Anna Schmidt: email ok"
        chain = influxdb.query(database, "SELECT count(sha256) FROM audit_chain")
        assert chain[0]["values"][0][1] >= len(actions)
    finally:
        if scene.process is not None:
            scene.process.stop()
