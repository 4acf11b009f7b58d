"""Ingest marks every (sensor, local day) its stored readings change, also where it skips work.

`RollupJob.note` remembers the one day a sensor's last readings touched and
skips `touched_days` while readings stay inside it and the day is still marked.
Whatever the readings' times (around midnight, over the 23 and 25 hour days)
and whenever the rollup takes the marked days, every day a reading touches
must be marked once `note` returns.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldchain.contract import Event, EventKind, Reading, Telemetry
from coldchain.fleet import Fleet
from coldchain.rollup import touched_days
from coldchain_ingest.rollup import DayWriter, PendingDays, RollupJob, Span

REPO = Path(__file__).resolve().parents[2]
FLEET = Fleet.from_yaml((REPO / "fleet" / "dortmund-hub.yaml").read_text())
SENSORS = ["cold-room-1.air", "freezer-1.air"]
INTERVAL_S = 5.0  # both, in the demo fleet
#: The night summer time ends in Berlin: local midnights 25 hours apart around it.
START = datetime(2026, 10, 24, 21, 0, tzinfo=UTC)

# (sensor, jump from the last reading in s (late readings jump back), readings 5 s apart,
# take the marked days first?)
batches = st.lists(
    st.tuples(
        st.sampled_from(SENSORS),
        st.one_of(st.integers(1, 60), st.integers(-6 * 3600, 3 * 3600)),
        st.integers(1, 5),
        st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(plan=batches)
def test_every_touched_day_is_marked(
    tmp_path_factory: pytest.TempPathFactory, plan: list[tuple[str, int, int, bool]]
) -> None:
    directory = tmp_path_factory.mktemp("marks")
    pending = PendingDays(directory / "state.sqlite3")
    job = RollupJob(FLEET, DayWriter(None), pending)  # type: ignore[arg-type]
    at = START
    for seq, (sensor, jump_s, count, take_first) in enumerate(plan, start=1):
        if take_first:
            pending.take(SENSORS, date(2026, 12, 31))
        at += timedelta(seconds=jump_s)
        readings = [
            Reading(sensor=sensor, ts=at + timedelta(seconds=5 * i), temp_c=3.0)
            for i in range(count)
        ]
        job.note([Telemetry(v=1, gateway="x", seq=seq, sent_at=at, readings=readings)])
        first, last = readings[0].ts, readings[-1].ts
        for day in touched_days(first, last, INTERVAL_S, "Europe/Berlin"):
            assert pending.queued(sensor, day), (sensor, day)
    pending.close()


def _reading(sensor: str, at: datetime, seq: int) -> Telemetry:
    return Telemetry(
        v=1, gateway="x", seq=seq, sent_at=at, readings=[Reading(sensor=sensor, ts=at, temp_c=8.0)]
    )


def test_a_day_whose_excursion_goes_on_is_marked_by_any_later_reading(tmp_path: Path) -> None:
    """An excursion begun at 23:50 and undecided when its day was computed is counted on
    that day once decided: readings of the next day must mark it again."""
    day, sensor = date(2026, 10, 24), "cold-room-1.air"
    pending = PendingDays(tmp_path / "state.sqlite3")
    job = RollupJob(FLEET, DayWriter(None), pending)  # type: ignore[arg-type]
    began = datetime(2026, 10, 24, 21, 50, tzinfo=UTC)  # 23:50 CEST
    pending.watch(sensor, day, Span(began, None))
    pending.close()
    pending = PendingDays(tmp_path / "state.sqlite3")  # watched across a restart
    job = RollupJob(FLEET, DayWriter(None), pending)  # type: ignore[arg-type]
    morning = datetime(2026, 10, 25, 9, tzinfo=UTC)
    job.note([_reading(sensor, morning, 1)])
    assert pending.queued(sensor, day) and pending.queued(sensor, date(2026, 10, 25))
    pending.take(SENSORS, date(2026, 12, 31))
    job.note([_reading(sensor, morning + timedelta(seconds=5), 2)])  # the same day again
    assert pending.queued(sensor, day), "also where note skips touched_days"
    pending.take(SENSORS, date(2026, 12, 31))
    pending.watch(sensor, day, None)  # computed again: the excursion ended
    job.note([_reading(sensor, morning + timedelta(seconds=10), 3)])
    assert not pending.queued(sensor, day)
    assert not pending.queued("freezer-1.air", day), "another sensor's readings mark nothing"
    pending.close()


def test_a_day_judged_over_a_span_is_marked_by_a_reading_in_that_span(tmp_path: Path) -> None:
    day, sensor = date(2026, 10, 25), "cold-room-1.air"
    pending = PendingDays(tmp_path / "state.sqlite3")
    job = RollupJob(FLEET, DayWriter(None), pending)  # type: ignore[arg-type]
    span = Span(datetime(2026, 10, 24, 18, tzinfo=UTC), datetime(2026, 10, 26, 1, tzinfo=UTC))
    pending.watch(sensor, day, span)
    job.note([_reading(sensor, datetime(2026, 10, 24, 19, tzinfo=UTC), 1)])  # late, the 24th
    assert pending.queued(sensor, day), "it may end the excursion carried into the 25th"
    pending.take(SENSORS, date(2026, 12, 31))
    job.note([_reading(sensor, datetime(2026, 10, 26, 9, tzinfo=UTC), 2)])  # after the span
    assert not pending.queued(sensor, day)
    pending.close()


def test_a_door_opening_marks_the_days_of_its_grace(tmp_path: Path) -> None:
    pending = PendingDays(tmp_path / "state.sqlite3")
    job = RollupJob(FLEET, DayWriter(None), pending)  # type: ignore[arg-type]
    at = datetime(2026, 10, 24, 21, 59, tzinfo=UTC)  # 23:59 CEST: its grace reaches the 25th
    door = Event(sensor="van-1.door", ts=at, kind=EventKind.DOOR_OPEN)
    job.note([Telemetry(v=1, gateway="van-1", seq=1, sent_at=at, readings=[], events=[door])])
    assert pending.queued("van-1.chilled", date(2026, 10, 24))
    assert pending.queued("van-1.chilled", date(2026, 10, 25))
    assert not pending.queued("van-1.frozen", date(2026, 10, 24)), "another asset"
    pending.close()
