"""The registry's fleet on the cluster: a limit changed and a gateway retired in the
alerts service reach the ingest workers through stream FLEET without a restart, also a
worker started after the change; nobody but the alerts service may write the stream.

A real three-node cluster, InfluxDB, an alerts service (transport nats, SQLite) and
ingest workers run as deployed (tests/cluster/conftest.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats.errors
import pytest
import yaml
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError

from coldchain import topics
from coldchain.contract import AlertEvent, RetiredGateway, RetiredGateways
from coldchain_devstack.clusterstack import ClusterStack
from coldchain_devstack.servers import NatsCluster, Process, wait_until
from coldchain_devstack.stack import SITE
from coldchain_io import nats as nats_io
from tests.alertsapi import AlertsApi, token_for
from tests.cluster.natsclient import alert_events, gateway_publish, partition_owner
from tests.cluster.natsclient import settings as nats_settings
from tests.mqttclient import telemetry_json

ASSET = "cold-room-1"
SENSOR = "cold-room-1.air"
MAX_C = f"assets/{ASSET}/limits/max_c"
#: Judged by a worker started after the registry's versions were published.
LATE_ASSET = "van-3-chilled"
LATE_GATEWAY = "van-3"
LATE_SENSOR = "van-3.chilled"
VAN = "van-1"
VAN_SENSOR = "van-1.chilled"


@pytest.fixture(autouse=True)
def fresh_registry(nats_cluster: NatsCluster) -> None:
    """Each test's alerts service starts with an empty registry, numbering its versions
    from 1 again; stream FLEET, kept by the module's cluster, must not hold the last
    test's versions under those numbers."""
    asyncio.run(_delete_fleet_stream(nats_cluster))


async def _delete_fleet_stream(cluster: NatsCluster) -> None:
    nc = await nats_io.connect(nats_settings(cluster, "alerts"), "test-reset")
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(nats_io.FLEET_STREAM)
    finally:
        await nc.close()


def _alerts(stack: ClusterStack, database: str) -> AlertsApi:
    token = token_for(database)
    stack.alerts("alerts", database).start()
    wait_until(lambda: stack.alerts_health("alerts"), 30, "the alerts service on the cluster")
    return AlertsApi(f"http://127.0.0.1:{stack.alerts_ports['alerts']}", token)


def _seed(stack: ClusterStack, api: AlertsApi) -> datetime:
    """The fleet file as the registry's version 1, with van 3's chilled compartment at
    max_c 4 (the file leaves it at its category's 6); when version 1 takes effect."""
    fleet: dict[str, Any] = yaml.safe_load(stack.fleet.read_text())
    for asset in fleet["sites"][0]["assets"]:
        asset["limits"] = {"delay_s": 60}
        if asset["id"] == LATE_ASSET:
            asset["limits"]["max_c"] = 4.0
    seeded = api.put("/api/v1/fleet", {"fleet": fleet, "reason": "registry seeded"})
    assert seeded.status_code == 201, seeded.text
    return _valid_from(api, seeded.json()["version"])


def _valid_from(api: AlertsApi, version: int) -> datetime:
    return datetime.fromisoformat(api.get(f"/api/v1/fleet/versions/{version}").json()["valid_from"])


def _limits(stack: ClusterStack) -> list[tuple[int, float]]:
    """(version, max_c) of the asset's fleet_limits points, as a worker wrote them."""
    series = stack.influxdb.query(
        stack.database, f"SELECT version, max_c FROM fleet_limits WHERE asset = '{ASSET}'"
    )
    return [(row[1], row[2]) for one in series for row in one["values"]]


def _publish(cluster: NatsCluster, subject: str, payload: bytes) -> None:
    """As a gateway's message arrives: on its telemetry subject, through the mapping."""

    async def publish() -> None:
        nc = await nats_io.connect(nats_settings(cluster), "test-gateway")
        try:
            await nc.publish(subject, payload)
            await nc.flush()
        finally:
            await nc.close()

    asyncio.run(publish())


def _burst(cluster: NatsCluster, gateway: str, sensor: str, start: datetime, count: int) -> None:
    """One message of the sensor's readings at 5 °C, every 10 s from `start`: a gateway's
    buffer after a dead zone."""
    readings = [
        {"sensor": sensor, "ts": (start + timedelta(seconds=n * 10)).isoformat(), "temp_c": 5.0}
        for n in range(count)
    ]
    payload = {"v": 1, "gateway": gateway, "seq": 1, "sent_at": readings[-1]["ts"]}
    payload["readings"] = readings
    subject = nats_io.subject_of(topics.telemetry(SITE, gateway))
    _publish(cluster, subject, json.dumps(payload).encode())


def _raised(cluster: NatsCluster, sensor: str) -> list[AlertEvent]:
    return [
        p.event
        for p in alert_events(cluster)
        if p.event.rule == "over_max" and p.event.state == "raised" and p.event.sensor == sensor
    ]


def test_a_limit_changed_through_the_api_judges_the_next_readings_on_every_worker(
    cluster_stack: ClusterStack, tmp_path: Path
) -> None:
    """Cold room 1: max_c 6 (the category's) until the change, 4 from then on. A burst at
    5 °C that spans the change, arriving after it, alarms from the change on, not before,
    on a worker that ran all along (no restart). Then a worker started after both
    versions takes every partition over from the first, stopped, and judges van 3's
    chilled compartment by version 1's max_c 4, which its fleet file does not have."""
    api = _alerts(cluster_stack, f"sqlite:///{tmp_path}/alerts.sqlite3")
    w1 = cluster_stack.worker("w1")
    w1.start()
    seeded_from = _seed(cluster_stack, api)
    wait_until(lambda: len(_limits(cluster_stack)) == 1, 30, "w1 to take version 1")

    changed = api.post(
        "/api/v1/fleet/changes",
        {"path": MAX_C, "value": 4.0, "reason": "poultry moves into cold room 1"},
    )
    assert changed.status_code == 201, changed.text
    version = changed.json()["version"]
    valid_from = _valid_from(api, version)
    wait_until(lambda: len(_limits(cluster_stack)) == 2, 30, "w1 to take the change")
    assert _limits(cluster_stack) == [(1, 6.0), (version, 4.0)]

    # Every 10 s from 5 minutes before the change to 90 s after it, all at 5 °C.
    start = valid_from - timedelta(seconds=300)
    _burst(cluster_stack.cluster, ASSET, SENSOR, start, 40)
    wait_until(lambda: _raised(cluster_stack.cluster, SENSOR), 30, "cold room 1 to raise")
    (raised,) = _raised(cluster_stack.cluster, SENSOR)
    assert raised.started_at == start + timedelta(seconds=10 * 30)
    assert raised.limit_c == 4.0

    w2 = cluster_stack.worker("w2")
    w2.start()
    assert w1.stop() == 0, w1.output()[-3000:]
    partitions = range(cluster_stack.cluster.partitions)
    wait_until(
        lambda: all(partition_owner(cluster_stack.cluster, p) == "w2" for p in partitions),
        60,
        "w2 to own every partition",
    )
    _burst(cluster_stack.cluster, LATE_GATEWAY, LATE_SENSOR, seeded_from, 12)
    wait_until(lambda: _raised(cluster_stack.cluster, LATE_SENSOR), 30, "van 3 to raise")
    (raised,) = _raised(cluster_stack.cluster, LATE_SENSOR)
    assert raised.started_at == seeded_from
    assert raised.limit_c == 4.0


def _metric(worker: Process, name: str) -> float:
    port = worker.env["COLDCHAIN_INGEST_METRICS_PORT"]
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    values = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(f"{name} ")]
    return float(values[0]) if values else 0.0


def test_what_a_retired_gateway_took_after_its_retirement_is_refused_by_a_worker(
    cluster_stack: ClusterStack, tmp_path: Path
) -> None:
    """Van 1's gateway retired through the alerts API on the cluster: of one message it
    sends after, the two readings from before are stored, the one from after is
    refused and counted. Its account is in nats.conf, out of the service's reach:
    registering is refused with that reason, and so is retiring a gateway the fleet
    does not have."""
    database = f"sqlite:///{tmp_path}/alerts.sqlite3"
    api = _alerts(cluster_stack, database)
    worker = cluster_stack.worker("w1")
    worker.start()
    registering = api.post("/api/v1/gateways", {"site": SITE, "gateway": "van-9"})
    assert registering.status_code == 503 and "nats.conf" in registering.text, registering.text
    unknown = api.post(f"/api/v1/gateways/{SITE}/van-9/retire", {"reason": "van sold"})
    assert unknown.status_code == 404, unknown.text

    retiring = api.post(f"/api/v1/gateways/{SITE}/{VAN}/retire", {"reason": "van sold"})
    assert retiring.status_code == 200, retiring.text
    retired_at = datetime.fromisoformat(retiring.json()["retired_at"])
    again = api.post(f"/api/v1/gateways/{SITE}/{VAN}/retire", {"reason": "van sold"})
    assert again.status_code == 409, again.text
    wait_until(
        lambda: f"gateway {SITE}/{VAN} retired at" in worker.output(), 30, "the worker to know"
    )
    after = retired_at + timedelta(seconds=1)
    wait_until(lambda: datetime.now(UTC) > after, 10, "a reading after the retirement")

    payload = json.loads(telemetry_json(VAN, VAN_SENSOR, 1, retired_at, 4.0))
    payload["readings"] = [
        {"sensor": VAN_SENSOR, "ts": at.isoformat(), "temp_c": 4.0}
        for at in (retired_at - timedelta(minutes=2), retired_at - timedelta(minutes=1), after)
    ]
    _publish(
        cluster_stack.cluster,
        nats_io.subject_of(topics.telemetry(SITE, VAN)),
        json.dumps(payload).encode(),
    )

    total = "coldchain_ingest_readings_after_retirement_total"
    wait_until(lambda: _metric(worker, total) == 1, 30, "the reading after it refused, counted")
    query = f"SELECT count(temp_c) FROM temperature WHERE sensor = '{VAN_SENSOR}'"
    wait_until(
        lambda: cluster_stack.influxdb.count(cluster_stack.database, query) == 2,
        30,
        "the two readings before it stored",
    )


async def _fleet_messages(cluster: NatsCluster) -> int:
    nc = await nats_io.connect(nats_settings(cluster, "alerts"), "test-check")
    try:
        js = nc.jetstream()
        await nats_io.ensure_streams(js, nats_settings(cluster, "alerts"))
        return (await js.stream_info(nats_io.FLEET_STREAM)).state.messages
    finally:
        await nc.close()


async def _as_ingest(cluster: NatsCluster, payload: bytes) -> str:
    """Try to write stream FLEET as user ingest: publish, delete a message, purge, make
    its messages expire at once, take a replica away, delete it; what each attempt got."""
    nc = await nats_io.connect(nats_settings(cluster), "test-ingest")
    js = nc.jetstream(timeout=2)
    outcome = []
    try:
        for attempt in (
            lambda: js.publish(nats_io.subject_of(topics.RETIRED), payload),
            lambda: js.delete_msg(nats_io.FLEET_STREAM, 1),
            lambda: js.purge_stream(nats_io.FLEET_STREAM),
            lambda: js.update_stream(
                StreamConfig(
                    name=nats_io.FLEET_STREAM,
                    subjects=[nats_io.FLEET_SUBJECTS],
                    num_replicas=3,
                    max_age=1,
                )
            ),
            lambda: nc.request(
                f"$JS.API.STREAM.PEER.REMOVE.{nats_io.FLEET_STREAM}",
                json.dumps({"peer": cluster.nodes[2].name}).encode(),
                timeout=2,
            ),
            lambda: js.delete_stream(nats_io.FLEET_STREAM),
        ):
            try:
                await attempt()
                outcome.append("done")
            except nats.errors.Error as exc:
                outcome.append(type(exc).__name__)
    finally:
        await nc.close()
    return ", ".join(outcome)


def test_only_the_alerts_service_may_write_the_fleet_stream(nats_cluster: NatsCluster) -> None:
    """A gateway, or a worker's account, that could write stream FLEET could retire any
    gateway or loosen any limit on every worker, bypassing the registry's audit."""
    assert asyncio.run(_fleet_messages(nats_cluster)) == 0
    forged = (
        RetiredGateways(
            gateways=[RetiredGateway(site=SITE, gateway="van-2", retired_at=datetime.now(UTC))]
        )
        .model_dump_json()
        .encode()
    )

    gateway_publish(
        nats_cluster.mqtt_ports[0], topics.RETIRED, forged, nats_cluster.login(SITE, "van-1")
    )
    outcome = asyncio.run(_as_ingest(nats_cluster, forged))

    assert "done" not in outcome, outcome
    assert asyncio.run(_fleet_config(nats_cluster)) == (0, 3)
    assert asyncio.run(_fleet_messages(nats_cluster)) == 0


async def _fleet_config(cluster: NatsCluster) -> tuple[float, int]:
    """Stream FLEET's age limit and replicas, as they are (no `ensure_streams`)."""
    nc = await nats_io.connect(nats_settings(cluster, "alerts"), "test-check")
    try:
        info = await nc.jetstream().stream_info(nats_io.FLEET_STREAM)
    finally:
        await nc.close()
    return info.config.max_age or 0, len(info.cluster.replicas or []) + 1 if info.cluster else 1
