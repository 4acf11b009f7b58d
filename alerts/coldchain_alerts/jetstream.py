"""JetStream adapter of the alerts service (COLDCHAIN_ALERTS_TRANSPORT=nats): alert
events from stream ALERTS in, stored, then acknowledged.

Every instance pulls from one durable consumer (`DURABLE`), so JetStream hands each
event to one of them. An event is acknowledged only after the database committed it
(or kept it as refused, consumer.py); one not acknowledged within `ACK_WAIT_S` (its
instance was killed, or hangs) is handed to another instance. At least once, then;
storing is idempotent (lifecycle.py), so a redelivery changes nothing.

Ingest publishes each event with its id as `Nats-Msg-Id` and counts it delivered once
JetStream acknowledged the publish (coldchain_io.nats), so no receipts go back here:
those are the MQTT transport's (consumer.py). The other way, the fleet versions and the
retired gateways go into stream FLEET (`publish_retained`), where every ingest worker
reads them.

nats-py is asyncio; the service is threads. The connection lives on an event loop in
a thread of its own, and each batch is stored on a worker thread, so a slow database
never stalls the connection's heartbeats.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, Header
from nats.js.errors import APIError

from coldchain import topics
from coldchain.contract import AlertEvent
from coldchain_alerts.consumer import MAX_BATCH, RECEIVE_MAXIMUM, EventStore
from coldchain_alerts.settings import AlertsSettings
from coldchain_io import nats as nats_io

log = logging.getLogger(__name__)

#: The durable pull consumer all alerts instances share.
DURABLE = "alerts"
#: An event not acknowledged this long after it was handed out goes to another instance.
ACK_WAIT_S = 10.0
#: How long one pull waits for events before it asks again.
PULL_S = 1.0
#: Longest wait for stream FLEET to confirm a publish.
PUBLISH_TIMEOUT_S = 5.0
#: JetStream's error code for a publish whose expected last subject sequence is not the last.
WRONG_LAST_SEQUENCE = 10071
#: Wait before connecting again after the cluster refused or could not be reached.
RETRY_S = 1.0


class JetStreamConsumer:
    """Pulls alert events, stores them with `EventStore`, acknowledges them in order."""

    def __init__(
        self,
        settings: AlertsSettings,
        handle: Callable[[Sequence[AlertEvent]], None],
        refuse: Callable[[str, bytes, str], None],
        on_subscribed: Callable[[], None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._stopping = threading.Event()
        self._events = EventStore(handle, refuse, self._stopping)
        self._on_subscribed = on_subscribed
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="alert-events", daemon=True)
        self._client: Client | None = None
        self._pulling = threading.Event()

    @property
    def connected(self) -> bool:
        """Connected to the cluster, and pulling from the consumer."""
        client = self._client
        return client is not None and client.is_connected and self._pulling.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop taking events; what is not acknowledged yet stays in the stream."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def publish_retained(self, topic: str, payload: bytes) -> bool:
        """Publish into stream FLEET, which keeps the last message of each subject for the
        workers; True once the stream confirmed it, False if not (publish again later).

        A fleet version never changes: published only while its subject is empty, so a
        service that starts or reconnects and publishes every version again sends the
        workers none twice. The list of retired gateways replaces the last one; the same
        list again within the stream's duplicate window is dropped by its id."""
        client = self._client
        if client is None or not self.connected:
            return False
        if topics.is_fleet(topic):
            headers = {Header.EXPECTED_LAST_SUBJECT_SEQUENCE.value: "0"}
        else:
            headers = {Header.MSG_ID.value: hashlib.sha256(payload).hexdigest()}
        sent = asyncio.run_coroutine_threadsafe(
            _kept(client, nats_io.subject_of(topic), payload, headers), self._loop
        )
        try:
            return sent.result(timeout=PUBLISH_TIMEOUT_S + 1)
        except (nats.errors.Error, TimeoutError) as exc:
            log.warning("could not publish on %s: %r", topic, exc)
            return False

    def _run(self) -> None:
        self._loop.run_until_complete(self._main())
        self._loop.close()

    async def _main(self) -> None:
        while not self._stopping.is_set():
            try:
                self._client = await nats_io.connect(self._settings, "coldchain-alerts")
                await self._pull(self._client)
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                log.warning("alert events from JetStream: %r; again in %.0f s", exc, RETRY_S)
                await asyncio.sleep(RETRY_S)
            finally:
                self._pulling.clear()
                if self._client is not None:
                    await self._client.close()
                    self._client = None

    async def _pull(self, client: Client) -> None:
        js = client.jetstream()
        await nats_io.ensure_streams(js, self._settings, writes_fleet=True)
        subscription = await js.pull_subscribe(
            nats_io.ALERTS_SUBJECTS,
            durable=DURABLE,
            stream=nats_io.ALERTS_STREAM,
            config=ConsumerConfig(
                durable_name=DURABLE,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ACK_WAIT_S,
                max_ack_pending=RECEIVE_MAXIMUM,
            ),
        )
        self._pulling.set()
        self._on_subscribed()
        while not self._stopping.is_set():
            try:
                batch = await subscription.fetch(MAX_BATCH, timeout=PULL_S)
            except TimeoutError:  # no event within PULL_S (nats-py raises asyncio's too)
                continue
            if not await self._take(batch):
                return

    async def _take(self, batch: list[Msg]) -> bool:
        """Store `batch`, then acknowledge it; False if asked to stop before that."""
        received = [(_topic(msg.subject), msg.data) for msg in batch]
        if not await asyncio.to_thread(self._events.take, received):
            return False
        for msg in batch:
            await msg.ack()
        return True


async def _kept(client: Client, subject: str, payload: bytes, headers: dict[str, str]) -> bool:
    try:
        await client.jetstream().publish(
            subject, payload, timeout=PUBLISH_TIMEOUT_S, headers=headers
        )
    except APIError as exc:
        if exc.err_code != WRONG_LAST_SEQUENCE:
            raise
        # The version is in the stream already, from an earlier start of the service.
    return True


def _topic(subject: str) -> str:
    """The MQTT topic of a subject (ingest publishes on `topics.alerts(site)`'s)."""
    return subject.replace(".", "/")
