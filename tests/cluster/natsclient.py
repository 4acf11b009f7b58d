"""Talking to a test's NATS cluster: as a service (nats-py) and as a gateway (MQTT 3.1.1)."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import nats.errors
import paho.mqtt.client as mqtt
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from coldchain import topics
from coldchain.contract import AlertEvent, DurableMark
from coldchain_devstack.servers import NatsCluster
from coldchain_io import nats as nats_io


def settings(cluster: NatsCluster, role: str = "ingest") -> nats_io.NatsSettings:
    return nats_io.NatsSettings(
        nats_servers=cluster.servers, nats_user=role, nats_password=cluster.password(role)
    )


def gateway_publish(port: int, topic: str, payload: bytes, login: tuple[str, str]) -> ReasonCode:
    """Connect as a gateway (MQTT 3.1.1) and publish at QoS 1; the CONNACK's or PUBACK's
    reason: success only when the server took the message."""
    outcome: queue.Queue[ReasonCode] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set(*login)

    def connected(c: mqtt.Client, u: object, f: object, reason: ReasonCode, p: object) -> None:
        if reason.is_failure:
            outcome.put(reason)
        else:
            c.publish(topic, payload, qos=1)

    client.on_connect = connected
    client.on_publish = lambda c, u, mid, reason, p: outcome.put(reason)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return outcome.get(timeout=15)
    finally:
        client.disconnect()
        client.loop_stop()


class Marker:
    """Stands in for ingest where a test needs only the durable marks: takes every
    telemetry message of the cluster as it arrives and confirms its seq at once.
    `readings` holds each gateway's reading times (ISO) it saw."""

    def __init__(self, cluster: NatsCluster) -> None:
        self._settings = settings(cluster)
        self.readings: dict[str, set[str]] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._nc: Client | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._subscribe(), self._loop).result(30)

    def stop(self) -> None:
        if self._nc is not None:
            asyncio.run_coroutine_threadsafe(self._nc.close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _subscribe(self) -> None:
        self._nc = await nats_io.connect(self._settings, "marker")
        await self._nc.subscribe(f"{nats_io.TELEMETRY_PREFIX}.*.*.*.telemetry", cb=self._take)

    async def _take(self, message: Msg) -> None:
        assert self._nc is not None
        topic = nats_io.topic_of(message.subject)
        ids = topics.parse_telemetry(topic or "")
        assert ids is not None, message.subject
        body = json.loads(message.data)
        seen = self.readings.setdefault(ids[1], set())
        seen |= {reading["ts"] for reading in body["readings"]}
        mark = DurableMark(seq=body["seq"], stored_at=datetime.now(UTC))
        await self._nc.publish(
            nats_io.subject_of(topics.durable(*ids)), mark.model_dump_json().encode()
        )


class Marks:
    """The durable marks ingest publishes for one gateway, in the order they arrive."""

    def __init__(self, cluster: NatsCluster, site: str, gateway: str) -> None:
        self._settings = settings(cluster)
        self._subject = nats_io.subject_of(topics.durable(site, gateway))
        self.seqs: list[int] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._nc: Client | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._subscribe(), self._loop).result(30)

    def stop(self) -> None:
        if self._nc is not None:
            asyncio.run_coroutine_threadsafe(self._nc.close(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def publish(self, messages: list[tuple[str, bytes]]) -> None:
        """Publish (subject, payload) as a gateway's messages reach the cluster."""
        asyncio.run_coroutine_threadsafe(self._publish(messages), self._loop).result(30)

    async def _publish(self, messages: list[tuple[str, bytes]]) -> None:
        assert self._nc is not None
        for subject, payload in messages:
            await self._nc.publish(subject, payload)
        await self._nc.flush()

    async def _subscribe(self) -> None:
        self._nc = await nats_io.connect(self._settings, "marks")
        await self._nc.subscribe(self._subject, cb=self._take)
        await self._nc.flush()

    async def _take(self, message: Msg) -> None:
        self.seqs.append(DurableMark.model_validate_json(message.data).seq)


@dataclass(frozen=True)
class Published:
    """One alert event in stream ALERTS, with the id JetStream deduplicated it by."""

    msg_id: str
    event: AlertEvent


def alert_events(cluster: NatsCluster) -> list[Published]:
    """Every message of stream ALERTS, in order."""
    return asyncio.run(_alert_events(cluster))


async def _alert_events(cluster: NatsCluster) -> list[Published]:
    nc = await nats_io.connect(settings(cluster), "test")
    try:
        js = nc.jetstream()
        try:
            state = (await js.stream_info(nats_io.ALERTS_STREAM)).state
        except NotFoundError:
            return []
        if not state.messages:
            return []
        found = []
        for seq in range(state.first_seq, state.last_seq + 1):
            message = await js.get_msg(nats_io.ALERTS_STREAM, seq)
            headers = message.headers or {}
            event = AlertEvent.model_validate_json(message.data or b"")
            found.append(Published(headers.get("Nats-Msg-Id", ""), event))
        return found
    finally:
        await nc.close()


def partition_owner(cluster: NatsCluster, partition: int) -> str | None:
    """The worker whose lease holds `partition` now, or None."""
    return asyncio.run(_owner(cluster, partition))


async def _owner(cluster: NatsCluster, partition: int) -> str | None:
    nc = await nats_io.connect(settings(cluster), "test")
    try:
        try:
            leases = await nc.jetstream().key_value(nats_io.LEASES_BUCKET)
            entry = await leases.get(f"p{partition}")
        except (BucketNotFoundError, KeyNotFoundError, NotFoundError, nats.errors.TimeoutError):
            return None  # not made yet, not held, or the bucket has no leader yet
        return entry.value.decode() if entry.value else None
    finally:
        await nc.close()


def collect(cluster: NatsCluster, subject: str, publish: list[tuple[str, bytes]]) -> list[Msg]:
    """Subscribe to `subject` as ingest, publish `publish` (subject, payload) as ingest, and
    return what arrived on `subject` within five seconds."""
    return asyncio.run(_collect(cluster, subject, publish))


async def _collect(
    cluster: NatsCluster, subject: str, publish: list[tuple[str, bytes]]
) -> list[Msg]:
    nc = await nats_io.connect(settings(cluster), "test")
    try:
        subscription = await nc.subscribe(subject)
        for target, payload in publish:
            await nc.publish(target, payload)
        await nc.flush()
        found = []
        deadline = asyncio.get_running_loop().time() + 5
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                found.append(await subscription.next_msg(timeout=left))
            except nats.errors.TimeoutError:
                break
        return found
    finally:
        await nc.close()
