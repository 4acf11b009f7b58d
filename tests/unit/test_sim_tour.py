"""Simulated firmware: van tours, doors at the stops, positions, dead zones."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coldchain.contract import EventKind
from coldchain_sim import Firmware, Scenario, ScenarioError

ROOT = Path(__file__).resolve().parents[2]
VAN_TOUR = ROOT / "firmware-sim" / "scenarios" / "van-tour.yaml"
T0 = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
EARTH_M_PER_DEG = 111_195.0

TOUR = """
seed: 1
gateways:
  - id: van-9
    compartments:
      - {sensor: van-9.chilled, profile: van_chilled, door: van-9.door}
      - {sensor: van-9.frozen, profile: van_frozen, door: van-9.frozen-door}
    speed_kmh: 36
    tour:
      - {name: hub, lat: 51.5100, lon: 7.4600, dwell_s: 1200, openings: 2}
      - {name: canteen, lat: 51.5400, lon: 7.4600, dwell_s: 600}
      - {name: kitchen, lat: 51.5400, lon: 7.5000, dwell_s: 300, openings: 0}
    dead_zones:
      - {name: tunnel, lat: 51.5250, lon: 7.4600, radius_m: 500}
      - {after_s: 7200, duration_s: 600}
"""


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[1] - a[1]) * math.cos(math.radians((a[0] + b[0]) / 2))
    return EARTH_M_PER_DEG * math.hypot(b[0] - a[0], dx)


@dataclass(frozen=True)
class Moment:
    ts: datetime
    stop: str | None
    place: tuple[float, float]
    events: list[tuple[str, EventKind]]
    online: bool


def drive(text: str, gateway: str, hours: float, every_s: float = 10.0) -> list[Moment]:
    """Tick every `every_s` (reading and physics seconds alike) and look at the van."""
    scenario = Scenario.from_yaml(text)
    firmware = Firmware(scenario.gateway(gateway), seed=scenario.seed)
    out = []
    for i in range(round(hours * 3600 / every_s) + 1):
        ts = T0 + timedelta(seconds=i * every_s)
        _, events = firmware.tick(ts, 0.0 if i == 0 else every_s)
        position = firmware.position(ts)
        assert position is not None
        out.append(
            Moment(
                ts,
                firmware.tour_stop(ts),
                (position.lat, position.lon),
                [(e.sensor, e.kind) for e in events],
                firmware.network_available(ts),
            )
        )
    return out


def test_the_van_visits_its_stops_in_order_at_its_speed_again_and_again() -> None:
    trace = drive(TOUR, "van-9", hours=4)
    visits = [m.stop for m in trace if m.stop]
    order = [stop for i, stop in enumerate(visits) if i == 0 or visits[i - 1] != stop]
    assert order[:5] == ["hub", "canteen", "kitchen", "hub", "canteen"]
    # Legs of 3336 m, 2767 m and 4335 m at 10 m/s; stays of 1200 s, 600 s and 300 s.
    lap_s = (3336 + 2767 + 4335) / 10 + 1200 + 600 + 300
    left = next(i for i, m in enumerate(trace) if m.stop != "hub")
    back = next(m for m in trace[left:] if m.stop == "hub")
    assert abs((back.ts - T0).total_seconds() - lap_s) <= 10


def test_while_stopped_the_van_is_at_the_stop_and_while_driving_moves_at_its_speed() -> None:
    stops = {"hub": (51.51, 7.46), "canteen": (51.54, 7.46), "kitchen": (51.54, 7.50)}
    trace = drive(TOUR, "van-9", hours=3)
    for moment in trace:
        if moment.stop:
            assert metres(moment.place, stops[moment.stop]) < 1.0
        else:
            assert 51.50 < moment.place[0] < 51.55 and 7.45 < moment.place[1] < 7.51
    driving = [(a, b) for a, b in itertools.pairwise(trace) if not (a.stop or b.stop)]
    assert len(driving) > 300  # a third of each 52-minute lap
    # 36 km/h for 10 s, on a straight line; a little less where a leg turns at a stop.
    assert all(metres(a.place, b.place) <= 100.5 for a, b in driving)
    assert sum(metres(a.place, b.place) > 99.5 for a, b in driving) > 0.95 * len(driving)


def test_doors_open_only_at_stops_as_often_as_each_stop_says() -> None:
    # Doors stay open 30 s or more, so at the tick after a door opens the van is still there.
    trace = drive(TOUR, "van-9", hours=4, every_s=20.0)
    visits: list[tuple[str, list[str]]] = []
    previous = None
    for moment in trace:
        if moment.stop and moment.stop != previous:
            visits.append((moment.stop, []))
        previous = moment.stop
        for sensor, kind in moment.events:
            assert moment.stop is not None, f"{sensor} {kind} while driving"
            if kind is EventKind.DOOR_OPEN:
                visits[-1][1].append(sensor)
    doors = ["van-9.door", "van-9.frozen-door"]
    per_stop = {"hub": sorted(doors * 2), "canteen": sorted(doors), "kitchen": []}
    assert len(visits) > 6
    for stop, opened in visits[:-1]:  # the last visit may be cut short
        assert sorted(opened) == per_stop[stop], stop


def test_dead_zones_by_area_and_by_time() -> None:
    trace = drive(TOUR, "van-9", hours=3)
    tunnel = (51.525, 7.46)
    for moment in trace:
        elapsed_s = (moment.ts - T0).total_seconds()
        in_window = 7200 <= elapsed_s < 7800
        assert moment.online is not (metres(moment.place, tunnel) < 500 or in_window), moment
    offline = [m for m in trace if not m.online]
    assert offline and len(offline) < len(trace) / 5


def test_shipped_van_tour_has_a_dead_zone_between_brechten_and_mengede() -> None:
    trace = drive(VAN_TOUR.read_text(), "van-1", hours=6, every_s=30.0)
    offline_minutes = sum(0.5 for m in trace if not m.online)
    laps = 6 * 3600 / 6500  # 5 stays of 3900 s and 20.6 km at 30 km/h: 6500 s a lap
    assert 2 < offline_minutes / laps < 5
    assert len({m.stop for m in trace if m.stop}) == 5


def test_gateways_without_tour_are_always_online_and_nowhere() -> None:
    text = "gateways: [{id: g, compartments: [{sensor: g.air, profile: cold_room}]}]"
    firmware = Firmware(Scenario.from_yaml(text).gateway("g"), seed=1)
    firmware.tick(T0, 3600.0)
    assert firmware.network_available(T0) is True
    assert firmware.position(T0) is None
    assert firmware.tour_stop(T0) is None


def test_a_route_is_a_loop_without_stops_and_random_doors() -> None:
    text = """
    gateways:
      - id: van-9
        compartments: [{sensor: van-9.chilled, profile: van_chilled, door: van-9.door}]
        route: [{lat: 51.51, lon: 7.46}, {lat: 51.54, lon: 7.46}]
    """
    trace = drive(text, "van-9", hours=3, every_s=60.0)
    assert all(m.stop is None for m in trace)
    assert len({m.place for m in trace}) > 100
    assert any(m.events for m in trace)


def test_position_between_ticks_runs_the_world_at_real_time() -> None:
    firmware = Firmware(Scenario.from_yaml(TOUR).gateway("van-9"), seed=1)
    firmware.tick(T0, 0.0)
    firmware.tick(T0 + timedelta(minutes=1), 1170.0)  # 30 s before leaving the hub
    assert firmware.physics_s_at(T0) == 1110.0
    assert firmware.physics_s_at(T0 + timedelta(minutes=1)) == 1170.0
    assert firmware.physics_s_at(T0 + timedelta(minutes=2)) == 1230.0
    assert firmware.tour_stop(T0 + timedelta(minutes=1)) == "hub"
    assert firmware.tour_stop(T0 + timedelta(minutes=2)) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "    route: [{lat: 51.5, lon: 7.4}, {lat: 51.6, lon: 7.4}]\n",
            "a tour or a route, not both",
        ),
        ("    timezone: Mars/Olympus\n", "not an IANA zone name"),
    ],
)
def test_tour_validation(extra: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_yaml(TOUR + extra)


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        ("{lat: 51.5, lon: 7.4}", "either an area (lat, lon, radius_m) or a window"),
        ("{lat: 51.5, lon: 7.4, radius_m: 100, after_s: 5}", "either an area"),
        ("{after_s: 5, duration_s: 0}", "greater than 0"),
    ],
)
def test_dead_zone_validation(zone: str, message: str) -> None:
    text = TOUR.replace("{after_s: 7200, duration_s: 600}", zone)
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Scenario.from_yaml(text)


def test_a_room_has_no_dead_zone_areas() -> None:
    text = """
    gateways:
      - id: g
        compartments: [{sensor: g.air, profile: cold_room}]
        dead_zones: [{lat: 51.5, lon: 7.4, radius_m: 100}]
    """
    with pytest.raises(ScenarioError, match="needs a tour or a route"):
        Scenario.from_yaml(text)
