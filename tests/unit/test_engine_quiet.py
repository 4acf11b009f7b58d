"""The rule engine's short paths give exactly what its full path gives.

Most readings have nothing open and sit inside every level; the engine takes a
short path for them (`_quiet`), and a shorter one for a sensor whose readings
in a batch all stay quiet (`RuleEngine._steady`). Any mix of readings and
events must yield the same alerts, excursion records and saved state with them
as without them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from coldchain import engine as engine_module
from coldchain.contract import Event, EventKind, Reading
from coldchain.engine import EngineState, RuleEngine
from tests.unit.test_engine import AIR, CORE, DOOR, FREEZER, FREEZER_DOOR, T0, make_fleet

PROBES = {AIR: (-3.0, 14.0), CORE: (-3.0, 14.0), FREEZER: (-24.0, -12.0)}
DOORS = [DOOR, FREEZER_DOOR]

reading = st.tuples(
    st.sampled_from(sorted(PROBES)),
    # Anywhere in the range, or inside every level of the room (runs of quiet
    # readings), 4 K apart (jumps) or the same again (stuck probes).
    st.one_of(st.floats(0, 1), st.sampled_from([0.2, 0.21, 0.45])),
    st.one_of(st.integers(1, 600), st.integers(1, 20)),
)
event = st.tuples(
    st.sampled_from(DOORS),
    st.sampled_from([EventKind.DOOR_OPEN, EventKind.DOOR_CLOSED, EventKind.DEFROST_START]),
    st.integers(1, 600),
)
#: Readings, and now and then a door or a defrost.
steps = st.lists(
    st.integers(0, 4).flatmap(lambda k: event if k == 0 else reading),
    max_size=120,
)


#: The default limits, and limits under which runs of quiet readings alarm often.
FLEETS = {
    "default": make_fleet(),
    "stuck in 15 min": make_fleet(room={"stuck_s": 900}),
    "jump at 0.5 K/min": make_fleet(room={"max_rate_k_per_min": 0.5}),
}


def _run(
    history: list[tuple[object, object, int]], batch: int, fleet: str
) -> tuple[list[str], list[str]]:
    engine = RuleEngine(FLEETS[fleet], EngineState(started_at=T0))
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
@given(history=steps, batch=st.integers(1, 20), fleet=st.sampled_from(sorted(FLEETS)))
# A probe stuck at one value across a batch.
@example(history=[(AIR, 0.2, 600)] * 4, batch=2, fleet="stuck in 15 min")
# A door left open since an earlier batch.
@example(
    history=[(AIR, 0.2, 10), (AIR, 0.21, 10), (DOOR, EventKind.DOOR_OPEN, 10), (AIR, 0.2, 700)],
    batch=2,
    fleet="default",
)
# A door opened in the same batch, earlier than the readings.
@example(
    history=[
        (AIR, 0.2, 10),
        (DOOR, EventKind.DOOR_CLOSED, 10),
        (DOOR, EventKind.DOOR_OPEN, 10),
        (AIR, 0.21, 700),
    ],
    batch=1,
    fleet="default",
)
def test_the_short_paths_change_nothing(
    history: list[tuple[object, object, int]], batch: int, fleet: str
) -> None:
    quick = _run(history, batch, fleet)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(engine_module, "_quiet", lambda *_: False)
        patched.setattr(RuleEngine, "_steady", lambda _self, readings, _events: list(readings))
        full = _run(history, batch, fleet)
    assert quick == full


def test_a_steady_batch_takes_the_short_path() -> None:
    """The property above is only worth something if the short path is taken."""
    engine = RuleEngine(FLEETS["default"], EngineState(started_at=T0))
    engine.observe([Reading(sensor=AIR, ts=T0, temp_c=3.0)])
    batch = [
        Reading(sensor=AIR, ts=T0 + timedelta(minutes=m), temp_c=3.0 + m / 10) for m in (1, 2, 3)
    ]
    assert engine._steady(batch, []) == []
    assert engine.state.sensors[AIR].last_c == 3.3
    late = [Reading(sensor=AIR, ts=T0, temp_c=3.0)]
    assert engine._steady(late, []) == late
