"""What a retired gateway's message may still bring (coldchain.retirement)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coldchain.contract import Event, EventKind, Position, Reading, Telemetry
from coldchain.retirement import up_to

RETIRED = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)


def _message(*minutes: int, sent: int = 0, battery_v: float | None = 3.1) -> Telemetry:
    at = [RETIRED + timedelta(minutes=m) for m in minutes]
    return Telemetry(
        v=1,
        gateway="van-1",
        seq=7,
        sent_at=RETIRED + timedelta(minutes=sent),
        readings=[Reading(sensor="van-1.chilled", ts=t, temp_c=4.0) for t in at],
        events=[Event(sensor="van-1.door", ts=at[-1], kind=EventKind.DOOR_OPEN)],
        position=Position(lat=51.5, lon=7.4, ts=at[-1]),
        battery_v=battery_v,
    )


def test_a_message_taken_before_the_retirement_is_kept_whole() -> None:
    message = _message(-2, -1, 0)
    assert up_to(message, RETIRED).kept is message
    assert up_to(message, RETIRED).refused == 0


def test_what_was_taken_after_the_retirement_is_cut_and_counted() -> None:
    cut = up_to(_message(-2, -1, 1, 2, sent=3), RETIRED)
    assert cut.kept is not None
    assert [r.ts for r in cut.kept.readings] == [
        RETIRED - timedelta(minutes=2),
        RETIRED - timedelta(minutes=1),
    ]
    assert cut.kept.events == [] and cut.kept.position is None and cut.kept.battery_v is None
    assert cut.kept.seq == 7
    assert cut.refused == 3  # two readings and the door event


def test_a_message_taken_wholly_after_the_retirement_keeps_nothing() -> None:
    cut = up_to(_message(1, 2, sent=2), RETIRED)
    assert cut.kept is None and cut.refused == 3
