"""Simulated firmware: every fault kind, from scenarios and injected, in readings and events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coldchain.contract import EventKind
from coldchain_sim import (
    GATEWAY_FAULTS,
    CompartmentSpec,
    FaultKind,
    Firmware,
    GatewaySpec,
    Profile,
    Scenario,
    ScenarioError,
    SimulationError,
)

T0 = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
MINUTE = 60.0
HOUR = 3600.0


@dataclass
class Tick:
    ts: datetime
    readings: dict[str, float]
    events: list[tuple[str, EventKind]]
    true_c: dict[str, float] = field(default_factory=dict)


def gateway(
    *compartments: tuple[Profile, str],
    faults: list[dict[str, Any]] | None = None,
    battery: dict[str, float] | None = None,
) -> GatewaySpec:
    """A gateway 'g' from (profile, sensor) pairs; 'g.air' has the door 'g.door'."""
    specs = [
        CompartmentSpec(
            sensor=sensor, profile=profile, door="g.door" if sensor == "g.air" else None
        )
        for profile, sensor in compartments
    ]
    document: dict[str, Any] = {"id": "g", "compartments": specs, "faults": faults or []}
    if battery is not None:
        document["battery"] = battery
    return GatewaySpec.model_validate(document)


def ticks(firmware: Firmware, minutes: int, every_s: float = MINUTE) -> list[Tick]:
    """Tick every `every_s` (reading and physics seconds alike) from T0 on."""
    out = []
    for i in range(round(minutes * MINUTE / every_s) + 1):
        ts = T0 + timedelta(seconds=i * every_s)
        readings, events = firmware.tick(ts, 0.0 if i == 0 else every_s)
        out.append(
            Tick(
                ts,
                {r.sensor: r.temp_c for r in readings},
                [(e.sensor, e.kind) for e in events],
                {sensor: firmware.temperature_c(sensor) for sensor in firmware.sensors},
            )
        )
    return out


def at_minute(trace: list[Tick], minute: float) -> Tick:
    return next(t for t in trace if t.ts >= T0 + timedelta(minutes=minute))


def test_door_left_open_for_a_while_then_shut() -> None:
    spec = gateway(
        (Profile.VAN_CHILLED, "g.air"),
        faults=[{"kind": "door_left_open", "sensor": "g.air", "after_s": 600, "duration_s": 1800}],
    )
    trace = ticks(Firmware(spec, seed=3), minutes=60)
    door = [(t.ts, kind) for t in trace for sensor, kind in t.events if sensor == "g.door"]
    # Its own habit would open the door first after 20 to 40 minutes.
    assert door[:2] == [
        (T0 + timedelta(minutes=10), EventKind.DOOR_OPEN),
        (T0 + timedelta(minutes=40), EventKind.DOOR_CLOSED),
    ]
    assert at_minute(trace, 39).readings["g.air"] > 6.0
    assert at_minute(trace, 60).readings["g.air"] < 6.0


def test_door_left_open_for_good_by_its_former_name() -> None:
    text = """
    gateways:
      - id: g
        compartments: [{sensor: g.air, profile: freezer, door: g.door}]
        faults: [{kind: door_stuck_open, sensor: g.air, after_s: 60}]
    """
    firmware = Firmware(Scenario.from_yaml(text).gateway("g"), seed=1)
    trace = ticks(firmware, minutes=12 * 60, every_s=5 * MINUTE)
    door = [kind for t in trace for sensor, kind in t.events if sensor == "g.door"]
    assert door[-1] is EventKind.DOOR_OPEN
    assert trace[-1].readings["g.air"] > -10.0


def test_compressor_failure_for_a_while_then_repaired() -> None:
    spec = gateway(
        (Profile.VAN_CHILLED, "g.air"),
        faults=[{"kind": "compressor_failure", "sensor": "g.air", "duration_s": 1800}],
    )
    trace = ticks(Firmware(spec, seed=2), minutes=90)
    assert at_minute(trace, 29).true_c["g.air"] > 6.0
    assert at_minute(trace, 90).true_c["g.air"] < 4.0


def test_power_loss_silences_the_probe_stops_the_compressor_and_reports_both_ends() -> None:
    spec = gateway(
        (Profile.FREEZER, "g.air"),
        (Profile.VAN_FROZEN, "g.frozen"),
        faults=[{"kind": "power_loss", "sensor": "g.air", "after_s": 600, "duration_s": 7200}],
    )
    trace = ticks(Firmware(spec, seed=5), minutes=180)
    dark = [t for t in trace if "g.air" not in t.readings]
    assert [t.ts for t in dark] == [T0 + timedelta(minutes=m) for m in range(10, 130)]
    assert all("g.frozen" in t.readings for t in trace)
    power = [(t.ts, e) for t in trace for e in t.events if e[1].value.startswith("power")]
    assert power == [
        (T0 + timedelta(minutes=10), ("g.air", EventKind.POWER_LOST)),
        (T0 + timedelta(minutes=130), ("g.air", EventKind.POWER_RESTORED)),
    ]
    before, after = at_minute(trace, 9).readings["g.air"], at_minute(trace, 130).readings["g.air"]
    assert after > before + 3.0
    assert at_minute(trace, 180).readings["g.air"] < after


def test_power_loss_without_a_sensor_cuts_every_compartment() -> None:
    spec = gateway(
        (Profile.VAN_CHILLED, "g.air"),
        (Profile.VAN_FROZEN, "g.frozen"),
        faults=[{"kind": "power_loss", "after_s": 300, "duration_s": 600}],
    )
    trace = ticks(Firmware(spec, seed=5), minutes=20)
    assert [len(t.readings) for t in trace] == [2] * 5 + [0] * 10 + [2] * 6
    kinds = [e for t in trace for e in t.events if e[1].value.startswith("power")]
    assert sorted(kinds) == sorted(
        [
            (s, k)
            for s in ("g.air", "g.frozen")
            for k in (EventKind.POWER_LOST, EventKind.POWER_RESTORED)
        ]
    )


def test_power_loss_ends_a_running_defrost_and_skips_those_due() -> None:
    """Freezer defrosts at 00:00, 06:00, 12:00, 18:00 Berlin time (T0 is 08:00)."""
    spec = gateway(
        (Profile.FREEZER, "g.air"),
        faults=[
            {
                "kind": "power_loss",
                "sensor": "g.air",
                "after_s": 4 * HOUR + 600,
                "duration_s": 6 * HOUR,
            }
        ],
    )
    trace = ticks(Firmware(spec, seed=5), minutes=12 * 60, every_s=5 * MINUTE)
    kinds = [
        (t.ts.hour, k) for t in trace for _, k in t.events if k.value[:5] in ("defro", "power")
    ]
    assert kinds == [
        (10, EventKind.DEFROST_START),  # 12:00 Berlin
        (10, EventKind.DEFROST_END),  # power lost at 10:10 UTC, mid-defrost
        (10, EventKind.POWER_LOST),
        # 18:00 Berlin (16:00 UTC) falls in the power loss: skipped.
        (16, EventKind.POWER_RESTORED),
    ]


def test_sensor_drift_adds_its_rate_per_hour_to_the_true_value_until_recalibrated() -> None:
    spec = gateway(
        (Profile.COLD_ROOM, "g.air"),
        faults=[
            {
                "kind": "sensor_drift",
                "sensor": "g.air",
                "after_s": 600,
                "duration_s": 4 * HOUR,
                "rate_k_per_h": 1.5,
            }
        ],
    )
    trace = ticks(Firmware(spec, seed=9), minutes=6 * 60)
    for tick in trace:
        minutes = (tick.ts - T0).total_seconds() / MINUTE
        drifted = 1.5 * (minutes - 10) / 60 if 10 <= minutes < 250 else 0.0
        error = tick.readings["g.air"] - tick.true_c["g.air"]
        assert abs(error - drifted) < 0.3, (minutes, error, drifted)
    assert at_minute(trace, 249).readings["g.air"] > 6.0


def test_negative_drift_reads_low_and_default_rate_is_half_a_kelvin_per_hour() -> None:
    for rate, expected in ((-2.0, -8.0), (None, 2.0)):
        firmware = Firmware(gateway((Profile.COLD_ROOM, "g.air")), seed=9)
        firmware.inject(FaultKind.SENSOR_DRIFT, "g.air", rate_k_per_h=rate)
        trace = ticks(firmware, minutes=4 * 60)
        error = trace[-1].readings["g.air"] - trace[-1].true_c["g.air"]
        assert abs(error - expected) < 0.3


def test_stuck_sensor_repeats_its_last_value_while_the_air_moves() -> None:
    spec = gateway(
        (Profile.VAN_CHILLED, "g.air"),
        faults=[
            {"kind": "stuck_sensor", "sensor": "g.air", "after_s": 600, "duration_s": 3 * HOUR}
        ],
    )
    trace = ticks(Firmware(spec, seed=2), minutes=4 * 60)
    stuck = [
        t for t in trace if T0 + timedelta(minutes=10) <= t.ts < T0 + timedelta(hours=3, minutes=10)
    ]
    before = at_minute(trace, 9).readings["g.air"]
    assert {t.readings["g.air"] for t in stuck} == {before}
    true = [t.true_c["g.air"] for t in stuck]
    assert max(true) - min(true) > 1.0
    unstuck = [t.readings["g.air"] for t in trace if t.ts >= T0 + timedelta(hours=3, minutes=10)]
    assert len(set(unstuck)) > 3


def test_stuck_before_the_first_reading_sticks_at_the_first() -> None:
    firmware = Firmware(gateway((Profile.VAN_CHILLED, "g.air")), seed=2)
    firmware.inject(FaultKind.STUCK_SENSOR, "g.air")
    trace = ticks(firmware, minutes=120)
    assert len({t.readings["g.air"] for t in trace}) == 1


BATTERY = {"full_v": 3.6, "empty_v": 3.0, "discharge_v_per_h": 0.002}


def test_battery_discharges_slowly_and_none_means_mains_power() -> None:
    mains = Firmware(gateway((Profile.COLD_ROOM, "g.air")), seed=1)
    assert mains.battery_v(T0) is None
    firmware = Firmware(gateway((Profile.COLD_ROOM, "g.air"), battery=BATTERY), seed=1)
    assert firmware.battery_v(T0) == 3.6
    ticks(firmware, minutes=24 * 60, every_s=15 * MINUTE)
    assert firmware.battery_v(T0 + timedelta(hours=24)) == pytest.approx(3.6 - 24 * 0.002)


def test_dying_battery_falls_to_empty_and_a_new_one_is_full() -> None:
    spec = gateway(
        (Profile.COLD_ROOM, "g.air"),
        faults=[
            {"kind": "dying_battery", "after_s": HOUR, "duration_s": 10 * HOUR, "rate_v_per_h": 0.1}
        ],
        battery=BATTERY,
    )
    firmware = Firmware(spec, seed=1)
    volts = []
    for i in range(13):
        ts = T0 + timedelta(hours=i)
        firmware.tick(ts, 0.0 if i == 0 else HOUR)
        volts.append(firmware.battery_v(ts))
    # A fault acts on the physics of the tick it fires at: here the hour up to T0 + 1 h.
    assert volts[1] == pytest.approx(3.6 - 0.102)
    assert volts[3] == pytest.approx(3.6 - 3 * 0.102)
    assert volts[5] > 3.0
    assert volts[6] == volts[10] == 3.0  # empty, and it stays there
    assert volts[11] == pytest.approx(3.598)  # replaced at the tick the fault ends
    assert volts[12] == pytest.approx(3.596)


def test_clock_jump_offsets_the_clock_within_its_window_only() -> None:
    spec = gateway(
        (Profile.COLD_ROOM, "g.air"),
        faults=[
            {"kind": "clock_jump", "after_s": 600, "duration_s": 1800, "offset_s": 3600},
            {"kind": "clock_jump", "after_s": 3600, "offset_s": -86400},
        ],
    )
    firmware = Firmware(spec, seed=1)
    assert firmware.clock_offset_s(T0 + timedelta(hours=2)) == 0.0  # no first tick yet
    offsets = {}
    for minute in range(0, 121, 5):
        ts = T0 + timedelta(minutes=minute)
        offsets[minute] = firmware.clock_offset_s(ts)  # asked before the tick, as a gateway does
        firmware.tick(ts, 5 * MINUTE)
    assert {m for m, o in offsets.items() if o == 3600} == set(range(10, 40, 5))
    assert {m for m, o in offsets.items() if o == -86400} == set(range(60, 121, 5))
    assert {m for m, o in offsets.items() if o == 0} == {0, 5, 40, 45, 50, 55}


def test_injected_faults_start_at_the_next_tick() -> None:
    firmware = Firmware(gateway((Profile.COLD_ROOM, "g.air"), battery=BATTERY), seed=1)
    ticks(firmware, minutes=10)
    firmware.inject(FaultKind.CLOCK_JUMP, offset_s=120, duration_s=600)
    firmware.inject(FaultKind.POWER_LOSS, "g.air", duration_s=600)
    firmware.inject(FaultKind.DYING_BATTERY, rate_v_per_h=1.0)
    now = T0 + timedelta(minutes=11)
    assert firmware.clock_offset_s(now) == 0.0
    readings, events = firmware.tick(now, MINUTE)
    assert readings == []
    assert [e.kind for e in events] == [EventKind.POWER_LOST]
    assert firmware.clock_offset_s(now) == 120.0
    assert firmware.clock_offset_s(now + timedelta(minutes=10)) == 0.0
    # From the physics of this tick on (the minute since T0 + 10 min): 1.002 V/h.
    later = now + timedelta(minutes=15)
    expected = 3.6 - 10 / 60 * 0.002 - 16 / 60 * 1.002
    assert firmware.battery_v(later) == pytest.approx(expected, abs=0.0005)


@pytest.mark.parametrize(
    ("kind", "arguments", "message"),
    [
        (FaultKind.CLOCK_JUMP, {"sensor": "g.air", "offset_s": 5}, "remove 'sensor'"),
        (FaultKind.CLOCK_JUMP, {}, "needs 'offset_s'"),
        (FaultKind.STUCK_SENSOR, {}, "stuck_sensor needs 'sensor'"),
        (
            FaultKind.STUCK_SENSOR,
            {"sensor": "g.air", "rate_k_per_h": 1},
            "applies to sensor_drift only",
        ),
        (FaultKind.DYING_BATTERY, {}, "has no battery"),
        (FaultKind.POWER_LOSS, {"duration_s": -1}, "greater than 0"),
    ],
)
def test_inject_rejects_what_does_not_fit_the_fault(
    kind: FaultKind, arguments: dict[str, Any], message: str
) -> None:
    firmware = Firmware(gateway((Profile.COLD_ROOM, "g.air")), seed=1)
    with pytest.raises(SimulationError, match=message):
        firmware.inject(kind, **arguments)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("{kind: dying_battery}", "fault dying_battery needs a battery"),
        ("{kind: clock_jump, offset_s: 0}", "clock_jump needs 'offset_s'"),
        ("{kind: sensor_drift, sensor: g.air, rate_k_per_h: 0}", "non-zero rate_k_per_h"),
        ("{kind: compressor_failure}", "compressor_failure needs 'sensor'"),
        ("{kind: power_loss, sensor: g.air, offset_s: 5}", "offset_s applies to clock_jump only"),
    ],
)
def test_scenario_faults_are_checked_against_their_kind(fault: str, message: str) -> None:
    text = f"""
    gateways:
      - id: g
        compartments: [{{sensor: g.air, profile: cold_room}}]
        faults: [{fault}]
    """
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_yaml(text)


def test_gateway_faults_are_the_battery_and_the_clock() -> None:
    assert {FaultKind.DYING_BATTERY, FaultKind.CLOCK_JUMP} == GATEWAY_FAULTS
