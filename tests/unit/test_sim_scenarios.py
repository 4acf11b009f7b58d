"""Every scenario file: loads, fits the demo fleet, runs 24 physics hours the same way
twice, shows what firmware-sim/README.md says it shows, and is listed there."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coldchain.contract import EventKind
from coldchain.fleet import Fleet
from coldchain_sim import Firmware, Scenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "firmware-sim" / "scenarios"
README = ROOT / "firmware-sim" / "README.md"
FLEET = ROOT / "fleet" / "dortmund-hub.yaml"
FILES = sorted(path.name for path in SCENARIOS.glob("*.yaml"))
T0 = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
STEP_S = 600.0


@dataclass(frozen=True)
class Run:
    """24 h of one scenario, a tick every STEP_S (reading and physics seconds alike)."""

    readings: dict[str, list[tuple[float, float]]]  # sensor -> (hours since T0, °C)
    true_c: dict[str, list[float]]  # sensor -> the true air temperature at every tick
    events: list[tuple[float, str, EventKind]]
    offline_h: dict[str, list[float]]  # gateway -> hours without network
    battery_v: dict[str, list[float | None]]
    clock_offset_s: dict[str, list[float]]
    stops: dict[str, list[str | None]]


@functools.cache
def run(name: str) -> Run:
    scenario = Scenario.from_yaml((SCENARIOS / name).read_text())
    readings: dict[str, list[tuple[float, float]]] = {}
    true_c: dict[str, list[float]] = {}
    events: list[tuple[float, str, EventKind]] = []
    offline: dict[str, list[float]] = {}
    battery: dict[str, list[float | None]] = {}
    offsets: dict[str, list[float]] = {}
    stops: dict[str, list[str | None]] = {}
    for spec in scenario.gateways:
        firmware = Firmware(spec, seed=scenario.seed)
        for sensor in firmware.sensors:
            readings[sensor], true_c[sensor] = [], []
        for i in range(round(24 * 3600 / STEP_S) + 1):
            ts, hours = T0 + timedelta(seconds=i * STEP_S), i * STEP_S / 3600
            tick_readings, tick_events = firmware.tick(ts, 0.0 if i == 0 else STEP_S)
            for reading in tick_readings:
                readings[reading.sensor].append((hours, reading.temp_c))
            for sensor in firmware.sensors:
                true_c[sensor].append(firmware.temperature_c(sensor))
            events += [(hours, event.sensor, event.kind) for event in tick_events]
            if not firmware.network_available(ts):
                offline.setdefault(spec.id, []).append(hours)
            battery.setdefault(spec.id, []).append(firmware.battery_v(ts))
            offsets.setdefault(spec.id, []).append(firmware.clock_offset_s(ts))
            stops.setdefault(spec.id, []).append(firmware.tour_stop(ts))
    return Run(readings, true_c, events, offline, battery, offsets, stops)


def values(result: Run, sensor: str, since_h: float = 0.0, until_h: float = 25.0) -> list[float]:
    return [c for h, c in result.readings[sensor] if since_h <= h < until_h]


def kinds(result: Run, sensor: str) -> list[EventKind]:
    return [kind for _, s, kind in result.events if s == sensor]


def first_over(result: Run, sensor: str, limit_c: float) -> float:
    return next(h for h, c in result.readings[sensor] if c > limit_c)


def shows_the_demo(r: Run) -> None:
    assert max(values(r, "van-2.chilled", until_h=0.7)) > 6.0
    healthy = {"cold-room-1.air": 6.0, "cold-room-2.air": 4.0, "freezer-1.air": -18.0}
    healthy |= {f"van-{n}.frozen": -18.0 for n in (1, 2, 3)}
    healthy |= {"van-1.chilled": 6.0, "van-3.chilled": 6.0}
    for sensor, limit_c in healthy.items():
        assert max(values(r, sensor)) <= limit_c, sensor


def shows_a_van_tour(r: Run) -> None:
    assert len({stop for stop in r.stops["van-1"] if stop}) == 5
    assert 0 < len(r.offline_h["van-1"]) * STEP_S / 3600 < 1.5
    assert kinds(r, "van-1.door").count(EventKind.DOOR_OPEN) > 30


def shows_a_door_left_open(r: Run) -> None:
    assert max(values(r, "van-1.chilled", until_h=0.75)) > 6.0
    assert max(values(r, "van-1.chilled", since_h=1.5)) <= 6.0


def shows_a_power_loss(r: Run) -> None:
    ticks = round(24 * 3600 / STEP_S) + 1
    assert len(r.readings["freezer-1.air"]) == ticks - round(3 * 3600 / STEP_S)
    assert kinds(r, "freezer-1.air")[:2] == [EventKind.POWER_LOST, EventKind.POWER_RESTORED]
    unseen = r.true_c["freezer-1.air"][: round(3.1 * 3600 / STEP_S)]
    assert max(unseen) > -18.0
    # Warmer than ever in normal operation (-21.3 °C away from doors and defrosts).
    assert values(r, "freezer-1.air", since_h=3.16)[0] > -20.0
    assert max(values(r, "freezer-1.air", since_h=3.5, until_h=4.0)) < -18.0


def shows_a_sensor_drift(r: Run) -> None:
    assert max(values(r, "cold-room-2.air", until_h=2)) < 4.0
    assert 2 < first_over(r, "cold-room-2.air", 4.0) < 3.5
    assert values(r, "cold-room-2.air")[-1] > 20.0


def shows_a_stuck_sensor(r: Run) -> None:
    assert len(set(values(r, "cold-room-1.air", since_h=0.2))) == 1


def shows_a_dying_battery(r: Run) -> None:
    volts = r.battery_v["cold-room-2"]
    assert volts[0] == 3.6
    assert volts[-1] == 3.0
    empty_h = next(i for i, v in enumerate(volts) if v == 3.0) * STEP_S / 3600
    assert 5.5 < empty_h < 7.0


def shows_clock_jumps(r: Run) -> None:
    assert set(r.clock_offset_s["cold-room-1"]) == {0.0, 3600.0}
    assert r.clock_offset_s["cold-room-1"][-1] == 0.0
    assert r.clock_offset_s["freezer-1"][-1] == -86400.0


def shows_defrosts(r: Run) -> None:
    for sensor, per_day in (("freezer-1.air", 4), ("cold-room-1.air", 3), ("cold-room-2.air", 3)):
        defrosts = kinds(r, sensor)
        assert defrosts[:2] == [EventKind.DEFROST_START, EventKind.DEFROST_END]
        assert defrosts.count(EventKind.DEFROST_START) == per_day


def shows_product_mass(r: Run) -> None:
    loaded, empty = first_over(r, "van-1.chilled", 6.0), first_over(r, "van-2.chilled", 6.0)
    assert loaded > empty
    assert values(r, "van-1.chilled", since_h=3.15)[0] < 12.0
    assert values(r, "van-2.chilled", since_h=3.15)[0] > 20.0


SHOWS: dict[str, Callable[[Run], None]] = {
    "clock-jump.yaml": shows_clock_jumps,
    "defrost.yaml": shows_defrosts,
    "door-left-open.yaml": shows_a_door_left_open,
    "dortmund-hub.yaml": shows_the_demo,
    "dying-battery.yaml": shows_a_dying_battery,
    "power-loss.yaml": shows_a_power_loss,
    "product-mass.yaml": shows_product_mass,
    "sensor-drift.yaml": shows_a_sensor_drift,
    "stuck-sensor.yaml": shows_a_stuck_sensor,
    "van-tour.yaml": shows_a_van_tour,
}


def test_every_scenario_file_has_a_check_of_what_it_shows() -> None:
    assert sorted(SHOWS) == FILES


@pytest.mark.parametrize("name", FILES)
def test_scenario_runs_24_hours_deterministically_and_shows_what_it_says(name: str) -> None:
    first = run(name)
    run.cache_clear()
    assert run(name) == first
    SHOWS[name](first)


@pytest.mark.parametrize("name", FILES)
def test_scenario_ids_are_those_of_the_demo_fleet(name: str) -> None:
    scenario = Scenario.from_yaml((SCENARIOS / name).read_text())
    fleet = Fleet.from_yaml(FLEET.read_text())
    for gateway in scenario.gateways:
        for compartment in gateway.compartments:
            sensors = [compartment.sensor] + ([compartment.door] if compartment.door else [])
            for sensor in sensors:
                located = fleet.locate(sensor)
                assert located is not None, f"{name}: {sensor} is not in the fleet"
                assert located[1].id == gateway.id, f"{name}: {sensor} is not {gateway.id}'s"


def test_readme_lists_every_scenario_file() -> None:
    section = README.read_text().split("## Scenarios", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([a-z0-9-]+\.yaml)` +\|", section, flags=re.MULTILINE)
    assert sorted(listed) == FILES


def test_readme_example_scenario_loads() -> None:
    example = README.read_text().split("## Scenario file", 1)[1].split("```yaml\n", 1)[1]
    scenario = Scenario.from_yaml(example.split("```", 1)[0])
    firmware = Firmware(scenario.gateway("van-2"), seed=scenario.seed)
    firmware.tick(T0, 3600.0)
    assert firmware.battery_v(T0) is not None
