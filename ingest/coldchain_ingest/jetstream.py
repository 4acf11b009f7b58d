"""One partition of the NATS cluster, as the pipeline sees it (ports.py).

`PartitionSource` takes the partition's messages from stream TELEMETRY through a
pull consumer with explicit acks, from the stream sequence after the partition's
checkpoint; `ack_all` first writes the checkpoint, then acknowledges. The
checkpoint (`CheckpointState`, one key of the key-value bucket per partition)
holds the rule engine's state of the partition's sensors, assets and gateways,
the held marks, each gateway's durable mark, and the stream sequence up to which
every message is stored and judged. It is written with compare-and-set on the
key's revision: a worker whose partition was taken over by another one fails its
next write (`PartitionLost`) instead of overwriting the newer owner's state.

The registry's fleet versions and the list of retired gateways are not in a
checkpoint: stream FLEET keeps them, and `FleetFollower` hands every one to each
pipeline of the worker, all of them before a partition's first message.

So a worker that takes a partition over starts where the last checkpoint stops:
readings after it are judged for the first time, readings before it were judged
already. The last owner may have published alert events for readings past its
last checkpoint before it died; the new owner raises the same events again with
the same ids (`JetStreamOutbox.stamp`), and stream ALERTS drops the copies by
`Nats-Msg-Id`, as the alerts service does by id.

Everything NATS does runs on one asyncio loop (the worker's); the pipeline's
threads call into it with `Bridge.call` and wait for the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from coldchain import topics
from coldchain.contract import AlertEvent
from coldchain_ingest import metrics
from coldchain_ingest.broker import Inbound, Wakeup
from coldchain_ingest.errors import PartitionLost
from coldchain_ingest.outbox import Stamped
from coldchain_io import nats as nats_io

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Longest wait for one answer of the cluster before the call is tried again.
CALL_TIMEOUT_S = 5.0
#: How long a message taken and not acknowledged waits before JetStream sends it again.
ACK_WAIT_S = 60.0
#: Seconds one pull waits for messages before it asks again.
PULL_WAIT_S = 1.0
#: The mid of a fleet message in a partition's inbox: the partition's own count from 1,
#: so acknowledging one acknowledges nothing in stream TELEMETRY.
FLEET_MID = 0
#: Namespace of the alert events' ids: the same event gets the same id in every worker.
ALERT_ID_NAMESPACE = uuid.UUID("8f6b2f0e-3c1d-4e58-9a57-2f1c7d6a4b10")


class Bridge:
    """Runs coroutines on the worker's asyncio loop for the pipeline's threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, stopping: threading.Event) -> None:
        self.loop = loop
        self._stopping = stopping

    def call(self, make: Callable[[], Awaitable[T]], what: str) -> T:
        """Run `make()` on the loop and wait for its result; while the cluster does not
        answer (a node died, a leader is being elected), try again with growing pauses.
        Raises PartitionLost when asked to stop meanwhile."""
        pause = 0.1
        while True:
            try:
                future = asyncio.run_coroutine_threadsafe(_awaited(make), self.loop)
            except RuntimeError:  # the loop is closed: the worker has stopped
                raise PartitionLost(f"{what}: the worker has stopped") from None
            try:
                return future.result(CALL_TIMEOUT_S + 1)
            except FutureTimeout:
                future.cancel()
                log.warning("%s: the cluster did not answer; trying again", what)
            except nats.errors.Error as exc:
                # A node gone, a leader being elected: JetStream answers again within seconds.
                log.warning("%s: the cluster is not ready (%r); trying again", what, exc)
            if self._stopping.wait(pause):
                raise PartitionLost(f"{what}: stopped while waiting for the cluster")
            pause = min(pause * 2, 2.0)


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


@dataclass
class Checkpoint:
    """A partition's rule state and the stream sequence it covers."""

    seq: int = 0
    rows: dict[tuple[str, str], str] = field(default_factory=dict)
    holds: dict[tuple[str, str], int] = field(default_factory=dict)
    marks: dict[tuple[str, str], int] = field(default_factory=dict)

    def encode(self) -> bytes:
        body = {
            "seq": self.seq,
            "rows": [[kind, key, state] for (kind, key), state in self.rows.items()],
            "holds": [[site, gateway, seq] for (site, gateway), seq in self.holds.items()],
            "marks": [[site, gateway, seq] for (site, gateway), seq in self.marks.items()],
        }
        return zlib.compress(json.dumps(body).encode())

    @classmethod
    def decode(cls, data: bytes) -> Checkpoint:
        body = json.loads(zlib.decompress(data))
        return cls(
            seq=body["seq"],
            rows={(kind, key): state for kind, key, state in body["rows"]},
            holds={(site, gateway): seq for site, gateway, seq in body["holds"]},
            # Checkpoints written before marks were kept have none.
            marks={(site, gateway): seq for site, gateway, seq in body.get("marks", [])},
        )


def checkpoint_key(partition: int) -> str:
    return f"p{partition}"


class CheckpointState:
    """The rule state of one partition (ports.RuleState), kept in memory by `save` and
    written with the stream sequence it covers by `write`, which the source calls
    before it acknowledges. Thread-safe: the pipeline and the silence check save."""

    def __init__(
        self,
        bridge: Bridge,
        bucket: KeyValue,
        partition: int,
        checkpoint: Checkpoint,
        revision: int | None,
    ) -> None:
        self._bridge = bridge
        self._bucket = bucket
        self._key = checkpoint_key(partition)
        self._checkpoint = checkpoint
        self._revision = revision
        self._lock = threading.Lock()

    def rows(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return [(kind, key, body) for (kind, key), body in self._checkpoint.rows.items()]

    def save(self, rows: list[tuple[str, str, str]]) -> None:
        with self._lock:
            self._checkpoint.rows.update(((kind, key), body) for kind, key, body in rows)

    def holds(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._checkpoint.holds)

    def hold(self, site: str, gateway: str, seq: int) -> None:
        with self._lock:
            held = self._checkpoint.holds
            held[(site, gateway)] = min(seq, held.get((site, gateway), seq))

    def release(self, site: str, gateway: str) -> None:
        with self._lock:
            self._checkpoint.holds.pop((site, gateway), None)

    def marks(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._checkpoint.marks)

    def keep_marks(self, marks: Mapping[tuple[str, str], int]) -> None:
        """Keep the gateways' new durable marks; the next `write` checkpoints them, before
        they are published: a worker taking the partition over knows up to where each
        gateway's messages are stored without a gap (the marks are not retained here)."""
        with self._lock:
            self._checkpoint.marks.update(marks)

    def keep_fleet_version(self, number: int, body: str) -> None:
        """Nothing to keep: stream FLEET keeps every version, and the worker hands them
        all to a partition's pipeline before its first message (`FleetFollower`)."""

    def retired(self) -> dict[tuple[str, str], datetime]:
        """None known yet: the list comes from stream FLEET first thing, as `keep_fleet_version`."""
        return {}

    def keep_retired(self, retired: Mapping[tuple[str, str], datetime]) -> None:
        """Nothing to keep, as `keep_fleet_version`."""

    def write(self, seq: int) -> None:
        """Write the checkpoint, covering the stream up to `seq`; PartitionLost if another
        worker wrote it since we read or wrote it last."""
        with self._lock:
            self._checkpoint.seq = max(self._checkpoint.seq, seq)
            data = self._checkpoint.encode()
            revision = self._revision
        self._revision = self._bridge.call(
            lambda: self._put(data, revision), f"checkpoint of {self._key}"
        )

    async def _put(self, data: bytes, revision: int | None) -> int:
        try:
            if revision is None:
                return await self._bucket.create(self._key, data)
            return await self._bucket.update(self._key, data, last=revision)
        except KeyWrongLastSequenceError:
            raise PartitionLost(
                f"another worker wrote checkpoint {self._key}: the partition is theirs now"
            ) from None


async def read_checkpoint(bucket: KeyValue, partition: int) -> tuple[Checkpoint, int | None]:
    """The partition's checkpoint and its revision (None: there is none yet)."""
    try:
        entry = await bucket.get(checkpoint_key(partition))
    except KeyNotFoundError:
        return Checkpoint(), None
    if entry.value is None:
        return Checkpoint(), entry.revision
    return Checkpoint.decode(entry.value), entry.revision


class FleetFollower:
    """The registry's fleet versions and the retired gateways from stream FLEET, for every
    pipeline of the worker; on the worker's loop.

    An ordered consumer reads the stream from its first message and follows it;
    `caught_up` is set once every message the stream held at `start` has arrived. The
    worker takes no partition before: none judges a reading by a fleet older than the
    registry's. `attach` puts every message so far into a partition's inbox, ahead of
    its telemetry, and each later one as it arrives. The pipeline takes them as it takes
    Mosquitto's retained ones: a version it knows, or a list of retirements it has, is
    only acknowledged, so one that comes again changes nothing.
    """

    def __init__(self) -> None:
        self.caught_up = asyncio.Event()
        self._until = 0
        #: The last message of each fleet topic, in the stream's order.
        self._last: dict[str, Inbound] = {}
        self._inboxes: list[queue.SimpleQueue[Inbound | Wakeup]] = []

    async def start(self, js: JetStreamContext) -> None:
        state = (await js.stream_info(nats_io.FLEET_STREAM)).state
        self._until = state.last_seq if state.messages else 0
        await js.subscribe(
            nats_io.FLEET_SUBJECTS,
            stream=nats_io.FLEET_STREAM,
            cb=self._received,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        if not self._until:
            self.caught_up.set()

    def attach(self, inbox: queue.SimpleQueue[Inbound | Wakeup]) -> None:
        for inbound in self._last.values():
            inbox.put(inbound)
        self._inboxes.append(inbox)

    def detach(self, inbox: queue.SimpleQueue[Inbound | Wakeup]) -> None:
        if inbox in self._inboxes:
            self._inboxes.remove(inbox)

    async def _received(self, message: Msg) -> None:
        metadata = message.metadata
        topic = nats_io.topic_of_fleet(message.subject)
        if topic is None:
            # Only an account that may publish what it should not puts such a message here.
            log.error(
                "stream %s: not a fleet message, dropped: %s", nats_io.FLEET_STREAM, message.subject
            )
            metrics.MESSAGES_INVALID.inc()
        else:
            inbound = Inbound(
                topic, message.data, FLEET_MID, 1, metadata.timestamp, time.monotonic()
            )
            self._last.pop(topic, None)
            self._last[topic] = inbound
            for inbox in self._inboxes:
                inbox.put(inbound)
        if metadata.sequence.stream >= self._until:
            self.caught_up.set()


class JetStreamOutbox:
    """Alert events on the cluster (ports.AlertKeeper): each gets an id made from what
    it says (key, state, time), so a worker that judges the same readings again sends
    the same ids; an event is safe once stream ALERTS confirmed it, which
    `PartitionSource.publish` waits for, so nothing is kept here."""

    @staticmethod
    def stamp(events: Iterable[AlertEvent]) -> list[Stamped]:
        stamped = []
        for event in events:
            name = f"{event.key}|{event.state}|{event.at.isoformat()}"
            event_id = uuid.uuid5(ALERT_ID_NAMESPACE, name).hex
            payload = event.model_copy(update={"id": event_id}).model_dump_json().encode()
            stamped.append(
                Stamped(event_id, topics.alerts(event.site), payload, event.key, event.state)
            )
        return stamped

    def keep(self, stamped: list[Stamped]) -> None:
        """Nothing to keep: `publish` returned only once JetStream stored each one."""

    def due(self, now: float) -> list[tuple[str, bytes]]:
        return []


@dataclass(slots=True)
class _Taken:
    message: Msg
    stream_seq: int


class PartitionSource:
    """One partition's messages for one pipeline (ports.Source); see the module's doc."""

    def __init__(
        self,
        bridge: Bridge,
        nc: Client,
        partition: int,
        partitions: int,
        state: CheckpointState,
        window: int,
    ) -> None:
        self.inbox: queue.SimpleQueue[Inbound | Wakeup] = queue.SimpleQueue()
        self.partition = partition
        self._partitions = partitions
        self._bridge = bridge
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream()
        self._state = state
        self._window = window
        self._consumer = f"ingest-p{partition}"
        self._lock = threading.Lock()
        self._taken: dict[int, _Taken] = {}
        self._next_mid = 0
        self._highest = 0
        self._pulling: asyncio.Task[None] | None = None
        self._stopped = False

    async def start(self, after_seq: int) -> None:
        """(Re)make the partition's consumer to deliver from `after_seq` + 1 and pull."""
        self._highest = after_seq
        with contextlib.suppress(NotFoundError):
            await self._js.delete_consumer(nats_io.TELEMETRY_STREAM, self._consumer)
        config = ConsumerConfig(
            durable_name=self._consumer,
            filter_subject=nats_io.partition_filter(self.partition),
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            max_ack_pending=self._window,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if after_seq else DeliverPolicy.ALL,
            opt_start_seq=after_seq + 1 if after_seq else None,
        )
        await self._js.add_consumer(nats_io.TELEMETRY_STREAM, config)
        subscription = await self._js.pull_subscribe_bind(self._consumer, nats_io.TELEMETRY_STREAM)
        self._pulling = asyncio.create_task(self._pull(subscription))

    @property
    def pulling(self) -> bool:
        """Whether messages are still being pulled (the pull ends only on an error no retry
        helps: the worker then gives the partition back and takes it anew)."""
        return self._pulling is not None and not self._pulling.done()

    def stop(self) -> None:
        """Stop pulling (on the worker's loop). Not by the cancel alone: nats-py can turn a
        cancellation into one of its errors (`Subscription.next_msg` with the connection
        closing), which the pull takes for a node gone and tries again, for good; the
        worker's SIGTERM then ended by SIGKILL."""
        self._stopped = True
        if self._pulling is not None:
            self._pulling.cancel()

    async def _pull(self, subscription: JetStreamContext.PullSubscription) -> None:
        batch = max(1, self._window // 2)
        try:
            while not self._stopped:
                try:
                    messages = await subscription.fetch(batch, timeout=PULL_WAIT_S)
                except nats.errors.TimeoutError:
                    continue  # nothing new
                except nats.errors.ConnectionClosedError:
                    return  # closed for good: no retry helps
                except (nats.errors.Error, TimeoutError) as exc:
                    # A node gone or busy: the consumer lives on the others (R3).
                    log.warning("partition %d: pulling failed (%r); again", self.partition, exc)
                    await asyncio.sleep(0.5)
                    continue
                for message in messages:
                    await self._take(message)
        finally:
            # Left subscribed, it would hold the connection's drain at the worker's stop
            # for the drain's whole timeout: longer than compose or systemd waits.
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()

    async def _take(self, message: Msg) -> None:
        metadata = message.metadata
        topic = nats_io.topic_of(message.subject)
        if topic is None or not self._ours(message.subject):
            # Only a misconfigured mapping or account puts such a message here.
            log.error("partition %d: not ours, dropped: %s", self.partition, message.subject)
            metrics.MESSAGES_INVALID.inc()
            await message.ack()
            return
        with self._lock:
            self._next_mid += 1
            mid = self._next_mid
            self._taken[mid] = _Taken(message, metadata.sequence.stream)
            self._highest = max(self._highest, metadata.sequence.stream)
        received_at: datetime = metadata.timestamp
        self.inbox.put(Inbound(topic, message.data, mid, 1, received_at, time.monotonic()))

    def _ours(self, subject: str) -> bool:
        _, partition, site, gateway, _ = subject.split(".")
        expected = nats_io.partition_of(site, gateway, self._partitions)
        return partition == str(self.partition) and expected == self.partition

    def taken(self, message: Inbound) -> None:
        """Flow control is the consumer's (max_ack_pending): nothing to do."""

    def ack(self, message: Inbound) -> None:
        self.ack_all([message])

    def ack_all(self, messages: Iterable[Inbound]) -> None:
        """Write the checkpoint up to the highest stream sequence below which every message
        is handled, then acknowledge `messages` to JetStream."""
        with self._lock:
            done = [self._taken.pop(m.mid) for m in messages if m.mid in self._taken]
            covered = min((t.stream_seq for t in self._taken.values()), default=None)
            upto = self._highest if covered is None else covered - 1
        if not done:
            return
        self._state.write(upto)
        acks = [taken.message for taken in done]
        asyncio.run_coroutine_threadsafe(_ack(acks), self._bridge.loop)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Alert events into stream ALERTS (waiting for its confirmation), everything else
        (durable marks, invalid notices) as plain messages; `retain` has no meaning here."""
        subject = nats_io.subject_of(topic)
        if topic.startswith(topics.ALERTS_FILTER.removesuffix("#")):
            event_id = json.loads(payload)["id"]
            self._bridge.call(
                lambda: self._js.publish(
                    subject, payload, headers={"Nats-Msg-Id": event_id}, timeout=CALL_TIMEOUT_S
                ),
                f"alert event {event_id}",
            )
            return
        asyncio.run_coroutine_threadsafe(self._nc.publish(subject, payload), self._bridge.loop)

    def durable_mark(self, site: str, gateway: str) -> int:
        """Marks are not retained on the cluster: the partition's checkpoint keeps them."""
        return 0


async def _ack(messages: list[Msg]) -> None:
    """Acknowledge; one that does not arrive is sent again by JetStream after ACK_WAIT_S
    and judged as late, its reading stored already."""
    try:
        for message in messages:
            await message.ack()
    except nats.errors.Error as exc:
        log.warning(
            "%d acks not sent (%r); JetStream sends those messages again", len(messages), exc
        )
