"""`coldchain-admin backup` and `restore` against real InfluxDB, SQLite and PostgreSQL.

A backup restored onto fresh servers gives back every point, the retention policies,
every table of the SQL store, ingest's state file, the broker's accounts and the key
list; a backup that is
incomplete, corrupted or of another format, or a target that holds data, is refused
with exit status 2 before anything changes; an older schema is migrated.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy import create_engine, inspect, text

from coldchain_admin import schedule
from coldchain_admin.brokeraccounts import INITIAL
from coldchain_admin.settings import AdminSettings
from coldchain_alerts.auth import Role
from coldchain_alerts.db import alembic_config
from coldchain_devstack import BIN, broker_users
from coldchain_devstack.servers import (
    InfluxDB,
    PostgreSQL,
    SecuredMosquitto,
    certificate_authority,
    wait_until,
)
from coldchain_io import dynsec
from coldchain_io.mqtt import MqttSettings
from tests.alertsapi import add_user

POINTS = [
    f"temperature,sensor=s{k % 3} temp_c={k / 10} {1_700_000_000 + 60 * k}000000000"
    for k in range(200)
]

INITIAL_ACCOUNTS = sorted(INITIAL)
GATEWAY = "dortmund-hub/van-9"
PASSWORDS = {name: broker_users.new_password() for name in [*INITIAL_ACCOUNTS, GATEWAY]}


@dataclass
class Target:
    """Where a backup comes from, or goes to."""

    influxdb: InfluxDB
    database: str
    database_url: str
    state: Path
    keys: Path
    accounts: Path

    def settings(self) -> dict[str, str]:
        return {
            "COLDCHAIN_ADMIN_DATABASE_URL": self.database_url,
            "COLDCHAIN_ADMIN_INFLUX_URL": self.influxdb.url,
            "COLDCHAIN_ADMIN_INFLUX_RPC": self.influxdb.rpc,
            "COLDCHAIN_ADMIN_INFLUX_DATABASES": json.dumps([self.database]),
            "COLDCHAIN_ADMIN_INGEST_STATE": str(self.state),
            "COLDCHAIN_ADMIN_PUBLIC_KEYS": str(self.keys),
            "COLDCHAIN_ADMIN_BROKER_ACCOUNTS": str(self.accounts),
        }


def admin(target: Target, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    return subprocess.run(
        [str(BIN / "coldchain-admin"), *args],
        env=env | target.settings(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def fresh_influxdb(tmp_path: Path) -> Iterator[InfluxDB]:
    server = InfluxDB(tmp_path / "fresh-influxdb")
    server.start()
    yield server
    server.stop()


def _empty_like(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if database_url.startswith("sqlite"):
        (tmp_path / "restored").mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{tmp_path}/restored/alerts.sqlite3"
    server: PostgreSQL = request.getfixturevalue("postgresql")
    return server.create_database()


@pytest.fixture
def source(tmp_path: Path, influxdb: InfluxDB, database_url: str) -> Target:
    database = f"test_{tmp_path.name[-12:].replace('-', '_')}"
    influxdb.query("", f'CREATE DATABASE "{database}"')
    influxdb.query(
        database,
        f'CREATE RETENTION POLICY "five_years" ON "{database}" DURATION 260w REPLICATION 1',
    )
    influxdb.write(database, "\n".join(POINTS))
    add_user(database_url, "anna", Role.OFFICER, "anna-officer-password")
    state = tmp_path / "ingest-state.sqlite3"
    with closing(sqlite3.connect(state)) as db, db:
        db.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, event TEXT)")
        db.execute("INSERT INTO outbox (event) VALUES ('raised')")
    keys = tmp_path / "hub.pub"
    keys.write_text('{"keys": []}\n')
    accounts = tmp_path / "dynamic-security.json"
    for username in INITIAL_ACCOUNTS:
        broker_users.set_password(accounts, username, PASSWORDS[username])
    broker_users.set_password(accounts, GATEWAY, PASSWORDS[GATEWAY])
    return Target(influxdb, database, database_url, state, keys, accounts)


@pytest.fixture
def target(
    tmp_path: Path, fresh_influxdb: InfluxDB, source: Target, request: pytest.FixtureRequest
) -> Target:
    return Target(
        fresh_influxdb,
        source.database,
        _empty_like(source.database_url, tmp_path, request),
        tmp_path / "restored" / "ingest-state.sqlite3",
        tmp_path / "restored" / "hub.pub",
        tmp_path / "restored" / "dynamic-security.json",
    )


def _rows(database_url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                table: [tuple(row) for row in connection.execute(text(f'SELECT * FROM "{table}"'))]
                for table in sorted(inspect(connection).get_table_names())
            }
    finally:
        engine.dispose()


def test_a_backup_restored_onto_fresh_servers_gives_back_everything(
    tmp_path: Path, source: Target, target: Target
) -> None:
    made = admin(source, "backup", str(tmp_path / "backup"))
    assert made.returncode == 0, made.stdout + made.stderr
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["sql"]["alembic_revision"] and manifest["influxdb"]["version"]
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])

    restored = admin(target, "restore", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "intact" in restored.stdout

    query = "SELECT temp_c FROM temperature"
    assert target.influxdb.query(source.database, query) == source.influxdb.query(
        source.database, query
    )
    policies = "SHOW RETENTION POLICIES"
    assert target.influxdb.query(source.database, policies) == source.influxdb.query(
        source.database, policies
    )
    # `audit verify` after the restore wrote what waited in the outbox to InfluxDB.
    restored_rows, source_rows = _rows(target.database_url), _rows(source.database_url)
    assert restored_rows.pop("influx_outbox") == []
    source_rows.pop("influx_outbox")
    assert restored_rows == source_rows
    assert target.influxdb.count(source.database, "SELECT count(sha256) FROM audit_chain") == 1
    with closing(sqlite3.connect(target.state)) as db:
        assert db.execute("SELECT event FROM outbox").fetchall() == [("raised",)]
    assert target.keys.read_text() == source.keys.read_text()
    assert target.accounts.read_bytes() == source.accounts.read_bytes()


def _untouched(database_url: str) -> bool:
    if database_url.startswith("sqlite:///"):
        return not Path(database_url.removeprefix("sqlite:///")).exists()
    return _rows(database_url) == {}


def _backup(tmp_path: Path, source: Target) -> Path:
    directory = tmp_path / "backup"
    made = admin(source, "backup", str(directory))
    assert made.returncode == 0, made.stdout + made.stderr
    return directory


def _corrupt_a_byte(directory: Path) -> str:
    path = directory / "sql" / next(p.name for p in (directory / "sql").iterdir())
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return "does not match its SHA-256"


def _remove_a_shard(directory: Path) -> str:
    next((directory / "influxdb").rglob("*.tar.gz")).unlink()
    return "is missing: the backup is incomplete"


def _cut_the_state_file(directory: Path) -> str:
    path = directory / "state" / "ingest-state.sqlite3"
    path.write_bytes(path.read_bytes()[:100])
    return "was cut short or changed"


def _newer_manifest(directory: Path) -> str:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 3
    path.write_text(json.dumps(manifest))
    return "format version 3"


def _no_manifest(directory: Path) -> str:
    (directory / "manifest.json").unlink()
    return "no manifest.json: the backup is incomplete"


def _cut_the_broker_accounts(directory: Path) -> str:
    path = directory / "broker" / "dynamic-security.json"
    path.write_bytes(path.read_bytes()[:-10])
    return "was cut short or changed"


def _a_foreign_file(directory: Path) -> str:
    (directory / "sql" / "extra.sql").write_text("DROP TABLE alert;")
    return "not in its manifest"


@pytest.mark.parametrize(
    "damage",
    [
        _corrupt_a_byte,
        _remove_a_shard,
        _cut_the_state_file,
        _cut_the_broker_accounts,
        _newer_manifest,
        _no_manifest,
        _a_foreign_file,
    ],
)
def test_a_damaged_backup_is_refused_before_anything_changes(
    tmp_path: Path, source: Target, target: Target, damage: object
) -> None:
    directory = _backup(tmp_path, source)
    reason = damage(directory)  # type: ignore[operator]
    refused = admin(target, "restore", str(directory))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert reason in " ".join(refused.stdout.split()), refused.stdout
    assert source.database not in {
        row[0] for row in target.influxdb.query("", "SHOW DATABASES")[0].get("values", [])
    }
    assert not target.state.exists() and not target.keys.exists()
    assert not target.accounts.exists()
    assert _untouched(target.database_url)


def test_a_target_holding_data_is_refused_before_anything_changes(
    tmp_path: Path, source: Target, target: Target
) -> None:
    directory = _backup(tmp_path, source)
    target.state.parent.mkdir(parents=True, exist_ok=True)
    target.state.write_bytes(b"someone's state")
    refused = admin(target, "restore", str(directory))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "exists: restore with ingest stopped" in " ".join(refused.stdout.split())
    assert target.state.read_bytes() == b"someone's state"
    assert source.database not in str(target.influxdb.query("", "SHOW DATABASES"))

    into_the_source = admin(source, "restore", str(directory))
    assert into_the_source.returncode == 2
    assert "already has database" in " ".join(into_the_source.stdout.split())


def test_a_backup_of_an_older_schema_is_migrated_on_restore(
    tmp_path: Path, source: Target, target: Target, request: pytest.FixtureRequest
) -> None:
    older = _empty_like(source.database_url, tmp_path / "older", request)
    command.upgrade(alembic_config(older), "0003")
    source.database_url = older
    directory = _backup(tmp_path, source)
    assert json.loads((directory / "manifest.json").read_text())["sql"]["alembic_revision"] == (
        "0003"
    )
    restored = admin(target, "restore", str(directory))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    head = ScriptDirectory.from_config(alembic_config(older)).get_current_head()
    assert f"0003 -> {head}" in restored.stdout


def test_scheduled_backups_keep_the_newest_and_say_when_none_is_fresh(
    tmp_path: Path, source: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = source.settings() | {
        "COLDCHAIN_ADMIN_BACKUP_ROOT": str(tmp_path / "backups"),
        "COLDCHAIN_ADMIN_KEEP": "2",
        "COLDCHAIN_ADMIN_MAX_AGE_H": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = AdminSettings()
    assert schedule.overdue(settings) == f"no complete backup under {tmp_path / 'backups'}"
    first = datetime(2026, 12, 7, 2, tzinfo=UTC)
    made = [schedule.once(settings, first + timedelta(days=day)) for day in range(3)]
    assert schedule.complete(tmp_path / "backups") == made[1:], "the two newest kept"
    failing = settings.model_copy(update={"ingest_state": tmp_path / "gone.sqlite3"})
    assert schedule.once(failing, first + timedelta(days=3)) is None
    assert schedule.complete(tmp_path / "backups") == made[1:], "a failure deletes nothing"
    assert len(list((tmp_path / "backups").iterdir())) == 2, "nor leaves a partial backup"
    assert schedule.overdue(settings) is None
    assert "h old" in (schedule.overdue(settings, datetime.now(UTC) + timedelta(hours=2)) or "")


def _initial_accounts(path: Path) -> None:
    """The broker's file as set up before its first start: the services' accounts only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for username in INITIAL_ACCOUNTS:
        broker_users.set_password(path, username, PASSWORDS[username])


def test_a_broker_file_with_only_the_services_accounts_is_replaced_one_with_gateways_refused(
    tmp_path: Path, source: Target, target: Target
) -> None:
    directory = _backup(tmp_path, source)
    _initial_accounts(target.accounts)
    broker_users.set_password(target.accounts, "dortmund-hub/van-1", "a gateway's password")
    in_use = target.accounts.read_bytes()
    refused = admin(target, "restore", str(directory))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "beyond the services' (dortmund-hub/van-1)" in " ".join(refused.stdout.split())
    assert target.accounts.read_bytes() == in_use
    assert not target.state.exists()

    broker_users.remove(target.accounts, "dortmund-hub/van-1")
    target.accounts.chmod(0o640)
    restored = admin(target, "restore", str(directory))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert target.accounts.read_bytes() == source.accounts.read_bytes()
    assert target.accounts.stat().st_mode & 0o777 == 0o640, "the mode it had"


def _logs_in(broker: SecuredMosquitto, username: str) -> bool:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(username, PASSWORDS[username])
    answers: list[ReasonCode] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(reason)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        reason = wait_until(lambda: answers[:1], 10, f"the broker's answer to {username}")[0]
        return not reason.is_failure
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_gateway_registered_on_the_running_broker_logs_in_after_the_restore(
    tmp_path: Path, source: Target, target: Target
) -> None:
    """A backup taken while the broker runs holds the gateway it registered, and a fresh
    broker reads the gateway from the restored file."""
    authority = certificate_authority(tmp_path / "ca")
    source.accounts.unlink()
    _initial_accounts(source.accounts)
    before = SecuredMosquitto(tmp_path / "before", source.accounts, authority)
    before.start()
    try:
        admin_settings = MqttSettings(
            mqtt_host="127.0.0.1",
            mqtt_port=before.port,
            mqtt_username=dynsec.ADMIN,
            mqtt_password=PASSWORDS[dynsec.ADMIN],
        )
        site, gateway = GATEWAY.split("/")
        dynsec.DynsecAdmin(admin_settings).create_gateway(site, gateway, PASSWORDS[GATEWAY])
        assert _logs_in(before, GATEWAY)
        directory = _backup(tmp_path, source)
    finally:
        before.stop()

    _initial_accounts(target.accounts)
    restored = admin(target, "restore", str(directory))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    after = SecuredMosquitto(tmp_path / "after", target.accounts, authority)
    after.start()
    try:
        assert _logs_in(after, GATEWAY)
    finally:
        after.stop()
