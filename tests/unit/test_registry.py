"""The fleet registry's rules: paths, changes, what loosens, and limits by reading time."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coldchain.contract import AlertState, Reading
from coldchain.engine import EngineState, RuleEngine
from coldchain.errors import FleetConfigError
from coldchain.fleet import Fleet, parse_yaml
from coldchain.registry import (
    ChangeRefused,
    FleetHistory,
    Version,
    changes,
    flatten,
    loosened,
    needs_reason,
    only_sites,
    set_value,
    sites_touched,
)

DEMO = Path(__file__).resolve().parents[2] / "fleet" / "dortmund-hub.yaml"
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def demo() -> dict[str, Any]:
    data: dict[str, Any] = parse_yaml(DEMO.read_text())
    return data


def room(max_c: float | None = None, **limits: Any) -> dict[str, Any]:
    """A one-room fleet (meat_products: max 6, warning 5) with a probe every minute."""
    overrides: dict[str, Any] = {"delay_s": 120, **limits}
    if max_c is not None:
        overrides["max_c"] = max_c
    return {
        "sites": [
            {
                "id": "hub",
                "name": "Hub",
                "assets": [
                    {
                        "id": "room",
                        "name": {"de": "Raum", "en": "Room"},
                        "category": "meat_products",
                        "limits": overrides,
                    }
                ],
                "gateways": [
                    {"id": "gw", "sensors": [{"id": "gw.air", "asset": "room", "interval_s": 60}]}
                ],
            }
        ]
    }


def test_paths_name_every_value_of_the_demo_fleet() -> None:
    flat = flatten(demo())
    assert flat["assets/cold-room-1/category"] == "meat_products"
    assert flat["assets/cold-room-1/limits/delay_s"] == 30
    assert flat["assets/cold-room-1/site"] == "dortmund-hub"
    assert flat["gateways/van-1/plate"] == "DO-RW 101"
    assert flat["sensors/van-1.door/kind"] == "door"
    assert flat["sites/dortmund-hub/timezone"] == "Europe/Berlin"


def two_sites() -> dict[str, Any]:
    """The demo fleet and a canteen with a room of its own."""
    data = demo()
    canteen = room()["sites"][0] | {"id": "canteen", "name": "Kantine"}
    data["sites"].append(canteen)
    return data


@pytest.mark.parametrize(
    ("path", "value", "sites"),
    [
        ("assets/room/limits/max_c", 4.0, {"canteen"}),
        ("sensors/gw.air/interval_s", 30, {"canteen"}),
        ("gateways/gw/plate", None, set()),
        ("gateways/van-1/plate", "DO-X 1", {"dortmund-hub"}),
        ("sites/canteen/name", "Mensa", {"canteen"}),
    ],
)
def test_a_change_touches_the_site_of_each_value_it_changes(
    path: str, value: Any, sites: set[str]
) -> None:
    before = two_sites()
    assert sites_touched(before, set_value(before, path, value)) == sites


def test_a_site_added_or_removed_touches_that_site_only() -> None:
    before = two_sites()
    after = only_sites(before, {"dortmund-hub"})
    assert [site["id"] for site in after["sites"]] == ["dortmund-hub"]
    assert sites_touched(before, after) == {"canteen"}
    assert sites_touched(after, before) == {"canteen"}


def test_a_set_value_is_the_one_change_and_needs_a_reason() -> None:
    before = demo()
    after = set_value(before, "assets/cold-room-1/limits/max_c", 4.0)
    found = changes(before, after)
    assert [(c.path, c.old, c.new) for c in found] == [
        ("assets/cold-room-1/limits/max_c", None, 4.0)
    ]
    assert needs_reason(found)
    renamed = set_value(before, "assets/cold-room-1/name/en", "Dairy room")
    assert not needs_reason(changes(before, renamed))
    assert before == demo(), "set_value changed its input"


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("assets/nowhere/limits/max_c", "there is no asset 'nowhere'"),
        ("assets/cold-room-1/limits/max_temp", "'max_temp' is not a limit"),
        ("assets/cold-room-1/colour", "not a value that can be set"),
        ("planets/mars/name", "there is no planet 'mars'"),
    ],
)
def test_unknown_paths_are_refused_with_the_reason(path: str, problem: str) -> None:
    with pytest.raises(ChangeRefused, match=problem):
        set_value(demo(), path, 1.0)


def test_a_limit_above_the_legal_maximum_is_no_valid_fleet() -> None:
    with pytest.raises(FleetConfigError, match="above the legal maximum"):
        Fleet.from_data(set_value(demo(), "assets/cold-room-2/limits/max_c", 4.5))


def test_a_limit_that_is_no_number_is_refused_with_the_reason() -> None:
    """It used to escape as a TypeError (deriving the warning level from it)."""
    with pytest.raises(FleetConfigError, match="max_c"):
        Fleet.from_data(set_value(demo(), "assets/cold-room-1/limits/max_c", "cold"))


def test_tightening_takes_effect_loosening_waits() -> None:
    base = Fleet.from_data(room(max_c=5.0))
    assert loosened(base, Fleet.from_data(room(max_c=4.0))) == []
    assert loosened(base, Fleet.from_data(room(max_c=6.0))) == [
        "room: max_c 5 → 6",
        "room: absolute_max_c 11 → 12",
    ], "the absolute limit follows max_c"
    assert loosened(base, Fleet.from_data(room(max_c=5.0, delay_s=600))) == [
        "room: delay_s 120 → 600"
    ]
    assert loosened(base, Fleet.from_data(room(max_c=5.0, delay_s=60))) == []


def test_a_looser_category_and_a_removed_asset_loosen() -> None:
    base = Fleet.from_data(demo())
    poultry_to_dairy = set_value(demo(), "assets/cold-room-2/category", "meat_products")
    assert "cold-room-2: max_c 4 → 6" in loosened(base, Fleet.from_data(poultry_to_dairy))
    moved = set_value(demo(), "sensors/cold-room-1.air/asset", "cold-room-2")
    assert loosened(base, Fleet.from_data(moved)) == [
        "sensor cold-room-1.air no longer judged for asset cold-room-1"
    ]


def test_history_finds_the_version_of_a_reading_time() -> None:
    base, v1, v2 = (Fleet.from_data(room(max_c=m)) for m in (6.0, 5.0, 4.0))
    history = FleetHistory(base)
    assert history.add(Version(2, T0 + timedelta(hours=2), v2))
    assert history.add(Version(1, T0 + timedelta(hours=1), v1))
    assert not history.add(Version(1, T0, v2)), "a number seen before is ignored"
    assert history.at(T0) is base
    assert history.at(T0 + timedelta(hours=1)) is v1
    assert history.at(T0 + timedelta(hours=1, minutes=59)) is v1
    assert history.at(T0 + timedelta(hours=3)) is v2
    assert history.latest is v2 and history.number == 2


def test_history_splits_a_span_at_each_version_in_it() -> None:
    base, v1, v2 = (Fleet.from_data(room(max_c=m)) for m in (6.0, 5.0, 4.0))
    one, two = T0 + timedelta(hours=1), T0 + timedelta(hours=2)
    history = FleetHistory(base, [Version(1, one, v1), Version(2, two, v2)])
    end = T0 + timedelta(hours=3)
    found = [(a, b, v.number) for a, b, v in history.periods(T0, end)]
    assert found == [(T0, one, 0), (one, two, 1), (two, end, 2)]
    assert [(a, b, v.number) for a, b, v in history.periods(one, two)] == [(one, two, 1)]
    history.add(Version(3, two, v1))  # two versions at one instant: the later number holds
    assert [v.number for _, _, v in history.periods(T0, end)] == [0, 1, 3]


def test_history_keeps_every_version_several_threads_add_at_once() -> None:
    """A cluster worker's pipelines share one history and each adds every version it gets:
    one adding while another's addition is under way must not drop it."""
    fleet = Fleet.from_data(room())
    history = FleetHistory(fleet)
    threads, each = 8, 60
    start = threading.Barrier(threads)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)

    def add(first: int) -> None:
        start.wait()
        for number in range(first, first + each):
            history.add(Version(number, T0 + timedelta(seconds=number), fleet))

    try:
        workers = [threading.Thread(target=add, args=(1 + n * each,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(previous)
    assert len(history.versions()) == threads * each


def readings(values: list[float], start: datetime = T0) -> list[Reading]:
    return [
        Reading(sensor="gw.air", ts=start + timedelta(minutes=n), temp_c=value)
        for n, value in enumerate(values)
    ]


def test_a_late_burst_is_judged_by_the_limits_of_its_time() -> None:
    """max_c 6 until 08:10, then 4: readings at 5 °C alarm only after 08:10, also when
    they all arrive at once after the change."""
    history = FleetHistory(Fleet.from_data(room(max_c=6.0, warn_max_c=5.5)))
    tightened = Fleet.from_data(room(max_c=4.0, warn_max_c=3.5))
    history.add(Version(1, T0 + timedelta(minutes=10), tightened))
    engine = RuleEngine(history, EngineState(started_at=T0))
    outcome = engine.observe(readings([5.0] * 20))
    raised = [a for a in outcome.alerts if a.state is AlertState.RAISED]
    assert [(a.rule, a.started_at, a.limit_c) for a in raised] == [
        ("over_max", T0 + timedelta(minutes=10), 4.0)
    ]


def test_a_running_excursion_continues_against_a_tightened_limit() -> None:
    """An excursion beyond max 6 since 08:00 keeps its start when the limit drops to 4."""
    history = FleetHistory(Fleet.from_data(room(max_c=6.0, delay_s=600)))
    history.add(Version(1, T0 + timedelta(minutes=3), Fleet.from_data(room(max_c=4.0))))
    engine = RuleEngine(history, EngineState(started_at=T0))
    outcome = engine.observe(readings([7.0] * 12))
    raised = [a for a in outcome.alerts if a.state is AlertState.RAISED and a.rule == "over_max"]
    assert [(a.started_at, a.at, a.limit_c) for a in raised] == [
        (T0, T0 + timedelta(minutes=3), 4.0)
    ], "delay 600 s until 08:03; 120 s from then on, counted from the excursion's start"


def test_an_incident_ends_when_the_new_version_has_no_level_on_its_side() -> None:
    cold = room(max_c=6.0, delay_s=60)
    history = FleetHistory(Fleet.from_data(cold))
    no_minimum = room(max_c=6.0, delay_s=60, min_c=None, warn_min_c=None)
    history.add(Version(1, T0 + timedelta(minutes=5), Fleet.from_data(no_minimum)))
    engine = RuleEngine(history, EngineState(started_at=T0))
    outcome = engine.observe(readings([-3.0] * 8))
    states = [
        (a.rule, a.state, a.limit_c) for a in outcome.alerts if a.state is not AlertState.UPDATED
    ]
    assert ("under_min", AlertState.RAISED, -1.0) in states
    assert ("under_min", AlertState.CLEARED, None) in states
    assert engine.state.sensors["gw.air"].episodes == {}
