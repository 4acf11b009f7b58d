"""A gateway's durable mark on the cluster covers only messages that are stored.

The MQTT listener of NATS acknowledges a gateway's QoS 1 publish before stream
TELEMETRY stores it: a message published while the stream has no leader (the
node that led it was just killed) is gone without a word, and the gateway's next
messages are stored. The gateway forgets everything up to a mark it gets, so a
mark above the missing message would lose its readings for good. (A module of its
own: its cluster's checkpoints know no other test's gateway.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from coldchain import topics
from coldchain_devstack.clusterstack import ClusterStack
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE
from coldchain_io import nats as nats_io
from tests.cluster.natsclient import Marks, partition_owner
from tests.mqttclient import telemetry_json
from tests.verdict import stored_times


def _owned_by(stack: ClusterStack, name: str) -> None:
    wait_until(
        lambda: all(
            partition_owner(stack.cluster, p) == name for p in range(stack.cluster.partitions)
        ),
        60,
        f"{name} to own every partition",
    )


def _stored(stack: ClusterStack, gateway: str) -> int:
    return len(stored_times(stack.influxdb, stack.database, f"{gateway}.chilled"))


def _messages(gateway: str) -> Callable[[int], tuple[str, bytes]]:
    """Message `seq` of `gateway` (one reading a minute) on its way into the cluster."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
    subject = nats_io.subject_of(topics.telemetry(SITE, gateway))

    def message(seq: int) -> tuple[str, bytes]:
        at = start + timedelta(minutes=seq)
        body = telemetry_json(gateway, f"{gateway}.chilled", seq, at, 4.0)
        return subject, body.encode()

    return message


def test_a_message_lost_on_its_way_holds_the_durable_mark_below_it(
    cluster_stack: ClusterStack,
) -> None:
    cluster_stack.worker("w1").start()
    _owned_by(cluster_stack, "w1")
    message = _messages("van-1")
    marks = Marks(cluster_stack.cluster, SITE, "van-1")
    marks.start()
    try:
        marks.publish([message(1), message(2), message(4)])  # 3 never reached the stream
        wait_until(lambda: max(marks.seqs, default=0) >= 2, 30, "messages 1 and 2 confirmed")
        wait_until(lambda: _stored(cluster_stack, "van-1") == 3, 30, "message 4 stored")
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
    first = cluster_stack.worker("w1")
    first.start()
    _owned_by(cluster_stack, "w1")
    message = _messages("van-2")
    marks = Marks(cluster_stack.cluster, SITE, "van-2")
    marks.start()
    try:
        marks.publish([message(1), message(2)])
        wait_until(lambda: max(marks.seqs, default=0) >= 2, 30, "messages 1 and 2 confirmed")
        first.stop()  # gives every partition back, checkpointed
        cluster_stack.worker("w2").start()
        _owned_by(cluster_stack, "w2")
        marks.publish([message(4)])  # 3 never reached the stream
        wait_until(lambda: _stored(cluster_stack, "van-2") == 3, 30, "message 4 stored")
        marks.publish([message(3)])
        wait_until(lambda: max(marks.seqs) >= 3, 30, "message 3 confirmed")
        assert 4 not in marks.seqs, marks.seqs
    finally:
        marks.stop()
