"""The audit chain's check against its head and its copy: what accounts for a gap, what not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coldchain.auditchain import GENESIS, Copy, Entry, Verdict, entry_hash, verify

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _chain(n: int) -> list[Entry]:
    entries, prev = [], GENESIS
    for seq in range(1, n + 1):
        at = T0 + timedelta(seconds=seq)
        sha = entry_hash(prev, seq, at, "anna", "login", "user:anna", None, "{}")
        entries.append(Entry(seq, at, "anna", "login", "user:anna", None, "{}", prev, sha))
        prev = sha
    return entries


def _head(entries: list[Entry]) -> tuple[int, str]:
    return (entries[-1].seq, entries[-1].sha256) if entries else (0, GENESIS)


def _copy(
    entries: list[Entry],
    copied: range,
    waiting: frozenset[int] = frozenset(),
    refused: dict[int, str] | None = None,
) -> Copy:
    hashes = {e.seq: e.sha256 for e in entries if e.seq in copied}
    return Copy(hashes, waiting, refused or {}, complete_to=len(entries))


def test_entries_waiting_to_be_copied_are_no_finding() -> None:
    entries = _chain(6)
    copy = _copy(entries, range(1, 4), frozenset({4, 5, 6}))
    assert verify(entries, _head(entries), copy) == Verdict(ok=True, entries=6)


def test_entries_newer_than_those_accounted_for_may_not_have_reached_the_copy() -> None:
    entries = _chain(6)
    copy = Copy({e.seq: e.sha256 for e in entries[:4]}, set(), {}, complete_to=4)
    assert verify(entries, _head(entries), copy).ok


def test_entries_missing_from_the_copy_are_named_as_one_run() -> None:
    entries = _chain(6)
    verdict = verify(entries, _head(entries), _copy(entries, range(1, 3)))
    assert (verdict.ok, verdict.first_bad_seq) == (False, 3)
    assert verdict.problem.startswith("entries 3 to 6 are not in the copy kept in InfluxDB")


def test_a_dropped_copy_is_a_finding() -> None:
    entries = _chain(2)
    verdict = verify(entries, _head(entries), _copy(entries, range(0)))
    assert (verdict.ok, verdict.first_bad_seq) == (False, 1)
    assert verdict.problem.startswith("entries 1 to 2 are not in the copy")


def test_a_gap_in_the_middle_of_the_copy_ends_where_the_copy_resumes() -> None:
    entries = _chain(6)
    copy = Copy({e.seq: e.sha256 for e in entries if e.seq != 4}, set(), {}, complete_to=6)
    verdict = verify(entries, _head(entries), copy)
    assert verdict.problem.startswith("entry 4 is not in the copy")


def test_a_copy_the_store_refused_is_named_with_its_reason() -> None:
    entries = _chain(3)
    copy = _copy(entries, range(1, 3), refused={3: "400: points beyond retention policy"})
    verdict = verify(entries, _head(entries), copy)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 3)
    assert "refused the copy of entry 3 (400: points beyond retention policy)" in verdict.problem


def test_a_missing_head_is_a_finding_even_for_a_sound_chain() -> None:
    entries = _chain(3)
    verdict = verify(entries[:2], None)
    assert not verdict.ok and "audit_head" in verdict.problem
    assert not verify([], None).ok


def test_an_empty_log_with_its_head_at_the_start_and_no_copy_is_intact() -> None:
    """A new service: nothing to find (an emptied log shows by its head or its copy)."""
    assert verify([], (0, GENESIS), Copy({}, set(), {}, 0)) == Verdict(ok=True, entries=0)


def test_entries_older_than_the_stores_retention_may_be_gone_from_the_copy() -> None:
    """InfluxDB's retention policy drops the oldest copies; the log keeps them."""
    entries = _chain(6)
    kept_since = entries[3].at  # entries 1 to 3 are older than the retention keeps
    copy = Copy(
        {e.seq: e.sha256 for e in entries[3:]}, set(), {}, complete_to=6, expired_before=kept_since
    )
    assert verify(entries, _head(entries), copy) == Verdict(ok=True, entries=6)


def test_a_newer_entry_missing_from_the_copy_is_a_finding_despite_the_retention() -> None:
    entries = _chain(6)
    kept = {e.seq: e.sha256 for e in entries if e.seq not in (1, 5)}
    copy = Copy(kept, set(), {}, complete_to=6, expired_before=entries[2].at)
    verdict = verify(entries, _head(entries), copy)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 5)


def test_an_old_entry_still_in_the_copy_is_compared_all_the_same() -> None:
    entries = _chain(3)
    kept = {e.seq: e.sha256 for e in entries} | {1: "0" * 64}
    copy = Copy(kept, set(), {}, complete_to=3, expired_before=entries[2].at)
    verdict = verify(entries, _head(entries), copy)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 1)
    assert "rewritten" in verdict.problem
