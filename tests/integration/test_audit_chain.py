"""The audit log's hash chain finds what was changed behind the service's back.

The entries are written by the service's own code; the tampering is raw SQL,
as someone with database access would do it, and InfluxQL on the copy of the
chain the service keeps in a real InfluxDB. On SQLite and on PostgreSQL; the
verdicts also through `coldchain-alerts audit verify`, run as operators run it.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from coldchain import auditchain, measurements
from coldchain_alerts import audit
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_alerts.main import create_app
from coldchain_alerts.service import AlertsService
from coldchain_alerts.settings import AlertsSettings
from coldchain_devstack import BIN, REPO
from coldchain_devstack.servers import InfluxDB, Mosquitto, free_port
from coldchain_io.lineprotocol import nanoseconds
from tests.alertsapi import token_for

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
ENTRIES = 6


def _write_entries(sessions: sessionmaker[Session]) -> None:
    for n in range(1, ENTRIES + 1):
        with sessions.begin() as session:
            audit.append(
                session,
                actor="anna",
                action="contact.changed",
                subject=f"contact:{n}",
                detail={"n": n, "note": "Kühlraum 1 – ok"},
                at=T0 + timedelta(minutes=n),
            )


@pytest.fixture
def chain(database_url: str) -> tuple[Engine, sessionmaker[Session]]:
    migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    _write_entries(sessions)
    return engine, sessions


def _verify(sessions: sessionmaker[Session]) -> auditchain.Verdict:
    with sessions() as session:
        return audit.verify(session)


def _sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), params)


def test_an_untouched_chain_is_intact(chain: tuple[Engine, sessionmaker[Session]]) -> None:
    _, sessions = chain
    assert _verify(sessions) == auditchain.Verdict(ok=True, entries=ENTRIES)


def test_a_changed_entry_is_found(chain: tuple[Engine, sessionmaker[Session]]) -> None:
    engine, sessions = chain
    _sql(engine, "UPDATE audit_entry SET detail = :d WHERE seq = 3", d='{"n":3,"note":"fine"}')
    verdict = _verify(sessions)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 3)
    assert "changed" in verdict.problem


def test_a_changed_actor_is_found(chain: tuple[Engine, sessionmaker[Session]]) -> None:
    engine, sessions = chain
    _sql(engine, "UPDATE audit_entry SET actor = 'bernd' WHERE seq = 5")
    assert _verify(sessions).first_bad_seq == 5


def test_a_deleted_entry_is_found(chain: tuple[Engine, sessionmaker[Session]]) -> None:
    engine, sessions = chain
    _sql(engine, "DELETE FROM audit_entry WHERE seq = 2")
    verdict = _verify(sessions)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)
    assert "missing" in verdict.problem


def test_deleting_the_newest_entries_is_found(chain: tuple[Engine, sessionmaker[Session]]) -> None:
    engine, sessions = chain
    _sql(engine, "DELETE FROM audit_entry WHERE seq >= 5")
    verdict = _verify(sessions)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 5)


def test_an_inserted_entry_is_found(chain: tuple[Engine, sessionmaker[Session]]) -> None:
    engine, sessions = chain
    _sql(
        engine,
        "INSERT INTO audit_entry (seq, at, actor, action, subject, alert_id, detail, "
        "prev_sha256, sha256) SELECT :seq, at, actor, action, subject, alert_id, detail, "
        "sha256, :sha FROM audit_entry WHERE seq = :last",
        seq=ENTRIES + 1,
        sha="f" * 64,
        last=ENTRIES,
    )
    verdict = _verify(sessions)
    assert (verdict.ok, verdict.first_bad_seq) == (False, ENTRIES + 1)


def test_an_entry_inserted_in_the_middle_with_renumbering_is_found(
    chain: tuple[Engine, sessionmaker[Session]],
) -> None:
    engine, sessions = chain
    # Make room after entry 3 and slip a forged entry in, hashed correctly onto entry 3.
    for seq in range(ENTRIES, 3, -1):
        _sql(engine, "UPDATE audit_entry SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    with sessions() as session:
        (three,) = [e for e in audit.entries(session) if e.seq == 3]
    forged_at = three.at + timedelta(seconds=1)
    detail = auditchain.canonical({"forged": True})
    sha = auditchain.entry_hash(
        three.sha256, 4, forged_at, "mallory", "login", "user:x", None, detail
    )
    _sql(
        engine,
        "INSERT INTO audit_entry (seq, at, actor, action, subject, alert_id, detail, "
        "prev_sha256, sha256) VALUES (4, :at, 'mallory', 'login', 'user:x', NULL, :d, :p, :s)",
        at=forged_at,
        d=detail,
        p=three.sha256,
        s=sha,
    )
    verdict = _verify(sessions)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 5)


def test_a_rebuilt_chain_is_found_by_the_copy_in_influxdb(
    tmp_path: Path, influxdb: InfluxDB
) -> None:
    """Someone who knows the hashing can rewrite the whole chain; the copy outside remains."""
    database = f"test_{uuid.uuid4().hex[:12]}"
    influxdb.query("", f'CREATE DATABASE "{database}"')
    url = f"sqlite:///{tmp_path}/alerts.sqlite3"
    service = AlertsService(
        AlertsSettings(database_url=url, influx_url=influxdb.url, influx_db=database)
    )
    try:
        migrate(url)
        _write_entries(service.sessions)
        assert service.flush_outbox() == ENTRIES
        assert service.verify_audit() == audit.Check(
            auditchain.Verdict(ok=True, entries=ENTRIES), compared=True, completed=True
        )
        _rewrite_from(service.sessions, 3, actor="mallory")
        checked = service.verify_audit()
        assert checked.compared
        verdict = checked.verdict
        assert (verdict.ok, verdict.first_bad_seq) == (False, 3)
        assert "InfluxDB" in verdict.problem
        with service.sessions() as session:
            assert audit.verify(session).ok  # the chain alone cannot tell
    finally:
        service.close()


def _rewrite_from(sessions: sessionmaker[Session], first: int, actor: str) -> None:
    """Change entry `first`, then rehash it and every later entry and the head."""
    with sessions.begin() as session:
        prev = auditchain.GENESIS
        for entry in list(audit.entries(session)):
            new_actor = actor if entry.seq == first else entry.actor
            sha = auditchain.entry_hash(
                prev,
                entry.seq,
                entry.at,
                new_actor,
                entry.action,
                entry.subject,
                entry.alert_id,
                entry.detail,
            )
            session.execute(
                text(
                    "UPDATE audit_entry SET actor = :a, prev_sha256 = :p, sha256 = :s "
                    "WHERE seq = :seq"
                ),
                {"a": new_actor, "p": prev, "s": sha, "seq": entry.seq},
            )
            prev = sha
        session.execute(text("UPDATE audit_head SET sha256 = :s WHERE id = 1"), {"s": prev})


def test_entries_appended_together_chain_up_with_those_of_other_sessions(
    chain: tuple[Engine, sessionmaker[Session]],
) -> None:
    """Events stored together append several entries in one transaction, and the head
    row is read once per transaction: the next transaction of the same session reads it
    again, after another session (or a rollback) moved it or left it."""
    _, sessions = chain

    def entry(session: Session, n: int) -> None:
        audit.append(
            session,
            actor=audit.SYSTEM,
            action="alert.opened",
            subject=f"alert:{n}",
            detail={"n": n},
            at=T0 + timedelta(hours=1, minutes=n),
        )

    with sessions() as session:
        with session.begin():
            entry(session, 0)
            session.rollback()
        with session.begin():
            for n in range(1, 4):
                entry(session, n)
        with sessions.begin() as other:
            entry(other, 4)
        with session.begin():
            entry(session, 5)
            entry(session, 6)
    assert _verify(sessions) == auditchain.Verdict(ok=True, entries=ENTRIES + 6)


# --- failing closed: every way the log and its copy can be cut ----------------------------


def test_a_deleted_head_row_is_found(chain: tuple[Engine, sessionmaker[Session]]) -> None:
    """Without its head, entries cut off the end of the log would leave a sound chain."""
    engine, sessions = chain
    _sql(engine, "DELETE FROM audit_entry WHERE seq >= 5")
    _sql(engine, "DELETE FROM audit_head")
    verdict = _verify(sessions)
    assert not verdict.ok
    assert "audit_head" in verdict.problem and "missing" in verdict.problem


@dataclass
class Copied:
    """A service whose log has ENTRIES entries, all copied into a real InfluxDB."""

    service: AlertsService
    influxdb: InfluxDB
    database: str
    database_url: str

    def influxql(self, statement: str) -> None:
        self.influxdb.query(self.database, statement)

    def verify(self) -> audit.Check:
        return self.service.verify_audit()

    def cli(self, *args: str, influx_url: str | None = None) -> tuple[int, str]:
        """`coldchain-alerts ARGS` as an operator runs it: exit status, output in one line."""
        settings = {
            "COLDCHAIN_ALERTS_DATABASE_URL": self.database_url,
            "COLDCHAIN_ALERTS_INFLUX_URL": self.influxdb.url if influx_url is None else influx_url,
            "COLDCHAIN_ALERTS_INFLUX_DB": self.database,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
        done = subprocess.run(
            [str(BIN / "coldchain-alerts"), *args],
            env=env | settings,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, " ".join((done.stdout + done.stderr).split())


@pytest.fixture
def copied(database_url: str, influxdb: InfluxDB) -> Iterator[Copied]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    influxdb.query("", f'CREATE DATABASE "{database}"')
    migrate(database_url)
    service = AlertsService(
        AlertsSettings(database_url=database_url, influx_url=influxdb.url, influx_db=database)
    )
    try:
        _write_entries(service.sessions)
        assert service.flush_outbox() == ENTRIES
        yield Copied(service, influxdb, database, database_url)
    finally:
        service.close()


def test_an_intact_log_and_copy_verify_from_the_command_line(copied: Copied) -> None:
    assert copied.cli("audit", "verify") == (
        0,
        f"intact: {ENTRIES} entries; the chain, its head and the copy in InfluxDB agree",
    )


def test_a_dropped_copy_is_found(copied: Copied) -> None:
    copied.influxql(f'DROP MEASUREMENT "{measurements.AUDIT_CHAIN}"')
    status, output = copied.cli("audit", "verify")
    assert status == 1, output
    assert output.startswith(f"NOT INTACT at entry 1: entries 1 to {ENTRIES} are not in the copy")
    assert "DROP MEASUREMENT" in output and "retention policy" in output
    checked = copied.verify()
    assert (checked.verdict.ok, checked.verdict.first_bad_seq, checked.compared) == (False, 1, True)
    assert f"entries 1 to {ENTRIES} are not in the copy" in checked.verdict.problem


def test_a_copy_missing_its_newest_entries_is_found(copied: Copied) -> None:
    with copied.service.sessions() as session:
        fourth = next(e for e in audit.entries(session) if e.seq == 4)
    copied.influxql(
        f'DELETE FROM "{measurements.AUDIT_CHAIN}" WHERE time > {nanoseconds(fourth.at)}'
    )
    assert copied.cli("audit", "verify")[0] == 1
    verdict = copied.verify().verdict
    assert (verdict.ok, verdict.first_bad_seq) == (False, 5)
    assert f"entries 5 to {ENTRIES} are not in the copy" in verdict.problem


def test_entries_cut_off_the_end_with_their_head_are_found_by_the_copy(copied: Copied) -> None:
    engine = copied.service.engine
    with copied.service.sessions() as session:
        fourth = next(e for e in audit.entries(session) if e.seq == 4)
    _sql(engine, "DELETE FROM audit_entry WHERE seq >= 5")
    _sql(
        engine,
        "UPDATE audit_head SET seq = 4, sha256 = :sha, at = :at WHERE id = 1",
        sha=fourth.sha256,
        at=fourth.at,
    )
    with copied.service.sessions() as session:
        assert audit.verify(session).ok  # the chain and its head alone cannot tell
    verdict = copied.verify().verdict
    assert (verdict.ok, verdict.first_bad_seq) == (False, 5)
    assert "in the copy kept in InfluxDB but not in the log: deleted" in verdict.problem


@pytest.mark.parametrize("head", ["reset", "deleted"])
def test_an_emptied_log_is_found(copied: Copied, head: str) -> None:
    engine = copied.service.engine
    _sql(engine, "DELETE FROM audit_entry")
    if head == "reset":
        _sql(engine, "UPDATE audit_head SET seq = 0, sha256 = :g, at = NULL", g=auditchain.GENESIS)
    else:
        _sql(engine, "DELETE FROM audit_head")
    status, output = copied.cli("audit", "verify")
    assert status == 1 and "NOT INTACT" in output, output
    verdict = copied.verify().verdict
    assert (verdict.ok, verdict.entries) == (False, 0)


def test_an_unreachable_influxdb_fails_the_check(copied: Copied) -> None:
    """The copy cannot be compared: not intact as far as anyone can show, exit 2."""
    unreachable = f"http://127.0.0.1:{free_port()}"
    status, output = copied.cli("audit", "verify", influx_url=unreachable)
    assert status == 2, output
    assert output.startswith("NOT VERIFIED: could not read the chain's copy in InfluxDB")
    assert "COLDCHAIN_ALERTS_INFLUX_URL" in output
    service = AlertsService(
        AlertsSettings(
            database_url=copied.database_url, influx_url=unreachable, influx_db=copied.database
        )
    )
    try:
        checked = service.verify_audit()
        verdict = service.record_audit_verdict()
        gauge = service.metrics.registry.get_sample_value("coldchain_alerts_audit_chain_ok")
    finally:
        service.close()
    assert (checked.verdict.ok, checked.compared, checked.completed) == (False, False, False)
    assert checked.verdict.entries == ENTRIES
    assert "could not read the chain's copy in InfluxDB" in checked.verdict.problem
    assert unreachable in checked.verdict.problem
    assert not verdict.ok and gauge == 0


def test_an_unreadable_database_fails_the_check(copied: Copied) -> None:
    _sql(copied.service.engine, "DROP TABLE audit_site")  # it refers to audit_entry
    _sql(copied.service.engine, "DROP TABLE audit_entry")
    status, output = copied.cli("audit", "verify")
    assert status == 2 and "could not read the audit log from the database" in output, output
    assert "audit_entry" in output
    checked = copied.verify()
    assert (checked.verdict.ok, checked.completed) == (False, False)


def test_without_influxdb_the_command_line_says_what_it_cannot_see(copied: Copied) -> None:
    status, output = copied.cli("audit", "verify", influx_url="")
    assert status == 0
    assert f"as far as the database shows: {ENTRIES} entries" in output
    assert "InfluxDB is not configured" in output


def test_entries_still_waiting_to_be_copied_are_no_finding(copied: Copied) -> None:
    with copied.service.writes.begin() as session:
        audit.append(session, actor="anna", action="login", subject="user:anna", detail={})
    influx = copied.service.influx
    assert influx is not None
    checked = audit.check(copied.service.sessions, influx.audit_copy)
    assert checked == audit.Check(
        auditchain.Verdict(ok=True, entries=ENTRIES + 1), compared=True, completed=True
    )


def test_a_copy_influxdb_refused_is_named_with_the_reason(copied: Copied) -> None:
    """Queued during an outage longer than the database's retention: InfluxDB refuses it."""
    copied.influxql(
        f'ALTER RETENTION POLICY "autogen" ON "{copied.database}" DURATION 1h SHARD DURATION 1h'
    )
    with copied.service.writes.begin() as session:
        audit.append(
            session,
            actor="anna",
            action="login",
            subject="user:anna",
            detail={},
            at=datetime.now(UTC) - timedelta(hours=2),
        )
    checked = copied.verify()
    assert (checked.verdict.ok, checked.verdict.first_bad_seq) == (False, ENTRIES + 1)
    assert f"InfluxDB refused the copy of entry {ENTRIES + 1}" in checked.verdict.problem
    assert "retention" in checked.verdict.problem
    assert "influx_dead_letter" in checked.verdict.problem


def test_a_point_another_writer_added_to_the_copy_fails_the_check(copied: Copied) -> None:
    forged = f'seq=3i,sha256="{"f" * 64}",action="login",actor="mallory"'
    copied.influxdb.write(copied.database, f"{measurements.AUDIT_CHAIN} {forged} {nanoseconds(T0)}")
    status, output = copied.cli("audit", "verify")
    assert status == 2, output
    assert "holds entry 3 twice, with two hashes: another writer changed the copy" in output


def test_the_api_says_not_ok_when_the_copy_cannot_be_read(
    copied: Copied, mosquitto: Mosquitto
) -> None:
    settings = AlertsSettings(
        database_url=copied.database_url,
        mqtt_port=mosquitto.port,
        influx_url=f"http://127.0.0.1:{free_port()}",
        influx_db=copied.database,
    )
    token = token_for(copied.database_url, "ulrike", Role.AUDITOR)
    with TestClient(create_app(settings)) as client:
        answer = client.get("/api/v1/audit/verify", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    verdict = answer.json()
    assert (verdict["ok"], verdict["compared_with_influxdb"]) == (False, False)
    assert verdict["problem"].startswith("could not read the chain's copy in InfluxDB")
