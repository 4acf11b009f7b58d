"""The audit log: append an entry under the chain's lock; check the chain.

Every alert step, notification, login and change of contacts, policies or users
is one entry (docs/alerts.md). Entries are only ever added: nothing in the
service updates or deletes them. The chain's hashing and checking are pure
(`coldchain.auditchain`); this module only reads and writes the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from coldchain import auditchain, measurements
from coldchain_alerts.db import read_snapshot
from coldchain_alerts.influx import InfluxError
from coldchain_alerts.models import (
    AuditEntry,
    AuditHead,
    AuditSite,
    InfluxDeadLetter,
    InfluxOutbox,
)
from coldchain_alerts.outbox import queue
from coldchain_io.lineprotocol import point

_Query = TypeVar("_Query", bound=Select[Any])

SYSTEM = "system"
"""The actor of what the service does by itself (alert events, escalation)."""
#: Where a session keeps the head row it has locked, with the transaction holding the lock.
_HEAD = "coldchain_audit_head"


def append(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    detail: Mapping[str, Any],
    alert_id: int | None = None,
    at: datetime | None = None,
    sites: Collection[str] = (),
) -> AuditEntry:
    """Add one entry after the current head; the caller commits. `sites`: the sites the
    entry concerns, whose users may read it (`of_sites`); none: only users of every site.

    The head row is locked first (SELECT ... FOR UPDATE on PostgreSQL; SQLite
    transactions take the write lock when they begin, see db.py), so two
    transactions never chain entries to the same predecessor.
    """
    head = _locked_head(session)
    when = (at or datetime.now(UTC)).astimezone(UTC)
    if head.at is not None and when <= head.at:
        # Strictly increasing times: the InfluxDB copy keys a point by its time.
        when = head.at + timedelta(microseconds=1)
    seq = head.seq + 1
    text = auditchain.canonical(detail)
    sha256 = auditchain.entry_hash(head.sha256, seq, when, actor, action, subject, alert_id, text)
    entry = AuditEntry(
        seq=seq,
        at=when,
        actor=actor,
        action=action,
        subject=subject,
        alert_id=alert_id,
        detail=text,
        prev_sha256=head.sha256,
        sha256=sha256,
    )
    session.add(entry)
    session.add_all(AuditSite(seq=seq, site=site) for site in set(sites))
    head.seq, head.sha256, head.at = seq, sha256, when
    queue(
        session,
        point(
            measurements.AUDIT_CHAIN,
            {},
            {"seq": seq, "sha256": sha256, "action": action, "actor": actor},
            when,
        ),
        audit_seq=seq,
    )
    return entry


def _locked_head(session: Session) -> AuditHead:
    """The head row, locked until the transaction ends; read once per transaction, as
    no other transaction can move it meanwhile (events stored together append several
    entries)."""
    held = session.info.get(_HEAD)
    if held is not None and held[0] is session.get_transaction():
        head: AuditHead = held[1]
        return head
    # Read the row as locked now, not as an earlier transaction of the session left it.
    locking = select(AuditHead).where(AuditHead.id == 1).with_for_update()
    head = session.scalars(locking.execution_options(populate_existing=True)).one()
    session.info[_HEAD] = (session.get_transaction(), head)
    return head


def entries(
    session: Session, batch: int = 1000, sites: Collection[str] | None = None
) -> Iterator[auditchain.Entry]:
    """Every entry in `seq` order, read in batches; with `sites`, only those a user of
    these sites reads (`of_sites`)."""
    after = 0
    while True:
        query = select(AuditEntry).where(AuditEntry.seq > after)
        rows = session.scalars(of_sites(query, sites).order_by(AuditEntry.seq).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield as_entry(row)
        after = rows[-1].seq


def of_sites(query: _Query, sites: Collection[str] | None) -> _Query:
    """Only the entries a user of `sites` reads (None: every entry): those that concern
    some site and only sites of theirs (their alerts' steps, their fleet's changes, their
    gateways, policies and calibration checks). Entries about no site (logins, users,
    tokens, contacts) and those that concern another site too (a whole fleet imported)
    are the hub's (docs/security.md)."""
    if sites is None:
        return query
    concerns = select(AuditSite.seq).where(AuditSite.seq == AuditEntry.seq)
    return query.where(concerns.exists(), ~concerns.where(AuditSite.site.not_in(sites)).exists())


def as_entry(row: AuditEntry) -> auditchain.Entry:
    return auditchain.Entry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        alert_id=row.alert_id,
        detail=row.detail,
        prev_sha256=row.prev_sha256,
        sha256=row.sha256,
    )


def verify(session: Session, copy: auditchain.Copy | None = None) -> auditchain.Verdict:
    """Check the whole chain, its head row, and `copy` when given, in one snapshot."""
    read_snapshot(session)
    head = session.get(AuditHead, 1)
    return auditchain.verify(
        entries(session), None if head is None else (head.seq, head.sha256), copy
    )


@dataclass(frozen=True)
class Check:
    """A check of the audit log: what it found, and against what."""

    verdict: auditchain.Verdict
    compared: bool
    """With the chain's copy in InfluxDB."""
    completed: bool
    """False when the database or InfluxDB could not be read: the verdict is not ok and
    says which; true when the verdict is the finding of a whole check."""


def check(
    sessions: sessionmaker[Session],
    read_copy: Callable[[], Mapping[int, str]] | None,
    read_kept_since: Callable[[], datetime | None] = lambda: None,
) -> Check:
    """Check the log, and against the copy `read_copy` reads (None: there is none);
    entries older than what the copy's store surely keeps (`read_kept_since`, its
    retention) may be gone from the copy.

    Fails closed: a copy that cannot be read, or a database that cannot, gives a
    verdict that is not ok, naming what to look at.
    """
    try:
        if read_copy is None:
            return Check(_verify(sessions, None), compared=False, completed=True)
        with sessions() as session:
            read_snapshot(session)
            complete_to, waiting, refused = _accounted(session)
        try:
            hashes, kept_since = read_copy(), read_kept_since()
        except InfluxError as exc:
            return _without_copy(sessions, exc)
        copy = auditchain.Copy(hashes, waiting, refused, complete_to, kept_since)
        return Check(_verify(sessions, copy), compared=True, completed=True)
    except SQLAlchemyError as exc:
        return unreadable_database(exc)


def unreadable_database(exc: SQLAlchemyError) -> Check:
    reason = str(exc).splitlines()[0]
    problem = (
        f"could not read the audit log from the database: {reason}; check that the "
        "database answers (COLDCHAIN_ALERTS_DATABASE_URL), that its schema is up to date "
        "(coldchain-alerts db upgrade) and that its tables audit_entry and audit_head "
        "exist, then verify again"
    )
    return Check(auditchain.Verdict(ok=False, entries=0, problem=problem), False, False)


def _verify(sessions: sessionmaker[Session], copy: auditchain.Copy | None) -> auditchain.Verdict:
    with sessions() as session:
        return verify(session, copy)


def _without_copy(sessions: sessionmaker[Session], exc: InfluxError) -> Check:
    """The chain alone: its own finding if it has one, else that the copy is unreadable."""
    verdict = _verify(sessions, None)
    if not verdict.ok:
        return Check(verdict, compared=False, completed=True)
    problem = (
        f"could not read the chain's copy in InfluxDB: {exc}. The {verdict.entries} entries "
        "and the head agree, but without the copy a rebuilt chain or entries cut off its "
        "end would not show: check that InfluxDB answers (COLDCHAIN_ALERTS_INFLUX_URL) "
        "and what its audit_chain measurement holds, then verify again"
    )
    return Check(
        auditchain.Verdict(ok=False, entries=verdict.entries, problem=problem),
        compared=False,
        completed=False,
    )


def _accounted(session: Session) -> tuple[int, set[int], dict[int, str]]:
    """The newest entry, the entries whose copy waits in the outbox, and those whose
    copy InfluxDB refused (with its reason)."""
    newest = session.scalar(select(func.max(AuditEntry.seq))) or 0
    waiting = session.scalars(
        select(InfluxOutbox.audit_seq).where(InfluxOutbox.audit_seq.is_not(None))
    )
    refused = session.execute(
        select(InfluxDeadLetter.audit_seq, InfluxDeadLetter.reason).where(
            InfluxDeadLetter.audit_seq.is_not(None)
        )
    )
    return (
        newest,
        {seq for seq in waiting if seq is not None},
        {seq: reason for seq, reason in refused if seq is not None},
    )
