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

from coldchain.contract import Reading, Telemetry
from coldchain.fleet import Fleet
from coldchain.rollup import touched_days
from coldchain_ingest.rollup import DayWriter, PendingDays, RollupJob

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
