"""Ingest workers on the NATS cluster share the partitions and store every reading once."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coldchain import topics
from coldchain_devstack.clusterstack import ClusterStack
from coldchain_devstack.servers import Process, accepts, executable, free_port, wait_until
from coldchain_devstack.stack import SITE
from coldchain_io import nats as nats_io
from coldchain_io.nats import partition_of
from tests.cluster.conftest import DEMO_GATEWAYS
from tests.cluster.natsclient import collect, gateway_publish, partition_owner
from tests.cluster.natsrelay import NatsRelay
from tests.influxrelay import WriteHolder
from tests.mqttclient import telemetry_json
from tests.verdict import stored_times, verdict

SENSORS = ["van-1.chilled", "van-1.frozen", "cold-room-1.air", "freezer-1.air"]


def test_two_workers_share_the_partitions_and_store_every_reading_once(
    cluster_stack: ClusterStack,
) -> None:
    ticks = 120
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=4)
    workers = [cluster_stack.worker(name) for name in ("w1", "w2")]
    for worker in workers:
        worker.start()
    gateways = [cluster_stack.gateway(g, start, ticks) for _, g in DEMO_GATEWAYS]
    for gateway in gateways:
        gateway.start()
    for gateway in gateways:
        assert gateway.wait(timeout=120) == 0, gateway.output()[-3000:]

    result = verdict(cluster_stack.influxdb, cluster_stack.database, start, ticks, SENSORS)
    assert result == {"stored once": ticks * len(SENSORS), "lost": 0, "unexpected": 0}
    for worker in workers:
        wait_until(lambda w=worker: "taken" in w.output(), 10, f"{worker.name} to own some")
    # SIGTERM (compose, systemd) ends a worker cleanly, its partitions given back for the
    # next to take at once; killed after the stop's deadline, it would leave its leases
    # to run out.
    for worker in workers:
        assert worker.stop() == 0, worker.output()[-3000:]
    partitions = range(cluster_stack.cluster.partitions)
    assert not any(partition_owner(cluster_stack.cluster, p) for p in partitions)


def test_bad_input_is_refused_aloud_and_a_foreign_partition_is_not_judged(
    cluster_stack: ClusterStack,
) -> None:
    worker = cluster_stack.worker("w1")
    worker.start()
    partitions = range(cluster_stack.cluster.partitions)
    wait_until(
        lambda: all(partition_owner(cluster_stack.cluster, p) for p in partitions),
        60,
        "the worker to own every partition",
    )
    ours = partition_of(SITE, "van-1", cluster_stack.cluster.partitions)
    wrong = (ours + 1) % cluster_stack.cluster.partitions
    at = datetime.now(UTC).replace(microsecond=0)
    valid = telemetry_json("van-1", "van-1.chilled", 1, at, 4.0).encode()
    telemetry = nats_io.subject_of(topics.telemetry(SITE, "van-1"))

    notices = collect(
        cluster_stack.cluster,
        "coldchain.v1._invalid.>",
        [
            (telemetry, b"not json"),  # through the mapping, as from the gateway
            (f"ingest.{wrong}.{SITE}.van-1.telemetry", valid),  # past it, onto another
        ],
    )

    assert [n.subject for n in notices] == [f"coldchain.v1._invalid.{SITE}.van-1"]
    assert "not json" in json.loads(notices[0].data)["payload"]
    wait_until(lambda: "not ours, dropped" in worker.output(), 10, "the foreign message logged")
    stored = stored_times(cluster_stack.influxdb, cluster_stack.database, "van-1.chilled")
    assert stored == []


def _owners(stack: ClusterStack) -> Callable[[], list[str | None]]:
    return lambda: [partition_owner(stack.cluster, p) for p in range(stack.cluster.partitions)]


def test_a_worker_takes_a_dead_ones_partitions_over_though_a_look_at_the_workers_is_lost(
    cluster_stack: ClusterStack,
) -> None:
    """After w1's kill -9 under load, w2 kept its own partitions and never took w1's: its
    look at who is alive (a watcher on bucket ingest_workers) waited without end for
    messages the cluster had lost, and w2 balanced, renewed and fenced no more."""
    owners = _owners(cluster_stack)
    w1 = cluster_stack.worker("w1")
    w1.start()
    wait_until(lambda: all(owner == "w1" for owner in owners()), 60, "w1 to own every partition")
    relay = NatsRelay(cluster_stack.cluster.nodes[0].port)
    try:
        cluster_stack.worker("w2", COLDCHAIN_INGEST_NATS_SERVERS=json.dumps([relay.url])).start()
        wait_until(lambda: owners().count("w2") == 3, 60, "w2 to own its half")

        w1.kill()
        relay.lose_next_watch(f"KV_{nats_io.WORKERS_BUCKET}")
        wait_until(lambda: relay.lost, 30, "a look at the workers lost")
        wait_until(lambda: set(owners()) == {"w2"}, 60, "w2 to own every partition")
    finally:
        relay.close()


def test_a_worker_renews_its_leases_while_a_partition_it_gives_back_waits_for_influxdb(
    cluster_stack: ClusterStack,
) -> None:
    """A review: w1 gave a partition back by waiting for its pipeline to finish a write
    to an InfluxDB that did not answer, and renewed none of its other leases meanwhile;
    they ran out while their pipelines still ran, and w2 took them: two workers judging
    one gateway. The leases of w1's own share must live through that wait."""
    owners = _owners(cluster_stack)
    relay = WriteHolder(cluster_stack.influxdb.port)
    try:
        w1 = cluster_stack.worker(
            "w1",
            COLDCHAIN_INGEST_INFLUX_URL=f"http://127.0.0.1:{relay.port}",
            # The held write outlasts the look below: ended by `drop_held`, not by this.
            COLDCHAIN_INGEST_INFLUX_TIMEOUT_S="120",
        )
        w1.start()
        wait_until(lambda: set(owners()) == {"w1"}, 60, "w1 to own every partition")
        # cold-room-2 lands in partition 1, which w2 will own (names in order, p modulo 2).
        assert partition_of(SITE, "cold-room-2", cluster_stack.cluster.partitions) == 1
        relay.holding.set()
        at = datetime.now(UTC).replace(microsecond=0)
        payload = telemetry_json("cold-room-2", "cold-room-2.air", 1, at, 3.0).encode()
        cluster = cluster_stack.cluster
        topic = topics.telemetry(SITE, "cold-room-2")
        gateway_publish(cluster.mqtt_ports[0], topic, payload, cluster.login(SITE, "cold-room-2"))
        wait_until(lambda: b"cold-room-2.air" in b"".join(relay.held), 30, "w1's write of it held")

        cluster_stack.worker("w2").start()
        wait_until(lambda: owners()[3] == "w2", 60, "w2 to take a partition of its share")
        # Longer than a lease lives unrenewed, while partition 1's write is still held.
        deadline = time.monotonic() + 1.5 * nats_io.DEFAULT_LEASE_TTL_S
        while time.monotonic() < deadline:
            now = owners()
            assert now[0::2] == ["w1"] * 3, f"w1's share lost while giving one back: {now}"
            assert now[1] == "w1", f"partition 1 taken before w1's pipeline ended: {now}"
        relay.drop_held()
        wait_until(lambda: owners()[1] == "w2", 60, "partition 1 given back once its write ended")
        query = "SELECT count(temp_c) FROM temperature WHERE sensor = 'cold-room-2.air'"
        wait_until(
            lambda: cluster_stack.influxdb.count(cluster_stack.database, query) == 1,
            60,
            "the reading stored once, by w2",
        )
    finally:
        relay.close()


def test_a_worker_stops_at_once_while_the_cluster_is_not_ready(
    cluster_stack: ClusterStack, tmp_path: Path
) -> None:
    # A NATS server without JetStream answers no stream request, as a cluster without
    # a leader does, for as long as it likes.
    port = free_port()
    server = Process(
        "nats-no-jetstream",
        [executable("nats-server"), "-a", "127.0.0.1", "-p", str(port)],
        tmp_path / "nats-no-jetstream.log",
        dict(os.environ),
    )
    server.start()
    try:
        wait_until(lambda: accepts(port), 20, "nats-server to listen")
        worker = cluster_stack.worker(
            "w1", COLDCHAIN_INGEST_NATS_SERVERS=json.dumps([f"nats://127.0.0.1:{port}"])
        )
        worker.start()
        wait_until(lambda: "the cluster is not ready" in worker.output(), 30, "a retry")

        assert worker.stop(timeout=10) == 0, worker.output()[-3000:]
        assert "stopped before the cluster was ready" in worker.output()
    finally:
        server.stop()
