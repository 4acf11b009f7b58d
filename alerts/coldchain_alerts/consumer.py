"""MQTT adapter of the alerts service: alert events in, stored, then acknowledged.

A persistent MQTT 5 session with manual acks: an event is acknowledged only
after the database committed it, so an alerts service that was down finds the
events waiting at the broker when it returns. The broker alone can lose an
event (killed before it saved it), so ingest keeps each one until it gets a
receipt: once events are stored, or kept as refused, their ids are published on
`coldchain/v1/_alert_receipts`.

Events that arrive together (one reading often raises two alerts, a jump and a
limit) are stored in one transaction, so that escalation sees them together
and tells people in one message rather than one after the other.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import TypeAdapter, ValidationError

from coldchain import topics
from coldchain.contract import MAX_RECEIPT_IDS, AlertEvent, AlertReceipt, EventId
from coldchain_alerts.settings import AlertsSettings
from coldchain_io import mqtt as mqtt_io

log = logging.getLogger(__name__)

#: At most this many events are stored in one transaction.
MAX_BATCH = 100
#: At most this many events are in the service's hands, not yet acknowledged.
RECEIVE_MAXIMUM = 2 * MAX_BATCH
#: Events that follow each other within this time are stored together: ingest
#: publishes the events of one batch back to back, but they are read one by one.
GATHER_S = 0.005


class Refused(Exception):
    """The event can never be stored (the database refuses it for what it is)."""


class Consumer(Protocol):
    """Where alert events come from: MQTT (`AlertConsumer`) or JetStream (jetstream.py)."""

    @property
    def connected(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def publish_retained(self, topic: str, payload: bytes) -> bool: ...


class EventStore:
    """Hands events received together to `handle`, retrying while that fails for
    passing reasons; what the transports (MQTT here, JetStream in jetstream.py) share.

    An event that is malformed, or that `handle` refuses for good (it raises
    `Refused`; the events of a refused batch are then tried one by one), goes to
    `refuse(topic, payload, reason)`: kept and counted there, it is acknowledged
    and no longer blocks the events behind it.
    """

    def __init__(
        self,
        handle: Callable[[Sequence[AlertEvent]], None],
        refuse: Callable[[str, bytes, str], None],
        stopping: threading.Event,
    ) -> None:
        self._handle = handle
        self._refuse = refuse
        self._stopping = stopping

    def take(self, batch: Sequence[tuple[str, bytes]]) -> bool:
        """Store or refuse every (topic, payload) of `batch`; False if asked to stop
        before that (then acknowledge none of them)."""
        reasons: list[str | None] = []
        events: list[AlertEvent] = []
        for _, payload in batch:
            try:
                events.append(AlertEvent.model_validate_json(payload))
                reasons.append(None)
            except ValidationError as exc:
                reasons.append(f"not a valid alert event: {exc}")
        stored = self._store(events) if events else []
        if stored is None:
            return False
        refusals = iter(stored)
        for (topic, payload), invalid in zip(batch, reasons, strict=True):
            reason = next(refusals) if invalid is None else invalid
            if reason is not None and not self._keep_refused(topic, payload, reason):
                return False
        return True

    def _store(self, events: list[AlertEvent]) -> list[str | None] | None:
        """Store `events` in one transaction, or one by one if that is refused: for each,
        why it was refused or None; None instead if asked to stop first."""
        pause = 0.2
        while True:
            try:
                self._handle(events)
                return [None] * len(events)
            except Refused as exc:
                if len(events) == 1:
                    return [str(exc)]
                return self._store_each(events)
            except Exception:
                # Not acknowledged yet: the broker still holds the events. Keep trying
                # rather than lose them; the log says why we are stuck.
                log.exception(
                    "could not store alert event %s%s; retrying in %.1f s",
                    events[0].key,
                    f" and {len(events) - 1} more" if len(events) > 1 else "",
                    pause,
                )
            if self._stopping.wait(pause):
                return None
            pause = min(pause * 2, 5.0)

    def _store_each(self, events: list[AlertEvent]) -> list[str | None] | None:
        reasons: list[str | None] = []
        for event in events:
            reason = self._store([event])
            if reason is None:
                return None
            reasons += reason
        return reasons

    def _keep_refused(self, topic: str, payload: bytes, reason: str) -> bool:
        """Keep a refused message with its reason; False if asked to stop first."""
        log.error("refused alert event on %s: %s", topic, reason)
        pause = 0.2
        while True:
            try:
                self._refuse(topic, payload, reason)
                return True
            except Exception:
                log.exception("could not keep the refused event; retrying in %.1f s", pause)
            if self._stopping.wait(pause):
                return False
            pause = min(pause * 2, 5.0)


class AlertConsumer:
    """Stores the events waiting at once (`EventStore`), then acknowledges them in the
    order they arrived and publishes their receipt."""

    def __init__(
        self,
        settings: AlertsSettings,
        handle: Callable[[Sequence[AlertEvent]], None],
        refuse: Callable[[str, bytes, str], None],
        on_subscribed: Callable[[], None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._on_subscribed_hook = on_subscribed
        self._stopping = threading.Event()
        self._events = EventStore(handle, refuse, self._stopping)
        self._inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="alert-events", daemon=True)
        self._subscribed = threading.Event()
        client = mqtt_io.client(settings, settings.mqtt_client_id, manual_ack=True)
        mqtt_io.on_connected(client, settings, self._on_connect)
        mqtt_io.on_disconnected(client, self._subscribed.clear)
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client

    @property
    def connected(self) -> bool:
        """Connected, and the broker confirmed the subscription to alert events."""
        return self._client.is_connected() and self._subscribed.is_set()

    def start(self) -> None:
        # At most this many events unacknowledged in our hands: a flood waits at the broker.
        mqtt_io.connect(
            self._client,
            self._settings,
            session_expiry_s=self._settings.session_expiry_s,
            receive_maximum=RECEIVE_MAXIMUM,
        )
        self._worker.start()
        self._client.loop_start()

    def stop(self) -> None:
        """Stop taking events; what is not stored yet stays with the broker."""
        self._stopping.set()
        if self._worker.is_alive():
            self._worker.join()
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, session_present: bool) -> None:
        self._subscribed.clear()
        self._client.subscribe(topics.ALERTS_FILTER, qos=1)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if any(reason.is_failure for reason in reasons):
            log.error("broker refused the subscription to %s: %s", topics.ALERTS_FILTER, reasons)
            return
        self._subscribed.set()
        # The broker may have lost events, or our session, while we were away.
        client.publish(topics.ALERT_RECEIPTS, AlertReceipt(resend=True).model_dump_json(), qos=1)
        self._on_subscribed_hook()

    def publish_retained(self, topic: str, payload: bytes) -> bool:
        """Publish at QoS 1, retained; False if not connected (publish again later)."""
        if not self.connected:
            return False
        info = self._client.publish(topic, payload, qos=1, retain=True)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(msg)

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                batch = [self._inbox.get(timeout=0.5)]
            except queue.Empty:
                continue
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._inbox.get(timeout=GATHER_S))
                except queue.Empty:
                    break
            if not self._take(batch):
                return

    def _take(self, batch: list[mqtt.MQTTMessage]) -> bool:
        """Store or refuse every message of `batch`, then acknowledge them in order;
        False if asked to stop before that."""
        if not self._events.take([(msg.topic, bytes(msg.payload)) for msg in batch]):
            return False
        ids = [event_id for msg in batch if (event_id := _event_id(msg.payload))]
        for start in range(0, len(ids), MAX_RECEIPT_IDS):
            receipt = AlertReceipt(ids=ids[start : start + MAX_RECEIPT_IDS])
            self._client.publish(topics.ALERT_RECEIPTS, receipt.model_dump_json(), qos=1)
        for msg in batch:
            self._client.ack(msg.mid, msg.qos)
        return True


_EVENT_ID: TypeAdapter[str] = TypeAdapter(EventId)


def _event_id(payload: bytes | bytearray) -> str | None:
    """The id ingest gave an event, also of one that was refused; None if it has none."""
    try:
        document = json.loads(payload)
        return _EVENT_ID.validate_python(document.get("id")) if isinstance(document, dict) else None
    except (ValueError, ValidationError):
        return None
