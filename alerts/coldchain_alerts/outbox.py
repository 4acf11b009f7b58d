"""Points for InfluxDB, queued in the transaction that records what they show.

The alerts service copies alert steps and the audit chain into InfluxDB for
Grafana. Queuing them in the database, in the same transaction as the step, and
writing them from a background job means an InfluxDB outage delays the copy but
never loses it, and never blocks a hygiene officer's acknowledgement.

A point InfluxDB refuses (it cannot parse or store it, or a field has another
type there) would be refused again at every try; it is set aside as a dead
letter, with InfluxDB's reason, so that the points behind it are written. An
operator lists and replays dead letters once the cause is removed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from coldchain_alerts.models import InfluxDeadLetter, InfluxOutbox

#: Ids per statement, well below SQLite's limit on parameters.
_IDS_PER_STATEMENT = 500


def queue(session: Session, line: str, audit_seq: int | None = None) -> None:
    """Queue `line`; `audit_seq` names the audit-log entry it copies, if it does."""
    session.add(InfluxOutbox(line=line, audit_seq=audit_seq))


def oldest(session: Session, limit: int) -> list[InfluxOutbox]:
    return list(session.scalars(select(InfluxOutbox).order_by(InfluxOutbox.id).limit(limit)))


def remove(session: Session, ids: Collection[int]) -> None:
    """Remove the points with these ids, those written: only those, as a point queued
    by a transaction that committed late may have a lower id than one already read."""
    for chunk in _chunks(ids):
        session.execute(delete(InfluxOutbox).where(InfluxOutbox.id.in_(chunk)))


def set_aside(session: Session, refused: Mapping[int, str], at: datetime) -> list[InfluxDeadLetter]:
    """Move the queued points with these ids to the dead letters, with InfluxDB's reason.

    Returns those moved: a point another writer has moved or written meanwhile (the
    service and `audit verify` both write the outbox) is not set aside twice.
    """
    moved = []
    for chunk in _chunks(refused):
        rows = session.scalars(
            select(InfluxOutbox).where(InfluxOutbox.id.in_(chunk)).with_for_update()
        )
        for row in rows:
            letter = InfluxDeadLetter(
                id=row.id,
                line=row.line,
                audit_seq=row.audit_seq,
                reason=refused[row.id],
                refused_at=at,
                attempts=1,
            )
            session.add(letter)
            session.delete(row)
            moved.append(letter)
    return moved


def dead_letters(session: Session, ids: Collection[int] = ()) -> list[InfluxDeadLetter]:
    """The dead letters with these ids (all when none are given), oldest first."""
    query = select(InfluxDeadLetter).order_by(InfluxDeadLetter.id)
    if ids:
        query = query.where(InfluxDeadLetter.id.in_(ids))
    return list(session.scalars(query))


def count_dead_letters(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(InfluxDeadLetter)) or 0


def settle(
    session: Session, stored: Collection[int], refused: Mapping[int, str], at: datetime
) -> None:
    """After a replay: forget the dead letters InfluxDB stored, count the refusals of the rest."""
    for chunk in _chunks(stored):
        session.execute(delete(InfluxDeadLetter).where(InfluxDeadLetter.id.in_(chunk)))
    for chunk in _chunks(refused):
        for letter in session.scalars(
            select(InfluxDeadLetter).where(InfluxDeadLetter.id.in_(chunk)).with_for_update()
        ):
            letter.reason = refused[letter.id]
            letter.refused_at = at
            letter.attempts += 1


def _chunks(ids: Collection[int]) -> Iterator[Sequence[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), _IDS_PER_STATEMENT):
        yield ordered[start : start + _IDS_PER_STATEMENT]
