"""The audit log's hash chain finds what was changed behind the service's back.

The entries are written by the service's own code; the tampering is raw SQL,
as someone with database access would do it. On SQLite and on PostgreSQL, and
against the copy of the chain the service keeps in a real InfluxDB.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from coldchain import auditchain
from coldchain_alerts import audit
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_alerts.service import AlertsService
from coldchain_alerts.settings import AlertsSettings
from servers import InfluxDB

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
        assert service.verify_audit() == (auditchain.Verdict(ok=True, entries=ENTRIES), True)
        _rewrite_from(service.sessions, 3, actor="mallory")
        verdict, compared = service.verify_audit()
        assert compared
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
