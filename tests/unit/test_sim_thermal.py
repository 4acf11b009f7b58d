"""Simulated firmware: daily ambient cycle, goods' thermal mass, defrost cycles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from coldchain.contract import Event, EventKind
from coldchain_sim import CompartmentSpec, FaultKind, Firmware, GatewaySpec, Profile

BERLIN = ZoneInfo("Europe/Berlin")
SUMMER = datetime(2025, 7, 1, 0, 0, tzinfo=UTC)
WINTER = datetime(2025, 1, 15, 0, 0, tzinfo=UTC)
MINUTE = 60.0
HOUR = 3600.0


def single(profile: Profile, **overrides: Any) -> GatewaySpec:
    compartment = CompartmentSpec(sensor="g.air", profile=profile, door="g.door", **overrides)
    return GatewaySpec(id="g", compartments=[compartment])


def true_trace(
    firmware: Firmware, start: datetime, hours: float, dt_s: float = 5 * MINUTE
) -> list[tuple[datetime, float, list[Event]]]:
    """(ts, true air °C, events) every `dt_s`, reading and physics time alike."""
    out = []
    for i in range(round(hours * HOUR / dt_s) + 1):
        ts = start + timedelta(seconds=i * dt_s)
        _, events = firmware.tick(ts, 0.0 if i == 0 else dt_s)
        out.append((ts, firmware.temperature_c("g.air"), events))
    return out


def free_running_van(swing_k: float) -> Firmware:
    """A chilled van without a compressor and with a door that lets nothing through:
    its air follows the ambient, lagging by the insulation's time constant."""
    spec = single(Profile.VAN_CHILLED, ambient_swing_k=swing_k, door_tau_s=1e12)
    firmware = Firmware(spec, seed=1)
    firmware.inject(FaultKind.COMPRESSOR_FAILURE, sensor="g.air")
    return firmware


@pytest.mark.parametrize("start", [SUMMER, WINTER], ids=["summer", "winter"])
def test_ambient_follows_a_daily_cycle_in_berlin_time(start: datetime) -> None:
    trace = true_trace(free_running_van(swing_k=5.0), start, hours=48)
    second_day = [(ts, temp_c) for ts, temp_c, _ in trace if ts >= start + timedelta(hours=24)]
    warmest_ts, warmest_c = max(second_day, key=lambda sample: sample[1])
    coldest_ts, coldest_c = min(second_day, key=lambda sample: sample[1])
    # Warmest at 15:00 local plus the insulation's lag (tau 1.5 h: about 1.4 h).
    assert 15.5 <= _local_hour(warmest_ts) <= 17.5
    assert 3.5 <= _local_hour(coldest_ts) <= 5.5
    # A 1.5 h insulation damps a daily swing of ±5 K only a little.
    assert 8.5 < warmest_c - coldest_c < 10.0


def test_without_swing_the_ambient_is_constant() -> None:
    trace = true_trace(free_running_van(swing_k=0.0), SUMMER, hours=48)
    second_day = [temp_c for ts, temp_c, _ in trace if ts >= SUMMER + timedelta(hours=24)]
    assert max(second_day) - min(second_day) < 0.01


def test_swing_counts_when_checking_that_the_compressor_can_hold_the_set_point() -> None:
    with pytest.raises(ValueError, match="lower ambient_c, ambient_swing_k"):
        single(Profile.VAN_CHILLED, ambient_swing_k=30.0, cooling_k_per_s=0.006)


def _minutes_to_pass(product_kg: float, limit_c: float) -> float:
    spec = single(Profile.VAN_CHILLED, product_kg=product_kg, door_tau_s=1e12)
    firmware = Firmware(spec, seed=1)
    firmware.inject(FaultKind.COMPRESSOR_FAILURE, sensor="g.air")
    for i in range(24 * 60):
        firmware.tick(SUMMER + timedelta(minutes=i), 0.0 if i == 0 else MINUTE)
        if firmware.temperature_c("g.air") > limit_c:
            return float(i)
    return float("inf")


def test_goods_slow_the_warming_of_the_air() -> None:
    """Compressor failure at 02:00 Berlin time (measured: 14, 71 and 289 minutes)."""
    empty = _minutes_to_pass(0.0, 6.0)
    loaded = _minutes_to_pass(400.0, 6.0)
    heavy = _minutes_to_pass(1000.0, 6.0)
    assert empty <= 20
    assert loaded > 4 * empty
    assert heavy > 3 * loaded


def test_goods_follow_the_air_slowly() -> None:
    spec = single(Profile.VAN_CHILLED, product_kg=400.0, door_tau_s=1e12)
    firmware = Firmware(spec, seed=1)
    firmware.inject(FaultKind.COMPRESSOR_FAILURE, sensor="g.air")
    true_trace(firmware, SUMMER, hours=1)
    air_c, goods_c = firmware.temperature_c("g.air"), firmware.product_temperature_c("g.air")
    assert 2.5 < goods_c < air_c - 1.0


def _defrosts(events: list[Event]) -> list[EventKind]:
    return [e.kind for e in events if e.kind in (EventKind.DEFROST_START, EventKind.DEFROST_END)]


@pytest.mark.parametrize(
    ("profile", "hours", "rise_k"), [(Profile.FREEZER, 6, 1.5), (Profile.COLD_ROOM, 8, 0.4)]
)
def test_defrost_runs_on_schedule_in_local_time_with_paired_events_and_warms_the_probe(
    profile: Profile, hours: int, rise_k: float
) -> None:
    firmware = Firmware(single(profile), seed=4)
    started: list[datetime] = []
    ended: list[datetime] = []
    rises = []
    before_c = peak_c = 0.0
    for i in range(2 * 24 * 60 + 1):
        ts = SUMMER + timedelta(minutes=i)
        readings, events = firmware.tick(ts, 0.0 if i == 0 else MINUTE)
        assert all(e.sensor == "g.air" for e in events if e.kind.value.startswith("defrost"))
        for kind in _defrosts(events):
            if kind is EventKind.DEFROST_START:
                started.append(ts)
                peak_c = before_c
            else:
                ended.append(ts)
                rises.append(peak_c - before_c)
        peak_c = max(peak_c, readings[0].temp_c)
        if len(started) == len(ended):
            before_c = readings[0].temp_c
    assert len(started) == len(ended) == 2 * 24 // hours
    assert all(_local_hour(ts) % hours == 0 for ts in started)
    assert {end - start for start, end in zip(started, ended, strict=True)} == {
        timedelta(minutes=20)
    }
    assert min(rises) >= rise_k


def test_defrost_keeps_the_wall_clock_schedule_across_daylight_saving() -> None:
    """On 2025-03-30 Berlin loses an hour: starts stay at 00:00, 06:00, 12:00, 18:00."""
    firmware = Firmware(single(Profile.FREEZER), seed=4)
    start = datetime(2025, 3, 29, 12, 0, tzinfo=UTC)
    started = []
    for i in range(2 * 24 * 12 + 1):
        ts = start + timedelta(minutes=5 * i)
        _, events = firmware.tick(ts, 0.0 if i == 0 else 5 * MINUTE)
        started += [ts for kind in _defrosts(events) if kind is EventKind.DEFROST_START]
    local = [ts.astimezone(BERLIN) for ts in started]
    assert [(t.day, t.hour, t.minute) for t in local] == [
        (29, 18, 0), (30, 0, 0), (30, 6, 0), (30, 12, 0), (30, 18, 0), (31, 0, 0), (31, 6, 0),
        (31, 12, 0),
    ]  # fmt: skip


def test_vans_do_not_defrost_unless_told_and_a_room_can_be_told_not_to() -> None:
    for spec in (
        single(Profile.VAN_FROZEN),
        single(Profile.FREEZER, defrost_every_s=0.0),
    ):
        _, events = Firmware(spec, seed=1).tick(SUMMER, 48 * HOUR)
        assert _defrosts(events) == []
    spec = single(Profile.VAN_FROZEN, defrost_every_s=12 * HOUR, defrost_s=30 * MINUTE)
    _, events = Firmware(spec, seed=1).tick(SUMMER, 24 * HOUR)
    assert _defrosts(events) == [EventKind.DEFROST_START, EventKind.DEFROST_END] * 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"defrost_every_s": 7 * HOUR}, "must divide a day (86400 s) evenly"),
        ({"defrost_s": 7 * HOUR}, "must be above 0 and below defrost_every_s"),
    ],
)
def test_defrost_schedule_must_repeat_daily(overrides: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        single(Profile.FREEZER, **overrides)


def _local_hour(ts: datetime) -> float:
    local = ts.astimezone(BERLIN)
    return local.hour + local.minute / 60
