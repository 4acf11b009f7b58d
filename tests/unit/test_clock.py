"""The gateway's clocks: a wall clock that jumps is caught by the monotonic one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coldchain_gateway.clock import JumpGuard, ReplayClock

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _stamps(walls: list[tuple[float, float]]) -> list[tuple[float, float | None]]:
    """(wall s after T0, monotonic s) -> (stamped s after T0, jump reported)."""
    guard = JumpGuard(tolerance_s=10)
    out = []
    for wall, mono in walls:
        ts, jumped = guard.stamp(T0 + timedelta(seconds=wall), mono)
        out.append(((ts - T0).total_seconds(), jumped))
    return out


def test_a_steady_clock_is_trusted() -> None:
    assert _stamps([(0, 100), (60, 160), (121, 221)]) == [(0, None), (60, None), (121, None)]


def test_a_jump_ahead_is_reported_once_and_readings_stay_on_monotonic_time() -> None:
    stamps = _stamps([(0, 100), (60, 160), (3720, 220), (3780, 280), (240, 340)])
    assert stamps == [(0, None), (60, None), (120, 3600.0), (180, None), (240, None)]


@pytest.mark.parametrize("jump", [-86400.0, -30.0, 45.0])
def test_jumps_back_and_small_ones_beyond_the_tolerance_are_caught(jump: float) -> None:
    stamps = _stamps([(0, 0), (60 + jump, 60)])
    assert stamps[1] == (60, jump)


def test_replay_clock_with_a_wrong_wall_clock_keeps_the_true_series() -> None:
    def offset(ts: datetime) -> float:
        return 3600.0 if ts >= T0 + timedelta(minutes=3) else 0.0

    clock = ReplayClock(T0, 60, 1000, 0, JumpGuard(10), offset_s=offset)
    ticks = [clock.take() for _ in range(5)]
    assert [t.ts for t in ticks] == [T0 + timedelta(minutes=k) for k in range(5)]
    assert [t.clock_jump_s for t in ticks] == [None, None, None, 3600.0, None]
