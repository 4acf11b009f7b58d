"""Ingest workers on the NATS cluster share the partitions and store every reading once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from coldchain_devstack.clusterstack import ClusterStack
from coldchain_devstack.servers import wait_until
from tests.cluster.conftest import DEMO_GATEWAYS
from tests.verdict import verdict

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
