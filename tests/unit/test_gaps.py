"""A gateway's messages put in seq order across a gap (ingest/coldchain_ingest/gaps.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from coldchain_ingest.gaps import GapWait

VAN = ("hub", "van-2")
ROOM = ("hub", "room-1")


def _gaps(marks: dict[tuple[str, str], int] | None = None, most: int = 100) -> GapWait[str]:
    return GapWait(wait_s=10.0, most_waiting=most, marks={VAN: 2} if marks is None else marks)


def test_a_message_after_a_gap_waits_for_the_missing_one() -> None:
    gaps = _gaps()
    gaps.admit(VAN, 4, "4", now=0.0)
    gaps.admit(VAN, 5, "5", now=0.0)
    assert (gaps.ready(), gaps.waiting) == ([], 2)
    gaps.admit(VAN, 3, "3", now=1.0)
    assert (gaps.ready(), gaps.waiting) == (["3", "4", "5"], 0)


def test_other_gateways_do_not_wait() -> None:
    gaps = _gaps()
    gaps.admit(VAN, 4, "van 4", now=0.0)
    gaps.admit(ROOM, 7, "room 7", now=0.0)
    assert gaps.ready() == ["room 7"]


def test_a_message_again_or_late_is_ready_at_once() -> None:
    gaps = _gaps()
    gaps.admit(VAN, 2, "2 again", now=0.0)
    gaps.admit(VAN, 3, "3", now=0.0)
    gaps.admit(VAN, 1, "1 late", now=0.0)
    assert gaps.ready() == ["2 again", "3", "1 late"]


def test_a_refused_message_counts_as_come() -> None:
    gaps = _gaps()
    gaps.admit(VAN, 5, "5", now=0.0)
    gaps.refused(VAN, 4, now=0.0)
    assert gaps.ready() == []
    gaps.refused(VAN, 3, now=1.0)
    assert gaps.ready() == ["5"]


def test_the_wait_is_bounded() -> None:
    gaps = _gaps()
    gaps.admit(VAN, 5, "5", now=0.0)
    gaps.admit(VAN, 4, "4", now=3.0)
    gaps.overdue(now=9.9)
    assert gaps.ready() == []
    gaps.overdue(now=10.0)
    assert (gaps.ready(), gaps.waiting) == (["4", "5"], 0)
    gaps.admit(VAN, 3, "3 at last", now=11.0)
    gaps.admit(VAN, 6, "6", now=11.0)
    assert gaps.ready() == ["3 at last", "6"]


def test_too_many_waiting_let_the_longest_waiting_gateway_go_on() -> None:
    gaps = _gaps({VAN: 2, ROOM: 0}, most=2)
    gaps.admit(VAN, 4, "van 4", now=0.0)
    gaps.admit(ROOM, 2, "room 2", now=1.0)
    gaps.admit(ROOM, 3, "room 3", now=1.0)
    assert (gaps.ready(), gaps.waiting) == (["van 4"], 2)


def test_an_unknown_gateway_starts_where_its_first_message_does() -> None:
    gaps = _gaps({})
    gaps.admit(VAN, 7, "7", now=0.0)
    gaps.admit(VAN, 9, "9", now=0.0)
    assert gaps.ready() == ["7"]


@given(st.permutations(range(3, 13)))
def test_every_order_comes_out_in_seq_order(seqs: list[int]) -> None:
    gaps = _gaps()
    for seq in seqs:
        gaps.admit(VAN, seq, str(seq), now=0.0)
    assert gaps.ready() == [str(seq) for seq in range(3, 13)]
    assert gaps.waiting == 0
