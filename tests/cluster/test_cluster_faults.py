"""The cluster under `kill -9`: the ingest worker that owns the partition where an
excursion is in progress, then one NATS node, while six simulated gateways publish.

Verdict as in tests/faults: every reading the gateways recorded is stored once
(tests/verdict.py), and van 2's excursion (its chilled compressor fails) gives
exactly the alert events the rule engine gives on the same readings without any
fault: one alert, raised and escalated at the right reading times, no copy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml

from coldchain.contract import AlertEvent, AlertState
from coldchain.engine import EngineState, RuleEngine
from coldchain.fleet import Fleet
from coldchain_devstack.clusterstack import ClusterStack
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SCENARIO, SITE
from coldchain_io.nats import partition_of
from coldchain_sim import Firmware, Scenario
from tests.cluster.conftest import DEMO_GATEWAYS, PARTITIONS
from tests.cluster.natsclient import alert_events, partition_owner
from tests.verdict import verdict

SENSORS = [
    "cold-room-1.air",
    "cold-room-2.air",
    "freezer-1.air",
    "van-1.chilled",
    "van-1.frozen",
    "van-2.chilled",
    "van-2.frozen",
    "van-3.chilled",
    "van-3.frozen",
]
EXCURSION = "van-2.chilled"


def _expected(
    stack: ClusterStack, start: datetime, ticks: int
) -> list[tuple[str, str, str, datetime]]:
    """(key, state, rule, reading time) of each alert event of van 2's chilled probe that
    is not an update, as the rule engine raises them on the simulated readings."""
    fleet = Fleet.from_data(yaml.safe_load(stack.fleet.read_text()))
    engine = RuleEngine(fleet, EngineState(started_at=start))
    scenario = Scenario.from_yaml(SCENARIO.read_text())
    firmware = Firmware(scenario.gateway("van-2"), seed=scenario.seed)
    events = []
    for k in range(ticks):
        ts = start + timedelta(minutes=k)
        readings, sampled = firmware.tick(ts, 0.0 if k == 0 else 60.0)
        events += engine.observe(readings, sampled).alerts
    return [(e.key, e.state.value, e.rule, e.at) for e in events if _excursion(e)]


def _published(stack: ClusterStack) -> list[tuple[str, str, str, datetime]]:
    return [
        (p.event.key, p.event.state.value, p.event.rule, p.event.at)
        for p in alert_events(stack.cluster)
        if _excursion(p.event)
    ]


def _excursion(event: AlertEvent) -> bool:
    """A raise, escalation or clearing of a temperature alert of van 2's chilled probe (its
    `no_data` alarms follow the wall clock, which the replayed readings are hours behind)."""
    return (
        event.sensor == EXCURSION
        and event.key.startswith("temperature_")
        and event.state is not AlertState.UPDATED
    )


def _stored(stack: ClusterStack) -> int:
    return stack.influxdb.count(stack.database, "SELECT count(temp_c) FROM temperature")


def _last_reading(stack: ClusterStack, sensor: str) -> datetime | None:
    series = stack.influxdb.query(
        stack.database, f"SELECT last(temp_c) FROM temperature WHERE sensor = '{sensor}'"
    )
    return datetime.fromtimestamp(series[0]["values"][0][0] / 1e9, UTC) if series else None


def test_kill_9_of_the_excursions_worker_and_of_a_node_loses_and_doubles_nothing(
    cluster_stack: ClusterStack,
) -> None:
    stack = cluster_stack
    ticks = 150
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
    expected = _expected(stack, start, ticks)
    key, state, _, raised_at = expected[0]
    assert state == "raised", expected
    excursion_start = datetime.fromisoformat(key.rsplit("/", 1)[1])
    workers = {name: stack.worker(name) for name in ("w1", "w2")}
    for worker in workers.values():
        worker.start()
    gateways = [stack.gateway(g, start, ticks, speed=120) for _, g in DEMO_GATEWAYS]
    for gateway in gateways:
        gateway.start()

    # Van 2's compartment is above its limit, the alarm's delay not over yet: the
    # worker judging it dies with the excursion in its rule state only.
    wait_until(
        lambda: (_last_reading(stack, EXCURSION) or start) >= excursion_start,
        60,
        "van 2's excursion under way",
    )
    partition = partition_of(SITE, "van-2", PARTITIONS)
    owner = wait_until(lambda: partition_owner(stack.cluster, partition), 30, "its owner")
    workers[owner].kill()
    assert _last_reading(stack, EXCURSION) < raised_at  # type: ignore[operator]
    assert _published(stack) == []

    wait_until(lambda: _published(stack), 60, "van 2's excursion raised by the other worker")
    stack.cluster.kill(0)  # every gateway was connected to it
    stored = _stored(stack)
    wait_until(lambda: _stored(stack) >= stored + 100, 90, "readings through the other nodes")
    stack.cluster.restart(0)

    for gateway in gateways:
        assert gateway.wait(timeout=150) == 0, gateway.output()[-3000:]
    assert verdict(stack.influxdb, stack.database, start, ticks, SENSORS) == {
        "stored once": ticks * len(SENSORS),
        "lost": 0,
        "unexpected": 0,
    }
    published = alert_events(stack.cluster)
    ids = [p.msg_id for p in published]
    assert len(ids) == len(set(ids)), "an alert event was stored twice in stream ALERTS"
    assert _published(stack) == expected
    assert len({key for key, *_ in expected}) == 1
