"""The alerts service's InfluxDB outbox: a point InfluxDB refuses never blocks the rest.

Against a real InfluxDB 1.x, the service's database on SQLite and PostgreSQL, and
for what operators see, the service and its command line run as deployed. InfluxDB
refuses points as it does in production: a time or an integer it cannot store (an
alert event that began in year 1), and a field another writer gave another type.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from alembic import command
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import text

from coldchain import measurements, topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts import outbox
from coldchain_alerts.db import alembic_config, make_engine, migrate
from coldchain_alerts.service import OUTBOX_BATCH, AlertsService
from coldchain_alerts.settings import AlertsSettings
from coldchain_devstack import BIN, REPO
from coldchain_devstack.servers import InfluxDB, free_port, wait_until
from coldchain_devstack.stack import SITE
from coldchain_io.lineprotocol import nanoseconds, point
from tests.alertsapi import ApiStack

YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)


@pytest.fixture
def influx_database(influxdb: InfluxDB) -> str:
    database = f"test_{uuid.uuid4().hex[:12]}"
    influxdb.query("", f'CREATE DATABASE "{database}"')
    return database


@pytest.fixture
def service(database_url: str, influxdb: InfluxDB, influx_database: str) -> Iterator[AlertsService]:
    migrate(database_url)
    alerts = AlertsService(
        AlertsSettings(
            database_url=database_url, influx_url=influxdb.url, influx_db=influx_database
        )
    )
    yield alerts
    alerts.close()


def _action(alert_id: int, at: datetime, started: datetime) -> str:
    return point(
        measurements.ALERT_ACTION,
        {"site": SITE, "alert_id": str(alert_id), "action": "opened", "severity": "critical"},
        {"actor": "system", "started_ns": nanoseconds(started)},
        at,
    )


def _rows(database_url: str, query: str) -> list[Any]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(query)))
    finally:
        engine.dispose()


def test_a_point_influxdb_refuses_is_kept_aside_and_the_points_behind_it_are_written(
    service: AlertsService, influxdb: InfluxDB, influx_database: str, database_url: str
) -> None:
    """An alert that began in year 1: its `started_ns` overflows InfluxDB's integers, so
    InfluxDB refuses every batch holding it. More than one batch waits behind it."""
    now = datetime.now(UTC)
    poison = _action(1, now, YEAR_ONE)
    behind = [_action(n, now + timedelta(microseconds=n), now) for n in range(2, OUTBOX_BATCH + 12)]
    with service.writes.begin() as session:
        for line in [poison, *behind]:
            outbox.queue(session, line)

    assert service.flush_outbox() == len(behind)

    count = f'SELECT count("actor") FROM "{measurements.ALERT_ACTION}"'
    assert influxdb.count(influx_database, count) == len(behind)
    assert _rows(database_url, "SELECT count(*) FROM influx_outbox") == [(0,)]
    ((line, reason, attempts),) = _rows(
        database_url, "SELECT line, reason, attempts FROM influx_dead_letter"
    )
    assert (line, attempts) == (poison, 1)
    assert "-62135596800000000000" in reason and "out of range" in reason
    assert service.flush_outbox() == 0, "the refused point is not tried again by itself"


def test_while_influxdb_is_unreachable_or_lacks_the_database_every_point_waits(
    database_url: str, influxdb: InfluxDB
) -> None:
    """Not a refusal of the points: nothing is set aside, and all are written later."""
    migrate(database_url)
    database = f"test_{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    lines = [_action(n, now + timedelta(microseconds=n), now) for n in range(1, 4)]
    for url in (f"http://127.0.0.1:{free_port()}", influxdb.url):
        alerts = AlertsService(
            AlertsSettings(database_url=database_url, influx_url=url, influx_db=database)
        )
        try:
            if url != influxdb.url:
                with alerts.writes.begin() as session:
                    for line in lines:
                        outbox.queue(session, line)
            assert alerts.flush_outbox() == 0  # unreachable; then: no such database (404)
            assert _rows(database_url, "SELECT count(*) FROM influx_outbox") == [(3,)]
            assert _rows(database_url, "SELECT count(*) FROM influx_dead_letter") == [(0,)]
        finally:
            alerts.close()
    influxdb.query("", f'CREATE DATABASE "{database}"')
    alerts = AlertsService(
        AlertsSettings(database_url=database_url, influx_url=influxdb.url, influx_db=database)
    )
    try:
        assert alerts.flush_outbox() == 3
    finally:
        alerts.close()


# --- as deployed: the service, its health and metrics, and the operator's command line -----


def _event(started: datetime) -> bytes:
    return (
        AlertEvent(
            key=f"over_max/cold-room-1.air/{started.isoformat()}",
            state=AlertState.RAISED,
            rule="over_max",
            severity=Severity.CRITICAL,
            site=SITE,
            asset="cold-room-1",
            sensor="cold-room-1.air",
            started_at=started,
            at=started + timedelta(minutes=15),
            value_c=8.0,
            peak_c=8.0,
            limit_c=6.0,
            delay_s=900,
        )
        .model_dump_json()
        .encode()
    )


def _publish(port: int, payload: bytes) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topics.alerts(SITE), payload, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def _get(stack: ApiStack, path: str) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{stack.alerts_port}{path}", timeout=5)
    except httpx.HTTPError:
        return None


def _samples(stack: ApiStack) -> dict[str, float]:
    response = _get(stack, "/metrics")
    assert response is not None and response.status_code == 200
    return {
        name: float(value)
        for name, value in (
            line.rsplit(" ", 1) for line in response.text.splitlines() if not line.startswith("#")
        )
    }


def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [str(BIN / "coldchain-alerts"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_a_field_another_writer_gave_another_type_is_kept_shown_and_replayed(
    stack: ApiStack,
) -> None:
    """Someone writes `started_ns` of alert_action as a string: InfluxDB refuses the
    service's steps. They are kept and shown, the audit chain's copy behind them is
    written, and once the conflict is dropped an operator's replay stores them."""
    stack.influxdb.query("", f'CREATE DATABASE "{stack.database}"')
    api = stack.alerts_api  # its token is made before the service writes its database
    alerts = stack.alerts()
    alerts.start()
    wait_until(
        lambda: (r := _get(stack, "/healthz")) is not None and r.status_code == 200, 30, "healthy"
    )
    now = datetime.now(UTC)
    stack.influxdb.write(
        stack.database,
        f'{measurements.ALERT_ACTION},site=elsewhere started_ns="unknown" {nanoseconds(now)}',
    )
    _publish(stack.mosquitto.port, _event(now - timedelta(minutes=20)))
    (alert,) = wait_until(lambda: api.alerts(), 30, "the alert")
    acknowledged = api.post(
        f"/api/v1/alerts/{alert['id']}/acknowledge", {"comment": "Tür zu, Ware geprüft"}
    )
    assert acknowledged.status_code == 200, acknowledged.text

    entries = len(api.get("/api/v1/audit").json())
    chain = f'SELECT count("seq") FROM "{measurements.AUDIT_CHAIN}"'
    wait_until(
        lambda: stack.influxdb.count(stack.database, chain) == entries,
        30,
        "the audit chain's copy behind the refused points",
    )
    samples = wait_until(
        lambda: (s := _samples(stack))["coldchain_alerts_influx_outbox"] == 0 and s,
        30,
        "an empty outbox",
    )
    refused = int(samples["coldchain_alerts_influx_refused_total"])
    assert refused >= 2, "the alert's opening and its acknowledgement"
    assert samples["coldchain_alerts_influx_dead_letters"] == refused
    health = _get(stack, "/healthz")
    assert health is not None and health.status_code == 200
    assert health.json()["influx_refused"] == refused
    assert "coldchain-alerts dead-letters list" in health.json()["warnings"][0]

    status, listed = _cli(alerts.env, "dead-letters", "list")
    assert status == 1, listed
    assert f"InfluxDB refused {refused} point(s)" in listed
    assert listed.count("field type conflict") == refused
    assert "alert_action,action=acknowledged" in listed

    status, replayed = _cli(alerts.env, "dead-letters", "replay")
    assert status == 1, replayed
    assert f"InfluxDB refused {refused} point(s) again; they stay" in replayed
    assert "(2 time(s))" in _cli(alerts.env, "dead-letters", "list")[1]

    stack.influxdb.query(stack.database, f'DROP MEASUREMENT "{measurements.ALERT_ACTION}"')
    status, replayed = _cli(alerts.env, "dead-letters", "replay")
    assert (status, replayed.strip()) == (0, f"InfluxDB stored {refused} point(s)")
    actions = f'SELECT count("actor") FROM "{measurements.ALERT_ACTION}"'
    assert stack.influxdb.count(stack.database, actions) == refused
    assert _cli(alerts.env, "dead-letters", "list") == (0, "InfluxDB has refused no point\n")
    health = _get(stack, "/healthz")
    assert health is not None
    assert (health.json()["influx_refused"], health.json()["warnings"]) == (0, [])
    replays = [e for e in api.get("/api/v1/audit").json() if e["action"] == "influx.replayed"]
    assert [e["actor"].startswith("cli:") for e in replays] == [True, True]


def test_the_upgrade_names_the_entry_of_audit_points_already_queued(database_url: str) -> None:
    """Points queued by the previous version: `audit verify` must know them as waiting.
    A downgrade puts the dead letters back into the outbox rather than lose them."""
    config = alembic_config(database_url)
    command.upgrade(config, "0002")
    copy = 'audit_chain seq=7i,sha256="ab",action="login",actor="anna seq=9i," 1796595188324489000'
    action = _action(1, datetime.now(UTC), datetime.now(UTC))
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            for line in (copy, action):
                connection.execute(
                    text("INSERT INTO influx_outbox (line) VALUES (:l)"), {"l": line}
                )
        migrate(database_url)
        assert _rows(database_url, "SELECT audit_seq FROM influx_outbox ORDER BY id") == [
            (7,),
            (None,),
        ]
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO influx_dead_letter (id, line, reason, refused_at, attempts) "
                    "VALUES (99, 'refused', 'field type conflict', :at, 1)"
                ),
                {"at": datetime.now(UTC)},
            )
    finally:
        engine.dispose()
    command.downgrade(config, "0002")
    lines = _rows(database_url, "SELECT line FROM influx_outbox ORDER BY id")
    assert [line for (line,) in lines] == [copy, action, "refused"]


def test_while_influxdb_refuses_the_credentials_every_point_waits(
    database_url: str, tmp_path: Path
) -> None:
    """401 says nothing about the points: none is set aside, all wait for the right login."""
    secured = InfluxDB(tmp_path)
    secured.env["INFLUXDB_HTTP_AUTH_ENABLED"] = "true"
    secured.start()
    try:
        admin = "CREATE USER admin WITH PASSWORD 'admin' WITH ALL PRIVILEGES"
        for statement in (admin, 'CREATE DATABASE "coldchain"'):
            answer = httpx.post(
                f"{secured.url}/query", data={"q": statement}, auth=("admin", "admin"), timeout=10
            )
            assert "error" not in answer.text, answer.text
        migrate(database_url)
        alerts = AlertsService(
            AlertsSettings(
                database_url=database_url,
                influx_url=secured.url,
                influx_db="coldchain",
                influx_username="alerts",
                influx_password="wrong",
            )
        )
        try:
            with alerts.writes.begin() as session:
                outbox.queue(session, _action(1, datetime.now(UTC), datetime.now(UTC)))
            assert alerts.flush_outbox() == 0
        finally:
            alerts.close()
    finally:
        secured.stop()
    assert _rows(database_url, "SELECT count(*) FROM influx_outbox") == [(1,)]
    assert _rows(database_url, "SELECT count(*) FROM influx_dead_letter") == [(0,)]
