"""The audit log's hash chain: how an entry is hashed, and how the chain is checked.

Each entry's SHA-256 covers its own content and the previous entry's hash, so
changing, inserting or deleting an entry breaks the chain from there on. Someone
who can write the database and knows this code can rebuild a consistent chain,
or cut entries off its end, so the chain is also checked against copies kept
elsewhere: the head row the service keeps, and the hash of every entry written
to InfluxDB (`audit_chain`). A check fails closed: a missing head, or an entry
missing from the copy that is not waiting to be copied, is a finding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Set
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
class Copy:
    """The chain's copy kept outside the database, and what accounts for a gap in it.

    `hashes` maps seq to sha256 as read from the copy. `waiting` are the entries whose
    copy is still queued to be written, `refused` maps an entry to the reason the copy's
    store refused it. Every entry up to `complete_to` existed before `hashes` were read,
    so its copy must be in one of the three; later entries may not have reached it yet.
    `expired_before`: the copy's store keeps nothing older for sure (InfluxDB's retention
    policy drops whole shard groups past it), so an entry made before it may be gone
    from the copy; one that is still there is compared all the same.
    """

    hashes: Mapping[int, str]
    waiting: Set[int]
    refused: Mapping[int, str]
    complete_to: int
    expired_before: datetime | None = None


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
    copy: Copy | None = None,
) -> Verdict:
    """Check `entries` (in `seq` order) against their hashes, `head` and `copy`.

    `head` is the (seq, sha256) the service recorded as last, None when its record is
    gone; `copy` is the copy kept outside the database, None when there is none. Reports
    the first entry that was changed, inserted or deleted, or is missing from the copy.
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
        if copy is not None and (problem := _against_copy(entry, copy)):
            return _bad(count, entry.seq, problem)
        prev, expected_seq = entry.sha256, expected_seq + 1
    last = expected_seq - 1
    if head is None:
        return Verdict(
            ok=False,
            entries=count,
            problem="the record of the log's last entry (table audit_head) is missing: "
            "deleted; entries cut off the end of the log cannot be seen without it",
        )
    if head != (last, prev if last else GENESIS):
        head_seq = head[0]
        if head_seq > last:
            return _bad(count, last + 1, f"entries {last + 1} to {head_seq} are missing: deleted")
        return _bad(
            count,
            head_seq + 1 if head_seq < last else last,
            f"the log ends at entry {last} but its head names entry {head_seq}: "
            "entries were inserted, or the head was changed",
        )
    newest_copy = max(copy.hashes, default=0) if copy is not None else 0
    if newest_copy > last:
        return _bad(
            count,
            last + 1,
            f"entries {last + 1} to {newest_copy} are in the copy kept in InfluxDB "
            "but not in the log: deleted",
        )
    return Verdict(ok=True, entries=count)


def _against_copy(entry: Entry, copy: Copy) -> str:
    """What is wrong with `entry` by the copy; empty when nothing is."""
    seq = entry.seq
    copied = copy.hashes.get(seq)
    if copied is not None:
        if copied != entry.sha256:
            return f"entry {seq} differs from the copy kept in InfluxDB: rewritten"
        return ""
    if seq > copy.complete_to or seq in copy.waiting:
        return ""
    if seq in copy.refused:
        return (
            f"InfluxDB refused the copy of entry {seq} ({copy.refused[seq]}); it is kept in "
            "the table influx_dead_letter: remove the cause, then replay it "
            "(`coldchain-alerts dead-letters replay`)"
        )
    if copy.expired_before is not None and entry.at < copy.expired_before:
        return ""
    last = seq
    while last < copy.complete_to and not _accounted(last + 1, copy):
        last += 1
    which = f"entry {seq} is" if last == seq else f"entries {seq} to {last} are"
    return (
        f"{which} not in the copy kept in InfluxDB, nor waiting to be copied: the copy was "
        "deleted (DROP MEASUREMENT, DELETE) or lost; check InfluxDB's audit_chain "
        "measurement and the retention policy of its database"
    )


def _accounted(seq: int, copy: Copy) -> bool:
    return seq in copy.hashes or seq in copy.waiting or seq in copy.refused


def _bad(entries: int, seq: int, problem: str) -> Verdict:
    return Verdict(ok=False, entries=entries, first_bad_seq=seq, problem=problem)
