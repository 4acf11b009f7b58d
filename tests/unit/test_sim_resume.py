"""A simulation resumed from its saved state continues exactly as if it had not stopped."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldchain_sim import FaultKind, Firmware, Scenario, SimulationError

SCENARIOS = Path(__file__).resolve().parents[2] / "firmware-sim" / "scenarios"
START = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)  # the night before daylight saving


def _gateways() -> list[tuple[str, str]]:
    return [
        (path.name, gateway.id)
        for path in sorted(SCENARIOS.glob("*.yaml"))
        for gateway in Scenario.from_yaml(path.read_text()).gateways
    ]


def _firmware(scenario: str, gateway: str, state: dict[str, Any] | None = None) -> Firmware:
    loaded = Scenario.from_yaml((SCENARIOS / scenario).read_text())
    spec = loaded.gateway(gateway)
    if state is None:
        return Firmware(spec, seed=loaded.seed)
    return Firmware.resumed(spec, state, seed=loaded.seed)


def _ticks(firmware: Firmware, first: int, count: int, dt_s: float) -> list[tuple[Any, ...]]:
    """What the gateway would take from `count` ticks, `dt_s` of physics and reading time
    apart: readings, events, position, battery, clock offset, network."""
    seen = []
    for k in range(first, first + count):
        ts = START + timedelta(seconds=k * dt_s)
        readings, events = firmware.tick(ts, 0.0 if k == 0 else dt_s)
        seen.append(
            (
                [(r.sensor, r.temp_c) for r in readings],
                [(e.sensor, e.kind) for e in events],
                firmware.position(ts),
                firmware.battery_v(ts),
                firmware.clock_offset_s(ts),
                firmware.network_available(ts),
            )
        )
    return seen


@pytest.mark.parametrize(("scenario", "gateway"), _gateways())
def test_every_shipped_gateway_resumes_where_it_was(scenario: str, gateway: str) -> None:
    """Hours of a tour, faults, defrosts and doors; stopped, saved as text, resumed."""
    dt_s, before, after = 120.0, 180, 180
    running = _firmware(scenario, gateway)
    _ticks(running, 0, before, dt_s)
    saved = json.loads(json.dumps(running.state()))
    resumed = _firmware(scenario, gateway, saved)
    assert _ticks(resumed, before, after, dt_s) == _ticks(running, before, after, dt_s)


@settings(max_examples=25, deadline=None)
@given(
    before=st.integers(min_value=0, max_value=60),
    dt_s=st.sampled_from([5.0, 60.0, 300.0]),
    fault=st.sampled_from(
        [
            (FaultKind.DOOR_LEFT_OPEN, "van-1.chilled"),
            (FaultKind.POWER_LOSS, None),
            (FaultKind.SENSOR_DRIFT, "van-1.frozen"),
            (FaultKind.STUCK_SENSOR, "van-1.chilled"),
            (FaultKind.COMPRESSOR_FAILURE, "van-1.frozen"),
        ]
    ),
)
def test_a_resumed_van_keeps_its_injected_faults(
    before: int, dt_s: float, fault: tuple[FaultKind, str | None]
) -> None:
    running = _firmware("dortmund-hub.yaml", "van-1")
    _ticks(running, 0, 1, dt_s)
    running.inject(fault[0], fault[1], duration_s=dt_s * 40)
    _ticks(running, 1, before, dt_s)
    resumed = _firmware("dortmund-hub.yaml", "van-1", json.loads(json.dumps(running.state())))
    assert _ticks(resumed, before + 1, 60, dt_s) == _ticks(running, before + 1, 60, dt_s)


def test_a_state_of_another_gateway_or_seed_is_refused() -> None:
    van_1 = _firmware("dortmund-hub.yaml", "van-1")
    _ticks(van_1, 0, 3, 60.0)
    with pytest.raises(SimulationError, match="of another scenario, gateway or seed"):
        _firmware("dortmund-hub.yaml", "van-2", van_1.state())
    spec = Scenario.from_yaml((SCENARIOS / "dortmund-hub.yaml").read_text()).gateway("van-1")
    with pytest.raises(SimulationError, match="of another scenario, gateway or seed"):
        Firmware.resumed(spec, van_1.state(), seed=8)


@pytest.mark.parametrize(
    "damage",
    [
        lambda state: {},
        lambda state: state | {"v": 99},
        lambda state: "not a state",
        lambda state: state | {"compartments": None},
        lambda state: state | {"compartments": {"van-1.chilled": {}}},
        lambda state: state | {"t0": "yesterday"},
        lambda state: state | {"scheduled": [{"kind": "meteor"}]},
    ],
)
def test_a_broken_state_is_refused_with_a_reason(damage: Callable[[Any], Any]) -> None:
    van_1 = _firmware("dortmund-hub.yaml", "van-1")
    _ticks(van_1, 0, 3, 60.0)
    with pytest.raises(SimulationError, match="saved simulator state of gateway van-1"):
        _firmware("dortmund-hub.yaml", "van-1", damage(van_1.state()))
