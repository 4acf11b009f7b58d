"""Two alerts services on one PostgreSQL database: people are told once per step.

Both instances take every alert event from the broker (each has its own session),
so both store each event at the same moment; only the leader escalates
(alerts/coldchain_alerts/leadership.py). The leader is killed with -9, restarted,
and stopped (SIGSTOP: a process that hangs with its connection open) while alerts
are waiting; the mail catcher counts what the officers got: one e-mail per alert
and level, never two, none missing.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts import people, policies
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_alerts.escalation import DEFAULT_SITE
from coldchain_alerts.models import AuditEntry, AuditHead, RefusedEvent
from coldchain_devstack.servers import Mosquitto, PostgreSQL, Process, free_port, wait_until
from coldchain_devstack.servers import service as service_process
from coldchain_devstack.stack import alerts_settings
from tests.fakes import SmtpSink

SHIFT_LEAD = {"name": "Shift lead", "language": "en", "email": "shift@hub.example"}
ON_CALL = {"name": "On call", "language": "en", "email": "oncall@hub.example"}
#: Level 2 follows level 1 after this many seconds without an acknowledgement.
ACK_TIMEOUT_S = 3
#: The leader's lease: a hanging leader is replaced after about this long.
LEASE_S = 2.0


class Instance:
    """One alerts service process and its port."""

    def __init__(self, name: str, directory: Path, settings: dict[str, str]) -> None:
        self.port = free_port()
        self.process: Process = service_process(
            name,
            "coldchain-alerts",
            directory,
            settings
            | {
                "COLDCHAIN_ALERTS_PORT": str(self.port),
                "COLDCHAIN_ALERTS_MQTT_CLIENT_ID": f"coldchain-{name}",
            },
        )

    def health(self) -> dict[str, object] | None:
        try:
            response = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]

    def leads(self) -> bool:
        health = self.health()
        return bool(health and health["leader"])

    def start(self) -> Instance:
        self.process.start()
        wait_until(self.health, 30, f"{self.process.name} to be healthy")
        return self


@pytest.fixture
def database(postgresql: PostgreSQL) -> str:
    url = postgresql.create_database()
    migrate(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            ids = [
                [people.save_contact(session, "tests", contact | {"active": True}).id]
                for contact in (SHIFT_LEAD, ON_CALL)
            ]
            policies.set_policy(session, "tests", DEFAULT_SITE, ACK_TIMEOUT_S, None, ids)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def instances(
    tmp_path: Path, mosquitto: Mosquitto, smtp: SmtpSink, database: str
) -> Iterator[tuple[Instance, Instance]]:
    settings = alerts_settings(mosquitto.port, 0, database, "", tmp_path / "none.yaml") | {
        "COLDCHAIN_ALERTS_ESCALATION_WINDOW_S": "0",
        "COLDCHAIN_ALERTS_LEADER_LEASE_S": str(LEASE_S),
        "COLDCHAIN_ALERTS_SMTP_HOST": smtp.host,
        "COLDCHAIN_ALERTS_SMTP_PORT": str(smtp.port),
        "COLDCHAIN_ALERTS_SMTP_SECURITY": "none",
        "COLDCHAIN_ALERTS_SMTP_FROM": "alerts@hub.example",
    }
    del settings["COLDCHAIN_ALERTS_FLEET"]
    pair = (Instance("alerts-a", tmp_path, settings), Instance("alerts-b", tmp_path, settings))
    yield pair
    for instance in pair:
        if instance.process.popen is not None:
            instance.process.popen.send_signal(signal.SIGCONT)
        instance.process.stop()


def _publish(port: int, site: str) -> None:
    """An alert at `site` (one per site, so no e-mail tells of two), QoS 1, PUBACK awaited."""
    at = datetime.now(UTC) - timedelta(minutes=1)
    event = AlertEvent(
        id=f"event-{site}",
        key=f"over_max/van-2.chilled/{site}/{at.isoformat()}",
        state=AlertState.RAISED,
        rule="over_max",
        severity=Severity.CRITICAL,
        site=site,
        asset="van-2-chilled",
        sensor="van-2.chilled",
        started_at=at,
        at=at,
        value_c=9.5,
        peak_c=9.5,
        limit_c=6.0,
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        info = client.publish(topics.alerts(site), event.model_dump_json(), qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def _mails_to(smtp: SmtpSink, contact: dict[str, str]) -> int:
    return sum(contact["email"] in mail.rcpt_tos for mail in smtp.mails)


def _told(smtp: SmtpSink, alerts: int) -> bool:
    return _mails_to(smtp, SHIFT_LEAD) >= alerts and _mails_to(smtp, ON_CALL) >= alerts


def _steps(database: str) -> dict[str, int]:
    """How many escalation steps the journal records, by action."""
    engine = make_engine(database)
    try:
        with make_sessionmaker(engine)() as session:
            return dict(
                session.execute(  # type: ignore[arg-type]
                    select(AuditEntry.action, func.count())
                    .where(AuditEntry.action.in_(["alert.notified", "alert.escalated"]))
                    .group_by(AuditEntry.action)
                ).all()
            )
    finally:
        engine.dispose()


def _refused(database: str) -> list[str]:
    engine = make_engine(database)
    try:
        with make_sessionmaker(engine)() as session:
            return list(session.scalars(select(RefusedEvent.reason)))
    finally:
        engine.dispose()


def _assert_told_once_per_step(database: str, smtp: SmtpSink, alerts: int) -> None:
    """Exactly one e-mail per alert and level, and one journal entry for each; no event
    refused (two instances storing one event at once must not collide)."""
    subjects = [(m.rcpt_tos, m.message["Subject"]) for m in smtp.mails]
    assert _mails_to(smtp, SHIFT_LEAD) == alerts, subjects
    assert _mails_to(smtp, ON_CALL) == alerts, subjects
    assert _steps(database) == {"alert.notified": alerts, "alert.escalated": alerts}
    assert _refused(database) == []


def test_two_instances_tell_each_step_once(
    instances: tuple[Instance, Instance], mosquitto: Mosquitto, smtp: SmtpSink, database: str
) -> None:
    for instance in instances:
        instance.start()
    for n in range(3):
        _publish(mosquitto.port, f"site-{n}")
    wait_until(lambda: _told(smtp, 3), 30, "both levels told of three alerts")
    for instance in instances:
        instance.process.stop()
    _assert_told_once_per_step(database, smtp, 3)


def test_leader_killed_restarted_and_hanging_each_step_told_once(
    instances: tuple[Instance, Instance], mosquitto: Mosquitto, smtp: SmtpSink, database: str
) -> None:
    a, b = instances
    a.start()
    wait_until(a.leads, 10, "the first instance to lead")
    b.start()
    assert not b.leads()

    # The leader dies with -9 once it has told level 1 (and recorded it: one killed
    # between sending and recording sends again, by design): the other tells level 2.
    _publish(mosquitto.port, "site-1")
    wait_until(lambda: _steps(database).get("alert.notified") == 1, 20, "level 1 of site-1")
    a.process.kill()
    _publish(mosquitto.port, "site-2")  # stored while nobody leads yet
    wait_until(b.leads, 3 * LEASE_S, "the second instance to take over")
    a.start()
    assert not a.leads()
    wait_until(lambda: _told(smtp, 2), 20, "both levels of site-1 and site-2")
    # Recorded, too: one stopped between sending and recording would be told again.
    wait_until(
        lambda: _steps(database) == {"alert.notified": 2, "alert.escalated": 2},
        20,
        "level 2 of site-2 recorded",
    )

    # The leader hangs with its database connection open; the other takes over, and the
    # hung one, woken, must not tell anything again.
    assert b.process.popen is not None
    os.kill(b.process.popen.pid, signal.SIGSTOP)
    _publish(mosquitto.port, "site-3")
    wait_until(a.leads, 4 * LEASE_S, "the first instance to take over from the hung one")
    wait_until(lambda: _told(smtp, 3), 20, "both levels of site-3")
    os.kill(b.process.popen.pid, signal.SIGCONT)
    wait_until(lambda: b.health() is not None, 20, "the woken instance to answer")
    assert not b.leads()
    _publish(mosquitto.port, "site-4")
    wait_until(lambda: _told(smtp, 4), 20, "both levels of site-4")

    for instance in instances:
        instance.process.stop()
    _assert_told_once_per_step(database, smtp, 4)


def test_a_writing_transaction_left_idle_frees_its_locks_within_a_lease(database: str) -> None:
    """An instance that hangs inside a writing transaction (here: holding the audit
    chain's head, as every audited write does) must not stall the others for good:
    the server ends the transaction after a lease, and the row is free again."""
    lease_s = 1.0
    engine = make_engine(database, writes_idle_s=lease_s)
    other = make_engine(database)
    try:
        hung = make_sessionmaker(engine, writes=True)()
        hung.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update())

        def locked_by_another() -> bool:
            with other.connect() as connection:
                connection.exec_driver_sql("SET lock_timeout = '100ms'")
                try:
                    connection.execute(
                        select(AuditHead.id).where(AuditHead.id == 1).with_for_update()
                    )
                except OperationalError:
                    return False
                connection.rollback()
                return True

        assert not locked_by_another(), "the hung transaction holds the head at first"
        wait_until(locked_by_another, 10 * lease_s, "the head free again")
        with pytest.raises(DBAPIError, match="idle-in-transaction"):
            hung.execute(select(AuditHead))
        hung.close()
        with make_sessionmaker(engine)() as reading:  # may idle: it locks nothing
            assert reading.scalar(text("SHOW idle_in_transaction_session_timeout")) == "0"
    finally:
        engine.dispose()
        other.dispose()


def test_a_second_instance_on_one_sqlite_file_is_refused(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    settings = alerts_settings(
        mosquitto.port, 0, f"sqlite:///{tmp_path}/alerts.sqlite3", "", tmp_path
    )
    del settings["COLDCHAIN_ALERTS_FLEET"]
    first = Instance("alerts-a", tmp_path, settings).start()
    second = Instance("alerts-b", tmp_path, settings)
    try:
        second.process.start()
        assert second.process.wait(30) != 0
        assert "SQLite allows one instance" in second.process.output()
        assert first.leads()
    finally:
        second.process.stop()
        first.process.stop()
