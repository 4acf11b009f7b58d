"""The rule engine's quiet path gives exactly what its full path gives.

Most readings have nothing open and sit inside every level; the engine takes a
short path for them (`_quiet`). Any mix of readings and events must yield the
same alerts, excursion records and saved state with it as without it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_engine import AIR, CORE, DOOR, FREEZER, FREEZER_DOOR, T0, make_fleet

from coldchain import engine as engine_module
from coldchain.contract import Event, EventKind, Reading
from coldchain.engine import EngineState, RuleEngine

PROBES = {AIR: (-3.0, 14.0), CORE: (-3.0, 14.0), FREEZER: (-24.0, -12.0)}
DOORS = [DOOR, FREEZER_DOOR]

steps = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(sorted(PROBES)), st.floats(0, 1), st.integers(1, 600)),
        st.tuples(
            st.sampled_from(DOORS),
            st.sampled_from([EventKind.DOOR_OPEN, EventKind.DOOR_CLOSED, EventKind.DEFROST_START]),
            st.integers(1, 600),
        ),
    ),
    max_size=120,
)


def _run(history: list[tuple[object, object, int]], batch: int) -> tuple[list[str], list[str]]:
    engine = RuleEngine(make_fleet(), EngineState(started_at=T0))
    at = T0
    readings: list[Reading] = []
    events: list[Event] = []
    for subject, what, seconds in history:
        at += timedelta(seconds=seconds)
        if isinstance(what, EventKind):
            events.append(Event(sensor=str(subject), ts=at, kind=what))
        else:
            low, high = PROBES[str(subject)]
            value = round(low + (high - low) * float(what), 1)  # repeats: stuck readings
            readings.append(Reading(sensor=str(subject), ts=at, temp_c=value))
    said: list[str] = []
    for i in range(0, max(len(readings), len(events)), batch):
        outcome = engine.observe(readings[i : i + batch], events[i : i + batch])
        said += [a.model_dump_json() for a in outcome.alerts]
        said += [repr(e) for e in outcome.excursions]
    return said, [row[2] for row in sorted(engine.changes())]


@settings(max_examples=300, deadline=None)
@given(history=steps, batch=st.integers(1, 20))
def test_the_quiet_path_changes_nothing(
    history: list[tuple[object, object, int]], batch: int
) -> None:
    quick = _run(history, batch)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(engine_module, "_quiet", lambda *_: False)
        full = _run(history, batch)
    assert quick == full
