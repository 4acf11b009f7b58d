"""The NATS cluster the tests and production run: it forms, keeps streams on three nodes,
takes a gateway's MQTT 3.1.1 QoS 1 publish only with a login, and puts one gateway's
telemetry always into one partition, the one `partition_of` computes."""

from __future__ import annotations

import asyncio

from nats.js.api import StreamInfo

from coldchain import topics
from coldchain_devstack.servers import NatsCluster
from coldchain_io import nats as nats_io
from tests.cluster.conftest import GATEWAYS, PARTITIONS
from tests.cluster.natsclient import gateway_publish, settings


async def _telemetry_info(cluster: NatsCluster) -> StreamInfo:
    nc = await nats_io.connect(settings(cluster), "test")
    try:
        js = nc.jetstream()
        for _ in range(2):  # idempotent
            await nats_io.ensure_streams(js, settings(cluster))
            await nats_io.ensure_buckets(js, settings(cluster), lease_ttl_s=5)
        return await js.stream_info(nats_io.TELEMETRY_STREAM)
    finally:
        await nc.close()


async def _subjects(cluster: NatsCluster, stream: str) -> dict[str, int]:
    nc = await nats_io.connect(settings(cluster), "test")
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=">")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


def test_the_cluster_keeps_an_r3_stream_on_three_nodes(nats_cluster: NatsCluster) -> None:
    info = asyncio.run(_telemetry_info(nats_cluster))

    assert info.config.num_replicas == 3
    assert info.cluster is not None and info.cluster.leader
    replicas = info.cluster.replicas or []
    assert len(replicas) == 2 and all(r.current for r in replicas), replicas


def test_a_gateway_publishes_only_with_its_credentials(nats_cluster: NatsCluster) -> None:
    asyncio.run(_telemetry_info(nats_cluster))
    topic = topics.telemetry("hub", "gw-1")
    port = nats_cluster.mqtt_ports[1]
    user, password = nats_cluster.login("hub", "gw-1")

    refused = gateway_publish(port, topic, b"{}", (user, "wrong"))
    accepted = gateway_publish(port, topic, b"{}", (user, password))
    impostor = gateway_publish(port, topics.telemetry("hub", "else"), b"{}", (user, password))

    assert refused.is_failure, refused
    assert not accepted.is_failure, accepted
    subjects = asyncio.run(_subjects(nats_cluster, nats_io.TELEMETRY_STREAM))
    partition = nats_io.partition_of("hub", "gw-1", PARTITIONS)
    assert subjects.get(f"ingest.{partition}.hub.gw-1.telemetry") == 1, subjects
    assert not impostor.is_failure  # MQTT 3.1.1 has no refusal in a PUBACK: NATS drops it
    assert not any(".else." in subject for subject in subjects), subjects


def test_one_gateways_telemetry_always_lands_in_one_partition(nats_cluster: NatsCluster) -> None:
    asyncio.run(_telemetry_info(nats_cluster))
    gateways = [g for g in GATEWAYS if g != ("hub", "gw-1")]
    for site, gateway in gateways:
        login = nats_cluster.login(site, gateway)
        for node in range(3):  # each through another node, twice
            for _ in range(2):
                port = nats_cluster.mqtt_ports[node]
                reason = gateway_publish(port, topics.telemetry(site, gateway), b"{}", login)
                assert not reason.is_failure, reason

    subjects = asyncio.run(_subjects(nats_cluster, nats_io.TELEMETRY_STREAM))

    for site, gateway in gateways:
        landed = {s: n for s, n in subjects.items() if s.endswith(f".{site}.{gateway}.telemetry")}
        partition = nats_io.partition_of(site, gateway, PARTITIONS)
        assert landed == {f"ingest.{partition}.{site}.{gateway}.telemetry": 6}, landed
    assert len({nats_io.partition_of(s, g, PARTITIONS) for s, g in gateways}) > 1
