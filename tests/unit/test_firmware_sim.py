"""Simulated firmware: determinism, thermostat, doors, compressor failure, validation.

Defrost, ambient and goods: test_sim_thermal.py; tours and dead zones:
test_sim_tour.py; the other faults: test_sim_faults.py; scenario files:
test_sim_scenarios.py.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldchain.contract import EventKind
from coldchain.fleet import Fleet
from coldchain_sim import (
    CompartmentSpec,
    FaultKind,
    Firmware,
    GatewaySpec,
    Profile,
    Scenario,
    ScenarioError,
    SimulationError,
    UnknownIdError,
)

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "firmware-sim" / "scenarios" / "dortmund-hub.yaml"
FLEET = ROOT / "fleet" / "dortmund-hub.yaml"
T0 = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
MINUTE = 60.0
HOUR = 3600.0

# (profile, set point override, category limit °C, documented minutes to pass it on failure)
CASES = [
    pytest.param(Profile.COLD_ROOM, None, 6.0, 210, id="cold_room"),
    pytest.param(Profile.COLD_ROOM, 1.5, 4.0, 130, id="cold_room-poultry"),
    pytest.param(Profile.FREEZER, None, -18.0, 80, id="freezer"),
    pytest.param(Profile.VAN_CHILLED, None, 6.0, 15, id="van_chilled"),
    pytest.param(Profile.VAN_FROZEN, None, -18.0, 20, id="van_frozen"),
]
#: After a door closes or a defrost ends, this long to get back inside the limit.
RECOVERY_S = 20 * MINUTE


@functools.cache
def shipped() -> Scenario:
    return Scenario.from_yaml(SCENARIO.read_text())


def gateway(profile: Profile, setpoint_c: float | None = None, door: bool = True) -> GatewaySpec:
    compartment = CompartmentSpec(
        sensor="g.air", profile=profile, door="g.door" if door else None, setpoint_c=setpoint_c
    )
    return GatewaySpec(id="g", compartments=[compartment])


def run(firmware: Firmware, physics_s: float, dt_s: float, start_s: float = 0.0) -> list[float]:
    """Tick every `dt_s` (reading and physics seconds alike); the first reading's value."""
    values = []
    ticks = round(physics_s / dt_s)
    for i in range(1, ticks + 1):
        readings, _ = firmware.tick(T0 + timedelta(seconds=start_s + i * dt_s), dt_s)
        values.append(readings[0].temp_c)
    return values


def excused(firmware: Firmware, physics_s: float, dt_s: float) -> list[tuple[float, bool]]:
    """Each tick's reading, and whether a door opening or a defrost (or the recovery
    after one) excuses it from the limit."""
    out = []
    door = defrost = False
    last_s = -math.inf
    for i in range(1, round(physics_s / dt_s) + 1):
        readings, events = firmware.tick(T0 + timedelta(seconds=i * dt_s), dt_s)
        for event in events:
            door = {EventKind.DOOR_OPEN: True, EventKind.DOOR_CLOSED: False}.get(event.kind, door)
            defrost = {EventKind.DEFROST_START: True, EventKind.DEFROST_END: False}.get(
                event.kind, defrost
            )
        if door or defrost or events:
            last_s = i * dt_s
        out.append((readings[0].temp_c, i * dt_s - last_s <= RECOVERY_S))
    return out


def longest_over_s(values: list[float], limit_c: float, dt_s: float) -> float:
    longest = current = 0.0
    for value in values:
        current = current + dt_s if value > limit_c else 0.0
        longest = max(longest, current)
    return longest


def test_same_seed_gives_identical_readings_and_events() -> None:
    spec = shipped().gateway("van-1")

    def trace(seed: int) -> list[tuple[object, ...]]:
        firmware = Firmware(spec, seed=seed)
        out: list[tuple[object, ...]] = []
        for i in range(100):
            readings, events = firmware.tick(T0 + timedelta(seconds=5 * i), 240.0)
            out += [(r.sensor, r.temp_c) for r in readings] + [(e.sensor, e.kind) for e in events]
        return out

    assert trace(7) == trace(7)
    assert trace(7) != trace(8)


@settings(max_examples=20, deadline=None)
@given(chunks=st.lists(st.floats(min_value=0.0, max_value=900.0), min_size=1, max_size=12))
def test_door_schedule_does_not_depend_on_how_physics_is_chunked(chunks: list[float]) -> None:
    total_s = sum(chunks) + 2 * HOUR
    one = Firmware(gateway(Profile.VAN_CHILLED), seed=3)
    _, reference = one.tick(T0, total_s)
    split = Firmware(gateway(Profile.VAN_CHILLED), seed=3)
    kinds = []
    for i, dt_s in enumerate([*chunks, 2 * HOUR]):
        kinds += [e.kind for e in split.tick(T0 + timedelta(seconds=i), dt_s)[1]]
    assert kinds == [e.kind for e in reference]


@pytest.mark.parametrize(("profile", "setpoint_c", "limit_c", "fail_min"), CASES)
def test_healthy_compartment_stays_within_its_limit_except_at_doors_and_defrosts(
    profile: Profile, setpoint_c: float | None, limit_c: float, fail_min: int
) -> None:
    firmware = Firmware(gateway(profile, setpoint_c), seed=11)
    samples = excused(firmware, 24 * HOUR, dt_s=30.0)
    assert all(value <= limit_c for value, excuse in samples if not excuse)
    values = [value for value, _ in samples]
    assert longest_over_s(values, limit_c, 30.0) < 10 * MINUTE
    assert max(values) < limit_c + 3.0


def test_healthy_van_has_door_openings_during_the_day() -> None:
    firmware = Firmware(gateway(Profile.VAN_CHILLED), seed=11)
    _, events = firmware.tick(T0, 24 * HOUR)
    openings = [e for e in events if e.kind is EventKind.DOOR_OPEN]
    assert 30 <= len(openings) <= 75


@pytest.mark.parametrize(("profile", "setpoint_c", "limit_c", "fail_min"), CASES)
@pytest.mark.parametrize("seed", [1, 2])
def test_compressor_failure_passes_the_limit_within_the_documented_time(
    profile: Profile, setpoint_c: float | None, limit_c: float, fail_min: int, seed: int
) -> None:
    firmware = Firmware(gateway(profile, setpoint_c), seed=seed)
    run(firmware, 2 * HOUR, dt_s=60.0)
    firmware.inject(FaultKind.COMPRESSOR_FAILURE, sensor="g.air")
    values = run(firmware, fail_min * MINUTE, dt_s=20.0, start_s=2 * HOUR)
    assert max(values) > limit_c
    later = run(firmware, 3 * HOUR, dt_s=60.0, start_s=2 * HOUR + fail_min * MINUTE)
    assert later[-1] > max(limit_c + 1.0, later[0])


def test_scenario_fault_fires_in_reading_seconds_after_the_first_tick() -> None:
    # The fault's former name, door_stuck_open, still loads as door_left_open.
    text = SCENARIO.read_text().replace("kind: compressor_failure", "kind: door_stuck_open")
    firmware = Firmware(Scenario.from_yaml(text).gateway("van-2"), seed=7)
    opened_at = []
    for i in range(30):
        ts = T0 + timedelta(seconds=5 * i)
        opened_at += [e.ts for e in firmware.tick(ts, 1.0)[1] if e.kind is EventKind.DOOR_OPEN]
    assert opened_at == [T0 + timedelta(seconds=60)]
    _, events = firmware.tick(T0 + timedelta(hours=1), 24 * HOUR)
    assert events == []


def test_shipped_van_2_fault_warms_the_chilled_compartment_past_6_c() -> None:
    firmware = Firmware(shipped().gateway("van-2"), seed=7)
    chilled = []
    for i in range(40):
        readings, _ = firmware.tick(T0 + timedelta(seconds=5 * i), 60.0)
        chilled.append(readings[0].temp_c)
    assert max(chilled[:12]) <= 6.0
    assert chilled[-1] > 6.0


def test_door_left_open_drives_the_temperature_over_the_limit() -> None:
    firmware = Firmware(gateway(Profile.FREEZER), seed=5)
    firmware.inject(FaultKind.DOOR_LEFT_OPEN, sensor="g.air")
    readings, events = firmware.tick(T0, 6 * HOUR)
    assert [e.kind for e in events if e.sensor == "g.door"] == [EventKind.DOOR_OPEN]
    assert readings[0].temp_c > -18.0


@pytest.mark.parametrize("dt_s", [10.0, 300.0, 3 * HOUR])
def test_door_events_come_in_open_close_pairs(dt_s: float) -> None:
    firmware = Firmware(gateway(Profile.VAN_CHILLED), seed=4)
    kinds: list[EventKind] = []
    for i in range(round(12 * HOUR / dt_s)):
        ts = T0 + timedelta(seconds=i)
        _, events = firmware.tick(ts, dt_s)
        assert all(e.ts == ts and e.sensor == "g.door" for e in events)
        kinds += [e.kind for e in events]
    assert kinds
    assert kinds[0::2] == [EventKind.DOOR_OPEN] * len(kinds[0::2])
    assert kinds[1::2] == [EventKind.DOOR_CLOSED] * len(kinds[1::2])


def test_compartment_without_door_sensor_reports_no_door_events() -> None:
    firmware = Firmware(gateway(Profile.VAN_FROZEN, door=False), seed=4)
    _, events = firmware.tick(T0, 24 * HOUR)
    assert events == []


@settings(max_examples=25, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2021, 1, 1), max_value=datetime(2090, 1, 1)),
    zone=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]),
    physics_s=st.floats(min_value=0.0, max_value=2 * HOUR),
)
def test_readings_are_rounded_and_carry_the_given_ts(
    start: datetime, zone: timezone, physics_s: float
) -> None:
    firmware = Firmware(shipped().gateway("van-3"), seed=7)
    ts = start.replace(tzinfo=zone)
    readings, _ = firmware.tick(ts, physics_s)
    assert [r.sensor for r in readings] == ["van-3.chilled", "van-3.frozen"]
    for reading in readings:
        assert reading.ts == ts
        assert reading.ts.tzinfo == UTC
        assert reading.temp_c == round(reading.temp_c, 1)


def test_shipped_scenario_matches_the_fleet_with_margin_below_every_limit() -> None:
    scenario = shipped()
    fleet = Fleet.from_yaml(FLEET.read_text())
    sensors = [s for site in fleet.sites for g in site.gateways for s in g.sensors]
    compartments = [c for g in scenario.gateways for c in g.compartments]
    assert {c.sensor for c in compartments} == {s.id for s in sensors if s.kind == "temperature"}
    assert {c.door for c in compartments if c.door} == {s.id for s in sensors if s.kind == "door"}
    assert scenario.seed == 7
    for compartment in compartments:
        located = fleet.locate(compartment.sensor)
        assert located is not None
        params = compartment.thermal()
        top_of_band = params.setpoint_c + params.hysteresis_k / 2
        assert top_of_band <= located[3].limits.regulatory_max_c - 2.0, compartment.sensor


def test_positions_only_for_vans_and_near_dortmund() -> None:
    scenario = shipped()
    assert Firmware(scenario.gateway("cold-room-1"), seed=7).position(T0) is None
    van = Firmware(scenario.gateway("van-1"), seed=7)
    van.tick(T0, 0.0)
    places = set()
    for minute in range(0, 120, 5):
        ts = T0 + timedelta(minutes=minute)
        van.tick(ts, 0.0 if minute == 0 else 5 * MINUTE)
        position = van.position(ts)
        assert position is not None and position.ts == ts
        assert abs(position.lat - 51.51) < 0.1 and abs(position.lon - 7.46) < 0.1
        places.add((position.lat, position.lon))
    assert len(places) > 10


MINIMAL = """
seed: 1
gateways:
  - id: g
    compartments:
      - {sensor: g.air, profile: cold_room}
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("seed: [1", "not valid YAML", id="yaml-syntax"),
        pytest.param("- 1\n- 2\n", "must be a mapping", id="not-a-mapping"),
        pytest.param(
            MINIMAL.replace("cold_room", "fridge"),
            "gateways[0].compartments[0].profile: Input should be 'cold_room'",
            id="unknown-profile",
        ),
        pytest.param(
            MINIMAL.replace("profile: cold_room", "profile: cold_room, colour: red"),
            "gateways[0].compartments[0].colour: Extra inputs are not permitted",
            id="extra-field",
        ),
        pytest.param(
            MINIMAL.replace("{sensor: g.air", "{door: g.air, sensor: g.air"),
            "sensor id 'g.air' appears twice",
            id="duplicate-sensor",
        ),
        pytest.param(
            MINIMAL + "    faults: [{kind: compressor_failure, sensor: h.air, after_s: 5}]\n",
            "fault compressor_failure names sensor h.air, which is not one of its compartments",
            id="fault-on-foreign-sensor",
        ),
        pytest.param(
            MINIMAL + "    faults: [{kind: meltdown, sensor: g.air}]\n",
            "faults[0].kind: Input should be 'compressor_failure', 'door_left_open', ",
            id="unknown-fault",
        ),
        pytest.param(
            MINIMAL.replace("profile: cold_room", "profile: cold_room, cooling_k_per_s: 0.0001"),
            "cannot hold the set point 3.0 °C; it must exceed",
            id="cooling-too-weak",
        ),
    ],
)
def test_scenario_validation_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        Scenario.from_yaml(text)
    assert message in str(caught.value)


def test_unknown_gateway_and_sensor_are_lookup_errors_naming_the_known_ones() -> None:
    scenario = Scenario.from_yaml(MINIMAL)
    with pytest.raises(UnknownIdError, match="no gateway 'van-9'; it defines: g"):
        scenario.gateway("van-9")
    firmware = Firmware(scenario.gateway("g"), seed=1)
    with pytest.raises(LookupError, match=re.escape("no compartment with sensor 'g.door'")):
        firmware.inject(FaultKind.COMPRESSOR_FAILURE, sensor="g.door")


def test_ticks_need_aware_forward_time_and_non_negative_physics() -> None:
    firmware = Firmware(gateway(Profile.COLD_ROOM), seed=1)
    with pytest.raises(SimulationError, match="no time zone"):
        firmware.tick(datetime(2025, 6, 1, 6, 0), 5.0)
    firmware.tick(T0, 5.0)
    with pytest.raises(SimulationError, match="before the previous tick"):
        firmware.tick(T0 - timedelta(seconds=1), 5.0)
    with pytest.raises(SimulationError, match=re.escape("physics_dt_s is -1.0")):
        firmware.tick(T0, -1.0)
