"""The audit log's hash chain: how an entry is hashed, and how the chain is checked.

Each entry's SHA-256 covers its own content and the previous entry's hash, so
changing, inserting or deleting an entry breaks the chain from there on. Someone
who can write the database and knows this code can rebuild a consistent chain,
so the chain is also checked against copies kept elsewhere: the head row the
service keeps, and the hash of every entry written to InfluxDB (`audit_chain`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: `prev_sha256` of the first entry.
GENESIS = "0" * 64


def canonical(detail: Mapping[str, Any]) -> str:
    """JSON with sorted keys and no spaces: the same text for the same content."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Entry:
    """An audit-log entry as stored. `at` is UTC; `detail` is canonical JSON."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    alert_id: int | None
    detail: str
    prev_sha256: str
    sha256: str


def entry_hash(
    prev_sha256: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    alert_id: int | None,
    detail: str,
) -> str:
    """SHA-256 (hex) over the previous hash and every field of the entry."""
    content = [
        prev_sha256,
        seq,
        at.astimezone(UTC).isoformat(timespec="microseconds"),
        actor,
        action,
        subject,
        alert_id,
        detail,
    ]
    return hashlib.sha256(canonical({"entry": content}).encode()).hexdigest()


@dataclass(frozen=True)
class Verdict:
    """What a check of the chain found: the first problem, or none."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify(
    entries: Iterable[Entry],
    head: tuple[int, str] | None,
    copy: Mapping[int, str] | None = None,
) -> Verdict:
    """Check `entries` (in `seq` order) against their hashes, `head` and `copy`.

    `head` is the (seq, sha256) the service recorded as last; `copy` maps seq to
    sha256 as kept outside the database (it may lag behind: entries newer than
    its newest are checked by the chain and the head only). Reports the first
    entry that was changed, inserted or deleted.
    """
    expected_seq, prev, count = 1, GENESIS, 0
    for entry in entries:
        count += 1
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                return _bad(count, expected_seq, f"entry {expected_seq} is missing: deleted")
            return _bad(count, entry.seq, f"entry {entry.seq} appears twice")
        recomputed = entry_hash(
            entry.prev_sha256,
            entry.seq,
            entry.at,
            entry.actor,
            entry.action,
            entry.subject,
            entry.alert_id,
            entry.detail,
        )
        if recomputed != entry.sha256:
            return _bad(count, entry.seq, f"entry {entry.seq} was changed: its hash does not match")
        if entry.prev_sha256 != prev:
            return _bad(
                count,
                entry.seq,
                f"entry {entry.seq} does not follow entry {entry.seq - 1}: "
                "an entry was inserted, deleted or rewritten here",
            )
        if copy is not None and entry.seq in copy and copy[entry.seq] != entry.sha256:
            return _bad(
                count,
                entry.seq,
                f"entry {entry.seq} differs from the copy kept in InfluxDB: rewritten",
            )
        prev, expected_seq = entry.sha256, expected_seq + 1
    last = expected_seq - 1
    if head is not None and head != (last, prev if last else GENESIS):
        head_seq = head[0]
        if head_seq > last:
            return _bad(count, last + 1, f"entries {last + 1} to {head_seq} are missing: deleted")
        return _bad(
            count,
            head_seq + 1 if head_seq < last else last,
            f"the log ends at entry {last} but its head names entry {head_seq}: "
            "entries were inserted, or the head was changed",
        )
    newest_copy = max(copy, default=0) if copy else 0
    if newest_copy > last:
        return _bad(
            count,
            last + 1,
            f"entries {last + 1} to {newest_copy} are in the copy kept in InfluxDB "
            "but not in the log: deleted",
        )
    return Verdict(ok=True, entries=count)


def _bad(entries: int, seq: int, problem: str) -> Verdict:
    return Verdict(ok=False, entries=entries, first_bad_seq=seq, problem=problem)
