"""The audit log: append an entry under the chain's lock; check the chain.

Every alert step, notification, login and change of contacts, policies or users
is one entry (docs/alerts.md). Entries are only ever added: nothing in the
service updates or deletes them. The chain's hashing and checking are pure
(`coldchain.auditchain`); this module only reads and writes the rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain import auditchain, measurements
from coldchain.lineprotocol import point
from coldchain_alerts.models import AuditEntry, AuditHead
from coldchain_alerts.outbox import queue

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
) -> AuditEntry:
    """Add one entry after the current head; the caller commits.

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


def entries(session: Session, batch: int = 1000) -> Iterator[auditchain.Entry]:
    """Every entry in `seq` order, read in batches."""
    after = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield as_entry(row)
        after = rows[-1].seq


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


def verify(session: Session, copy: Mapping[int, str] | None = None) -> auditchain.Verdict:
    """Check the whole chain, its head row, and `copy` (seq -> sha256) when given."""
    head = session.get(AuditHead, 1)
    return auditchain.verify(
        entries(session), None if head is None else (head.seq, head.sha256), copy
    )
