"""A gateway's durable mark on the cluster covers only messages that are stored, and
its messages are judged in seq order across a gap.

The MQTT listener of NATS acknowledges a gateway's QoS 1 publish before stream
TELEMETRY stores it: a message published while the stream has no leader (the
node that led it was just killed) is gone without a word, and the gateway's next
messages are stored. The gateway forgets everything up to a mark it gets, so a
mark above the missing message would lose its readings for good; and the rule
engine, judging each sensor in time order, would never judge the missing
message's readings had it judged the later ones first. (A module of its own: its
cluster's checkpoints know no other test's gateway; each test has its own.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import yaml

from coldchain import topics
from coldchain.contract import AlertState, parse_telemetry
from coldchain.engine import EngineState, RuleEngine
from coldchain.fleet import Fleet
from coldchain_devstack.clusterstack import ClusterStack
from coldchain_devstack.servers import Process, free_port, wait_until
from coldchain_devstack.stack import SITE
from coldchain_io import nats as nats_io
from tests.cluster.natsclient import Marks, alert_events, partition_owner
from tests.mqttclient import telemetry_json
from tests.verdict import stored_times

#: A worker that judges later messages at once, not waiting for a missing one.
NO_GAP_WAIT = {"COLDCHAIN_INGEST_GAP_WAIT_S": "0"}


def _owned_by(stack: ClusterStack, name: str) -> None:
    wait_until(
        lambda: all(
            partition_owner(stack.cluster, p) == name for p in range(stack.cluster.partitions)
        ),
        60,
        f"{name} to own every partition",
    )


def _stored(stack: ClusterStack, sensor: str) -> int:
    return len(stored_times(stack.influxdb, stack.database, sensor))


def _messages(
    gateway: str, sensor: str = "", warm: frozenset[int] = frozenset()
) -> Callable[[int], tuple[str, bytes]]:
    """Message `seq` of `gateway` (one reading a minute of `sensor`, its chilled probe
    unless named; 20 °C in the messages `warm`, 2 °C in the others) on its way into the
    cluster."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
    subject = nats_io.subject_of(topics.telemetry(SITE, gateway))
    probe = sensor or f"{gateway}.chilled"

    def message(seq: int) -> tuple[str, bytes]:
        at = start + timedelta(minutes=seq)
        body = telemetry_json(gateway, probe, seq, at, 20.0 if seq in warm else 2.0)
        return subject, body.encode()

    return message


Alarm = tuple[str, str, str, datetime]


def _judged_in_order(stack: ClusterStack, messages: list[tuple[str, bytes]]) -> list[Alarm]:
    """(key, state, rule, reading time) of each temperature alarm the rule engine raises
    or escalates on `messages`, judged in this order, one after the other."""
    fleet = Fleet.from_data(yaml.safe_load(stack.fleet.read_text()))
    engine = RuleEngine(fleet, EngineState(started_at=datetime.now(UTC) - timedelta(hours=5)))
    events = []
    for subject, payload in messages:
        gateway = subject.split(".")[-2]
        telemetry = parse_telemetry(SITE, gateway, payload, datetime.now(UTC))
        events += engine.observe(list(telemetry.readings)).alerts
    return [_alarm(e.key, e.state, e.rule, e.at) for e in events if _temperature(e.key, e.state)]


def _published(stack: ClusterStack, sensor: str) -> list[Alarm]:
    """The same of the alert events for `sensor` in stream ALERTS."""
    return [
        _alarm(p.event.key, p.event.state, p.event.rule, p.event.at)
        for p in alert_events(stack.cluster)
        if p.event.sensor == sensor and _temperature(p.event.key, p.event.state)
    ]


def _temperature(key: str, state: AlertState) -> bool:
    return key.startswith("temperature_") and state is not AlertState.UPDATED


def _alarm(key: str, state: AlertState, rule: str, at: datetime) -> Alarm:
    return key, state.value, rule, at


def _reading_time(message: tuple[str, bytes]) -> datetime:
    return datetime.fromisoformat(json.loads(message[1])["readings"][0]["ts"])


def _worker(stack: ClusterStack, name: str, **settings: str) -> tuple[Process, int]:
    """A worker started, and the port of its /metrics."""
    port = free_port()
    worker = stack.worker(name, COLDCHAIN_INGEST_METRICS_PORT=str(port), **settings)
    worker.start()
    return worker, port


def _metric(port: int, name: str) -> float | None:
    """One sample of a worker's /metrics, or None while it does not answer."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_a_message_lost_on_its_way_holds_the_durable_mark_below_it(
    cluster_stack: ClusterStack,
) -> None:
    # Without waiting for the missing message: the later ones are stored and acknowledged.
    cluster_stack.worker("w1", **NO_GAP_WAIT).start()
    _owned_by(cluster_stack, "w1")
    message = _messages("van-1")
    marks = Marks(cluster_stack.cluster, SITE, "van-1")
    marks.start()
    try:
        marks.publish([message(1), message(2), message(4)])  # 3 never reached the stream
        wait_until(lambda: max(marks.seqs, default=0) >= 2, 30, "messages 1 and 2 confirmed")
        wait_until(lambda: _stored(cluster_stack, "van-1.chilled") == 3, 30, "message 4 stored")
        marks.publish([message(3)])  # the gateway publishes again what is above its mark
        wait_until(lambda: max(marks.seqs) >= 3, 30, "message 3 confirmed")
        assert 4 not in marks.seqs, marks.seqs
        marks.publish([message(4)])
        wait_until(lambda: max(marks.seqs) >= 4, 30, "message 4 confirmed once it came again")
    finally:
        marks.stop()
    assert marks.seqs == sorted(marks.seqs), marks.seqs


def test_a_worker_taking_a_partition_over_knows_up_to_where_its_gateways_are_stored(
    cluster_stack: ClusterStack,
) -> None:
    """The message lost falls at the handover: the last owner confirmed 1 and 2, the new
    one first sees 4. It must not take 4 for where the gateway starts."""
    first = cluster_stack.worker("w1", **NO_GAP_WAIT)
    first.start()
    _owned_by(cluster_stack, "w1")
    message = _messages("van-2")
    marks = Marks(cluster_stack.cluster, SITE, "van-2")
    marks.start()
    try:
        marks.publish([message(1), message(2)])
        wait_until(lambda: max(marks.seqs, default=0) >= 2, 30, "messages 1 and 2 confirmed")
        first.stop()  # gives every partition back, checkpointed
        cluster_stack.worker("w2", **NO_GAP_WAIT).start()
        _owned_by(cluster_stack, "w2")
        marks.publish([message(4)])  # 3 never reached the stream
        wait_until(lambda: _stored(cluster_stack, "van-2.chilled") == 3, 30, "message 4 stored")
        marks.publish([message(3)])
        wait_until(lambda: max(marks.seqs) >= 3, 30, "message 3 confirmed")
        assert 4 not in marks.seqs, marks.seqs
    finally:
        marks.stop()


def test_a_message_lost_on_its_way_is_judged_before_the_later_ones(
    cluster_stack: ClusterStack,
) -> None:
    """Message 3 crosses the absolute limit and reaches the stream after 4 and 5 (the
    gateway publishes it again): the alarm names message 3's reading time, as the rule
    engine gives on the messages in order, not message 4's."""
    cluster_stack.worker("w1").start()
    _owned_by(cluster_stack, "w1")
    message = _messages("van-3", warm=frozenset({3, 4, 5}))
    marks = Marks(cluster_stack.cluster, SITE, "van-3")
    marks.start()
    try:
        marks.publish([message(1), message(2), message(4), message(5)])
        wait_until(lambda: max(marks.seqs, default=0) >= 2, 30, "messages 1 and 2 confirmed")
        # The gateway publishes everything above its mark again.
        marks.publish([message(3), message(4), message(5)])
        wait_until(lambda: max(marks.seqs) >= 5, 30, "messages 3 to 5 confirmed")
    finally:
        marks.stop()
    expected = _judged_in_order(cluster_stack, [message(seq) for seq in range(1, 6)])
    assert expected[0][1:] == ("raised", "over_absolute", _reading_time(message(3))), expected
    assert (
        wait_until(lambda: _published(cluster_stack, "van-3.chilled") or None, 30, "the alarm")
        == expected
    )
    assert _stored(cluster_stack, "van-3.chilled") == 5


def test_later_messages_go_on_without_a_missing_one_that_never_comes(
    cluster_stack: ClusterStack,
) -> None:
    """Message 3 never comes (the gateway's outbox thinned): after the wait, 4 and 5 are
    stored and judged, the wait counted and logged, and the mark stays below 3."""
    worker, port = _worker(cluster_stack, "w1", COLDCHAIN_INGEST_GAP_WAIT_S="2")
    _owned_by(cluster_stack, "w1")
    sensor = "cold-room-1.air"
    message = _messages("cold-room-1", sensor, warm=frozenset({4, 5}))
    marks = Marks(cluster_stack.cluster, SITE, "cold-room-1")
    marks.start()
    try:
        marks.publish([message(1), message(2), message(4), message(5)])
        wait_until(lambda: _stored(cluster_stack, sensor) == 4, 30, "1, 2, 4 and 5 stored")
        assert _metric(port, "coldchain_ingest_gaps_not_filled_total") == 1
        assert "messages 3 missing" in worker.output()
        assert max(marks.seqs) == 2, marks.seqs
        expected = _judged_in_order(cluster_stack, [message(seq) for seq in (1, 2, 4, 5)])
        assert expected, expected
        assert (
            wait_until(lambda: _published(cluster_stack, sensor) or None, 30, "the alarm")
            == expected
        )
        # Later after all: the gateway publishes everything above its mark again.
        marks.publish([message(3), message(4), message(5)])
        wait_until(lambda: max(marks.seqs) >= 5, 30, "messages 3 to 5 confirmed")
    finally:
        marks.stop()
    assert _stored(cluster_stack, sensor) == 5


def test_messages_waiting_for_a_missing_one_survive_their_workers_kill_9(
    cluster_stack: ClusterStack,
) -> None:
    """Messages 4 and 5 wait in a worker for 3 when it is killed: the worker taking the
    partition over gets them again from the stream and waits for 3 just as well."""
    first, port = _worker(cluster_stack, "w1")
    _owned_by(cluster_stack, "w1")
    sensor = "cold-room-2.air"
    message = _messages("cold-room-2", sensor, warm=frozenset({3, 4, 5}))
    marks = Marks(cluster_stack.cluster, SITE, "cold-room-2")
    marks.start()
    try:
        marks.publish([message(1), message(2)])
        wait_until(lambda: max(marks.seqs, default=0) >= 2, 30, "messages 1 and 2 confirmed")
        marks.publish([message(4), message(5)])
        wait_until(lambda: _metric(port, "coldchain_ingest_messages_waiting") == 2, 30, "4, 5")
        first.kill()
        _, port = _worker(cluster_stack, "w2")
        _owned_by(cluster_stack, "w2")
        wait_until(lambda: _metric(port, "coldchain_ingest_messages_waiting") == 2, 30, "again")
        assert _stored(cluster_stack, sensor) == 2
        # The gateway publishes everything above its mark again.
        marks.publish([message(3), message(4), message(5)])
        wait_until(lambda: max(marks.seqs) >= 5, 30, "messages 3 to 5 confirmed")
    finally:
        marks.stop()
    expected = _judged_in_order(cluster_stack, [message(seq) for seq in range(1, 6)])
    assert expected[0][1:] == ("raised", "over_absolute", _reading_time(message(3))), expected
    assert (
        wait_until(lambda: _published(cluster_stack, sensor) or None, 30, "the alarm") == expected
    )
    assert _stored(cluster_stack, sensor) == 5
