"""Faults at the edge, on real processes: the broker going away, a full outbox.

Each test classifies every reading the gateway recorded (tests/verdict.py).
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import pytest

from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SCENARIO
from coldchain_sim import Firmware, Scenario
from tests.alertsapi import ApiStack
from tests.verdict import MINUTE_NS, outbox_counter, stored_times, verdict

SCENARIOS = SCENARIO.parent
SENSORS = ("van-1.chilled", "van-1.frozen")


def _start(hours_ago: float) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=hours_ago)


def _stored(stack: ApiStack, sensor: str) -> list[int]:
    return stored_times(stack.influxdb, stack.database, sensor)


def _count(stack: ApiStack) -> int:
    return stack.influxdb.count(stack.database, "SELECT count(temp_c) FROM temperature")


def _verdict(stack: ApiStack, start: datetime, ticks: int) -> dict[str, int]:
    return verdict(stack.influxdb, stack.database, start, ticks, list(SENSORS))


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "kill-9"])
def test_broker_gone_mid_run_loses_nothing_and_doubles_nothing(
    stack: ApiStack, how: signal.Signals
) -> None:
    ticks = 240
    start = _start(hours_ago=6)
    stack.start_ingest()
    gateway = stack.gateway("van-1", start, ticks, speed=1200)
    gateway.start()
    wait_until(lambda: _count(stack) >= 60, 30, "some readings before the broker goes")

    assert stack.mosquitto.popen is not None
    stack.mosquitto.popen.send_signal(how)
    stack.mosquitto.popen.wait(10)
    outbox = stack.directory / "van-1.sqlite3"
    sampled = outbox_counter(outbox, "ticks")
    wait_until(lambda: outbox_counter(outbox, "ticks") >= sampled + 20, 30, "sampling offline")
    stack.mosquitto.start()

    assert gateway.wait(timeout=120) == 0, gateway.output()[-3000:]
    assert _verdict(stack, start, ticks) == {
        "stored once": 2 * ticks,
        "lost": 0,
        "unexpected": 0,
    }


def test_a_full_outbox_thins_old_readings_and_says_so(stack: ApiStack) -> None:
    ticks, budget = 200, 100
    start = _start(hours_ago=6)
    stack.start_ingest()
    assert stack.mosquitto.popen is not None
    stack.mosquitto.stop()
    gateway = stack.gateway(
        "van-1", start, ticks, speed=6000, COLDCHAIN_GATEWAY_OUTBOX_BUDGET_READINGS=str(budget)
    )
    gateway.start()
    outbox = stack.directory / "van-1.sqlite3"
    wait_until(lambda: outbox_counter(outbox, "ticks") == ticks, 60, "a dead zone's samples")
    stack.mosquitto.start()
    assert gateway.wait(timeout=120) == 0, gateway.output()[-3000:]

    thinned = outbox_counter(outbox, "thinned")
    assert thinned > 0
    verdict = _verdict(stack, start, ticks)
    assert verdict == {"stored once": 2 * ticks - thinned, "lost": thinned, "unexpected": 0}
    newest = {int(start.timestamp()) * 10**9 + k * MINUTE_NS for k in range(ticks - 20, ticks)}
    for sensor in SENSORS:
        assert newest <= set(_stored(stack, sensor)), "the newest readings stay complete"
        assert _stored(stack, sensor)[0] == int(start.timestamp()) * 10**9, "coverage starts at 0"
    events = stack.influxdb.count(
        stack.database, "SELECT count(seq) FROM event WHERE kind = 'outbox_thinned'"
    )
    assert events >= 1
    alarms = stack.influxdb.query(
        stack.database, """SELECT "key", gateway FROM alert WHERE rule = 'outbox_thinned'"""
    )
    assert alarms and {row[2] for row in alarms[0]["values"]} == {"van-1"}
    assert "thinned" in gateway.output()


@pytest.mark.parametrize("gateway_id", ["cold-room-1", "freezer-1"])
def test_a_clock_jump_is_reported_and_readings_keep_their_true_times(
    stack: ApiStack, gateway_id: str
) -> None:
    ticks = 60
    start = _start(hours_ago=3)
    stack.start_ingest()
    scenario = SCENARIOS / "clock-jump.yaml"
    gateway = stack.gateway(gateway_id, start, ticks, speed=3000, scenario=scenario)
    gateway.start()
    assert gateway.wait(timeout=90) == 0, gateway.output()[-3000:]

    sensor = f"{gateway_id}.air"
    expected = [int(start.timestamp()) * 10**9 + k * MINUTE_NS for k in range(ticks)]
    assert _stored(stack, sensor) == expected, "no reading in the future or the past"
    jumps = stack.influxdb.query(
        stack.database, "SELECT seq, sensor FROM event WHERE kind = 'clock_jump'"
    )
    assert [row[2] for row in jumps[0]["values"]] == [f"{gateway_id}.clock"]
    assert jumps[0]["values"][0][0] == expected[10], "reported at the first sample after it"
    alarms = stack.influxdb.query(
        stack.database, """SELECT "key", gateway FROM alert WHERE rule = 'clock_jump'"""
    )
    assert [row[2] for row in alarms[0]["values"]] == [gateway_id]
    assert "wall clock jumped" in gateway.output()


def test_a_restarted_simulated_gateway_continues_its_simulation_exactly(stack: ApiStack) -> None:
    """Van 2 for 90 minutes of reading time, stopped after 45 and started again: what it
    stores is what the simulation gives without the stop (the compressor failure keeps
    warming the compartment, the van goes on along its tour)."""
    ticks, stopped_after = 90, 45
    start = _start(hours_ago=4)
    stack.start_ingest()
    for run in (stopped_after, ticks):
        gateway = stack.gateway("van-2", start, run, speed=3000)
        gateway.start()
        assert gateway.wait(timeout=120) == 0, gateway.output()[-3000:]
    scenario = Scenario.from_yaml(SCENARIO.read_text())
    firmware = Firmware(scenario.gateway("van-2"), seed=scenario.seed)
    expected: dict[str, list[float]] = {"van-2.chilled": [], "van-2.frozen": []}
    places = []
    for k in range(ticks):
        ts = start + timedelta(minutes=k)
        readings, _ = firmware.tick(ts, 0.0 if k == 0 else 60.0)
        for reading in readings:
            expected[reading.sensor].append(reading.temp_c)
        position = firmware.position(ts)
        assert position is not None
        places.append([position.lat, position.lon])
    for sensor, values in expected.items():
        series = stack.influxdb.query(
            stack.database, f"SELECT temp_c FROM temperature WHERE sensor = '{sensor}'"
        )
        assert [row[1] for row in series[0]["values"]] == values, sensor
    stored = stack.influxdb.query(
        stack.database, "SELECT lat, lon FROM position WHERE gateway = 'van-2'"
    )
    assert [row[1:] for row in stored[0]["values"]] == places
