"""`RuleEngine.urgent`: ingest writes a batch at once when a reading in it may alarm.

The promise is one way: every reading whose judgement raises or clears an alarm
at once was called urgent before it was judged. Calling a reading urgent that
changes nothing only writes its batch sooner. The exceptions are the alarms
that come long after the readings that start them (a probe stuck at one value,
a door left open), which the batch wait of 50 ms does not hold up noticeably.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from coldchain.contract import AlertState, Event, Reading
from coldchain.engine import EngineState, RuleEngine
from tests.unit.test_engine import AIR, T0
from tests.unit.test_engine_quiet import FLEETS, PROBES, steps

#: Alarms that follow their readings by minutes: a long wait does not matter there.
LATER = {"stuck", "door_open"}


@settings(max_examples=300, deadline=None)
@given(history=steps, fleet=st.sampled_from(sorted(FLEETS)))
# Too warm, then back: the raise and the clearing are both urgent.
@example(history=[(AIR, 0.2, 10), (AIR, 1.0, 10), (AIR, 0.2, 10)], fleet="default")
# A jump inside every level.
@example(history=[(AIR, 0.2, 10), (AIR, 0.45, 10)], fleet="jump at 0.5 K/min")
def test_every_reading_that_alarms_at_once_was_urgent(
    history: list[tuple[object, object, int]], fleet: str
) -> None:
    engine = RuleEngine(FLEETS[fleet], EngineState(started_at=T0))
    at = T0
    for subject, what, seconds in history:
        at += timedelta(seconds=seconds)
        if not isinstance(what, float | int):
            engine.observe([], [Event(sensor=str(subject), ts=at, kind=what)])
            continue
        low, high = PROBES[str(subject)]
        reading = Reading(sensor=str(subject), ts=at, temp_c=round(low + (high - low) * what, 1))
        urgent = engine.urgent([reading])
        alarms = [
            a
            for a in engine.observe([reading]).alerts
            if a.state is not AlertState.UPDATED and a.rule not in LATER
        ]
        assert urgent or not alarms, (reading, alarms)


def test_a_quiet_reading_of_a_settled_sensor_is_not_urgent() -> None:
    engine = RuleEngine(FLEETS["default"], EngineState(started_at=T0))
    first = Reading(sensor=AIR, ts=T0, temp_c=3.0)
    assert not engine.urgent([first])
    engine.observe([first])
    assert not engine.urgent([Reading(sensor=AIR, ts=T0 + timedelta(seconds=60), temp_c=3.2)])


def test_a_reading_above_the_maximum_is_urgent_also_as_a_sensors_first() -> None:
    engine = RuleEngine(FLEETS["default"], EngineState(started_at=T0))
    assert engine.urgent([Reading(sensor=AIR, ts=T0, temp_c=12.0)])


def test_a_sensor_the_fleet_does_not_know_is_not_urgent() -> None:
    engine = RuleEngine(FLEETS["default"], EngineState(started_at=T0))
    assert not engine.urgent([Reading(sensor="nowhere.air", ts=T0, temp_c=40.0)])


def test_a_message_is_urgent_when_any_of_its_readings_is() -> None:
    engine = RuleEngine(FLEETS["default"], EngineState(started_at=T0))
    quiet = Reading(sensor=AIR, ts=T0, temp_c=3.0)
    warm = Reading(sensor=AIR, ts=T0 + timedelta(seconds=60), temp_c=12.0)
    unknown = Reading(sensor="nowhere.air", ts=T0, temp_c=40.0)
    assert engine.urgent([unknown, quiet, warm])
    assert not engine.urgent([unknown, quiet])
    assert not engine.urgent([])
