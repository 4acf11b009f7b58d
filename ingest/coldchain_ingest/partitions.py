"""A worker of the NATS cluster: owns a share of the partitions and runs one pipeline each.

Ownership is a lease: one key per partition in bucket `ingest_leases`, made with
`create` (only if nobody holds it), renewed with `update` on the revision the
worker last wrote (compare-and-set), and gone after `lease_ttl_s` without
renewal (the bucket's TTL). So two workers never hold one partition: the second
`create` fails while the first lease lives. A worker that cannot renew for two
thirds of the TTL (the cluster unreachable from it) stops its pipelines itself,
before another may take them.

Each worker says it is alive in bucket `ingest_workers` (same TTL). Every third
of the TTL it looks at who is alive: partition p belongs to the worker at p modulo
their number, in the order of their names. It gives back what is no longer
its own (the pipeline finishes its batch and checkpoints while the worker keeps its
lease, then the lease is deleted) and takes what is, once the last owner gave it
back or its lease ran out. Adding or removing a worker so moves only the
partitions the new share moves. Nothing in this loop waits for a pipeline: one
finishing a write to an InfluxDB that does not answer must not keep the worker
from renewing its other leases.

A partition taken over starts from its checkpoint (jetstream.py). Before it takes any,
the worker reads every fleet version and retirement of stream FLEET, and each pipeline
gets them all ahead of its partition's messages (`FleetFollower`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import nats.errors
from nats.aio.client import Client
from nats.js.errors import (
    BadRequestError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)
from nats.js.kv import KeyValue

from coldchain.contract import Telemetry
from coldchain.engine import RuleEngine
from coldchain.registry import FleetHistory
from coldchain_ingest.deadletters import DeadLetters
from coldchain_ingest.errors import PartitionLost
from coldchain_ingest.influx import Influx
from coldchain_ingest.jetstream import (
    Bridge,
    CheckpointState,
    FleetFollower,
    JetStreamOutbox,
    PartitionSource,
    read_checkpoint,
)
from coldchain_ingest.pipeline import Pipeline
from coldchain_ingest.settings import IngestSettings
from coldchain_io import nats as nats_io

log = logging.getLogger(__name__)

#: Longest wait for one answer of JetStream while balancing.
JETSTREAM_TIMEOUT_S = 2.0


@dataclass
class Owned:
    """A partition this worker holds, and what runs it."""

    lease: int
    renewed: float
    pipeline: Pipeline
    source: PartitionSource
    stop: threading.Event = field(default_factory=threading.Event)
    #: Set by the pipeline's thread as its last step.
    ended: threading.Event = field(default_factory=threading.Event)
    #: When it was told to stop for another worker to take it (time.monotonic()); its
    #: lease is kept until it has ended.
    leaving: float | None = None


class Worker:
    def __init__(
        self,
        settings: IngestSettings,
        history: FleetHistory,
        influx: Influx,
        dead_letters: DeadLetters,
        on_stored: Callable[[list[Telemetry]], None],
    ) -> None:
        self._settings = settings
        self._history = history
        self._influx = influx
        self._dead_letters = dead_letters
        self._on_stored = on_stored
        self._me = settings.worker_id or f"{socket.gethostname().partition('.')[0]}-{os.getpid()}"
        self._owned: dict[int, Owned] = {}
        #: A pipeline told to stop that has not ended after this long abandons its batch
        #: (its next owner reads it again): one write's timeout and a lease's life.
        self._leave_within = settings.influx_timeout_s + settings.lease_ttl_s
        self._stopping = asyncio.Event()
        #: Set to balance before the next tick: stopping, or a pipeline ended.
        self._nudge = asyncio.Event()
        self._nc: Client | None = None
        self._fleet = FleetFollower()

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def pipelines(self) -> list[Pipeline]:
        """The pipelines running now, not those ending for another worker to take over
        (for the scheduled jobs; any thread)."""
        return [owned.pipeline for owned in list(self._owned.values()) if owned.leaving is None]

    def owned(self) -> list[int]:
        return sorted(self._owned)

    def run(self) -> None:
        """Run until SIGTERM or Ctrl-C; then give every partition back."""
        asyncio.run(self._main())

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop)
        self._nc = await nats_io.connect(self._settings, f"ingest-{self._me}")
        # Short answers: a lease must be renewed within its TTL, through a node's death.
        js = self._nc.jetstream(timeout=JETSTREAM_TIMEOUT_S)
        ready = (
            await self._retrying(lambda: nats_io.ensure_streams(js, self._settings), self._stopping)
            and await self._retrying(
                lambda: nats_io.ensure_buckets(js, self._settings, self._settings.lease_ttl_s),
                self._stopping,
            )
            and await self._retrying(lambda: self._fleet.start(js), self._stopping)
        )
        if not ready:
            log.info("stopped before the cluster was ready; no partition was taken")
            await self._nc.close()
            return
        leases = await js.key_value(nats_io.LEASES_BUCKET)
        workers = await js.key_value(nats_io.WORKERS_BUCKET)
        checkpoints = await js.key_value(nats_io.CHECKPOINTS_BUCKET)
        tick = self._settings.lease_ttl_s / 3
        while not self._fleet.caught_up.is_set() and not self._stopping.is_set():
            log.info("reading the registry's fleet versions from stream %s", nats_io.FLEET_STREAM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._fleet.caught_up.wait(), tick)
        log.info("worker %s on the cluster; %d partitions", self._me, self._settings.partitions)
        balance_at = time.monotonic()
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= balance_at:
                    balance_at = time.monotonic() + tick
                    await self._balance(leases, workers, checkpoints)
                else:
                    # A pipeline ended: its lease goes back now, but nothing is taken
                    # before the tick, so one that fails at once is not retaken in a loop.
                    await self._keep(leases, renew_after=tick)
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("could not reach the cluster to balance partitions: %r", exc)
            self._fence()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudge.wait(), max(balance_at - time.monotonic(), 0))
            self._nudge.clear()
        stopping_at = time.monotonic()
        log.info("stopping: giving back partitions %s", sorted(self._owned) or "(none)")
        for partition in list(self._owned):
            self._leave(partition)
        while self._owned:
            await self._keep(leases, renew_after=tick)
            self._fence()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudge.wait(), 0.5)
            self._nudge.clear()
        log.info("stopping: partitions given back in %.1f s", time.monotonic() - stopping_at)
        try:
            # Not for good: the cluster may be gone, and the key lives its TTL only.
            await asyncio.wait_for(
                self._retrying(lambda: workers.delete(self._me)), self._settings.lease_ttl_s
            )
        except TimeoutError:
            log.warning("could not tell the cluster this worker stopped; it sees so in a TTL")
        try:
            await self._nc.drain()
        except nats.errors.Error:  # reconnecting: nothing to drain
            await self._nc.close()
        log.info("stopping: off the cluster after %.1f s", time.monotonic() - stopping_at)

    async def _retrying(
        self, call: Callable[[], object], stopping: asyncio.Event | None = None
    ) -> bool:
        """Call until the cluster answers, with growing pauses; False if `stopping` was
        set first (a SIGTERM while the cluster has no leader ends the worker at once)."""
        pause = 0.2
        while True:
            try:
                result = call()
                if asyncio.iscoroutine(result):
                    await result
                return True
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("the cluster is not ready (%r); again in %.1f s", exc, pause)
            if stopping is None:
                await asyncio.sleep(pause)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), pause)
                if stopping.is_set():
                    return False
            pause = min(pause * 2, 5.0)

    def _stop(self) -> None:
        self._stopping.set()
        self._nudge.set()

    async def _balance(self, leases: KeyValue, workers: KeyValue, checkpoints: KeyValue) -> None:
        await self._keep(leases)  # the leases first: they expire
        await workers.put(self._me, b"alive")
        alive = await _alive(workers)
        if self._me not in alive:
            alive = sorted([*alive, self._me])
        mine = {p for p in range(self._settings.partitions) if alive[p % len(alive)] == self._me}
        for partition in sorted(set(self._owned) - mine):
            if self._owned[partition].leaving is None:
                log.info("partition %d: now another worker's share; giving it back", partition)
                self._leave(partition)
        for partition in sorted(mine - set(self._owned)):
            self._fence()  # taking a partition waits for the cluster: the others' leases age
            try:
                lease = await leases.create(f"p{partition}", self._me.encode())
            except KeyWrongLastSequenceError:
                continue  # the last owner has not given it back yet, or its lease lives
            await self._take(partition, lease, checkpoints)

    async def _keep(self, leases: KeyValue, renew_after: float = 0) -> None:
        """Renew the leases of the partitions running or finishing (those last renewed
        `renew_after` s ago or more); give back those whose pipeline ended."""
        for partition, owned in list(self._owned.items()):
            if self._owned.get(partition) is not owned:
                continue  # halted meanwhile: its lease was lost or ran out
            if owned.leaving is None and (owned.ended.is_set() or not owned.source.pulling):
                log.warning("partition %d: its pipeline or pull ended; giving it back", partition)
                self._leave(partition)
            try:
                await self._keep_one(partition, owned, leases, renew_after)
            except (nats.errors.Error, TimeoutError) as exc:  # the others' leases still
                log.warning("partition %d: could not reach the cluster: %r", partition, exc)

    async def _keep_one(
        self, partition: int, owned: Owned, leases: KeyValue, renew_after: float
    ) -> None:
        if owned.leaving is not None and owned.ended.is_set():
            await self._give_back(partition, leases)
            return
        late = owned.leaving is not None and time.monotonic() - owned.leaving > self._leave_within
        if late and not owned.stop.is_set():
            log.warning(
                "partition %d: its pipeline has not ended %.0f s after it was asked to; "
                "its batch is left for the next owner to read again",
                partition,
                self._leave_within,
            )
            owned.stop.set()
        if time.monotonic() - owned.renewed >= renew_after:
            await self._renew(partition, owned, leases)

    async def _renew(self, partition: int, owned: Owned, leases: KeyValue) -> None:
        try:
            owned.lease = await leases.update(f"p{partition}", self._me.encode(), last=owned.lease)
            owned.renewed = time.monotonic()
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            log.error("partition %d: lease lost to another worker; stopping it", partition)
            self._halt(partition)

    def _fence(self) -> None:
        """Stop the pipelines whose lease may run out before we renew it again."""
        limit = self._settings.lease_ttl_s * 2 / 3
        for partition, owned in list(self._owned.items()):
            if time.monotonic() - owned.renewed > limit:
                log.error("partition %d: lease not renewed for %.1f s; stopping", partition, limit)
                self._halt(partition)

    def _leave(self, partition: int) -> None:
        """Tell the pipeline to finish its batch and checkpoint; `_keep` gives the lease
        back once it has ended, and renews it until then."""
        owned = self._owned[partition]
        owned.leaving = time.monotonic()
        self._fleet.detach(owned.source.inbox)
        owned.pipeline.stop()

    def _halt(self, partition: int) -> None:
        owned = self._owned.pop(partition)
        self._fleet.detach(owned.source.inbox)
        owned.stop.set()
        owned.pipeline.stop()
        owned.source.stop()

    async def _take(self, partition: int, lease: int, checkpoints: KeyValue) -> None:
        assert self._nc is not None
        checkpoint, revision = await read_checkpoint(checkpoints, partition)
        stop = threading.Event()
        bridge = Bridge(asyncio.get_running_loop(), stop)
        state = CheckpointState(bridge, checkpoints, partition, checkpoint, revision)
        partitions = self._settings.partitions
        engine = RuleEngine(
            self._history,
            RuleEngine.restore(datetime.now(UTC), state.rows()),
            watches=lambda site, gateway: (
                nats_io.partition_of(site, gateway, partitions) == partition
            ),
        )
        source = PartitionSource(
            bridge, self._nc, partition, partitions, state, self._settings.receive_maximum
        )
        pipeline = Pipeline(
            self._settings,
            self._influx,
            source,
            engine,
            state,
            JetStreamOutbox(),
            self._dead_letters,
            self._on_stored,
            in_seq_order=True,
        )
        # Every fleet version and retirement ahead of the partition's first message.
        self._fleet.attach(source.inbox)
        try:
            await source.start(checkpoint.seq)
        except BaseException:
            self._fleet.detach(source.inbox)
            raise
        ended = threading.Event()
        thread = threading.Thread(
            target=partial(self._run, partition, pipeline, asyncio.get_running_loop(), ended),
            name=f"partition-{partition}",
            daemon=True,
        )
        self._owned[partition] = Owned(lease, time.monotonic(), pipeline, source, stop, ended)
        thread.start()
        log.info("partition %d taken, from stream sequence %d", partition, checkpoint.seq + 1)

    def _run(
        self,
        partition: int,
        pipeline: Pipeline,
        loop: asyncio.AbstractEventLoop,
        ended: threading.Event,
    ) -> None:
        try:
            pipeline.run()
        except PartitionLost as exc:
            log.warning("partition %d: %s", partition, exc)
        finally:
            ended.set()
            with contextlib.suppress(RuntimeError):  # the loop ended: the worker stopped
                loop.call_soon_threadsafe(self._nudge.set)

    async def _give_back(self, partition: int, leases: KeyValue) -> None:
        """Delete the lease of a partition whose pipeline has ended."""
        owned = self._owned.pop(partition)
        owned.stop.set()
        owned.source.stop()
        try:
            await leases.delete(f"p{partition}", last=owned.lease)
        except BadRequestError:  # the key's revision moved on: the lease ran out meanwhile
            log.warning("partition %d: lease ran out before it was given back", partition)
        log.info("partition %d given back", partition)


async def _alive(workers: KeyValue) -> list[str]:
    """The workers that announced themselves: `KeyValue.keys()` with a deadline. Its
    watcher waits without one for the messages JetStream counted for it; when they were
    lost on the way (a node under load, a connection cut), the worker waited for good:
    it balanced, renewed and fenced no more, and took a dead worker's partitions never
    over."""
    watcher = await workers.watchall(ignore_deletes=True, meta_only=True)
    try:
        # A set: a worker renewing its key during the look is seen twice, and a name
        # counted twice shifted every share (a worker gave back half of its own).
        names: set[str] = set()
        # nats-py leaves these two untyped; updates() raises nats's TimeoutError.
        while (entry := await watcher.updates(JETSTREAM_TIMEOUT_S)) is not None:  # type: ignore[no-untyped-call]
            names.add(entry.key)
        return sorted(names)
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]
