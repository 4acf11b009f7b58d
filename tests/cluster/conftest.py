"""Fixtures of the cluster layer: a real three-node NATS cluster with JetStream on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from coldchain_devstack.clusterstack import ClusterStack
from coldchain_devstack.servers import InfluxDB, NatsCluster
from coldchain_devstack.stack import SITE

#: Few partitions keep the cluster's streams and consumers cheap on two cores.
PARTITIONS = 6
#: The demo fleet's gateways, which the simulated firmware knows.
DEMO_GATEWAYS = [
    (SITE, gateway)
    for gateway in ("cold-room-1", "cold-room-2", "freezer-1", "van-1", "van-2", "van-3")
]
#: The gateways with a login to the cluster (site, gateway).
GATEWAYS = [*DEMO_GATEWAYS, *(("hub", f"gw-{n}") for n in range(12)), ("canteen-7", "room-1")]


@pytest.fixture(scope="module")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    cluster = NatsCluster(tmp_path_factory.mktemp("nats"), PARTITIONS, GATEWAYS)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_stack(
    request: pytest.FixtureRequest, tmp_path: Path, nats_cluster: NatsCluster, influxdb: InfluxDB
) -> Iterator[ClusterStack]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    influxdb.query("", f'CREATE DATABASE "{database}"')  # counted before a worker makes it
    services = ClusterStack(tmp_path, nats_cluster, influxdb, database)
    yield services
    services.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for process in services.processes:
            print(f"----- {process.name} ({process.log}) -----\n{process.output()[-6000:]}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fault test first: it takes about a third of the layer, so the other files
    share the second worker beside it instead of waiting behind it."""
    items.sort(key=lambda item: item.path.name != "test_cluster_faults.py")
