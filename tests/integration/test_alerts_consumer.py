"""The alerts service's consumer on a real Mosquitto, with a recording store.

Events that wait at the broker together are handed over together, each once
and in order, and acknowledged; a batch the store refuses is tried event by
event, so that only the refused event is set aside.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts.consumer import AlertConsumer, Refused
from coldchain_alerts.settings import AlertsSettings
from coldchain_devstack.servers import Mosquitto, wait_until

SITE = "dortmund-hub"
STARTED = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def _event(n: int) -> AlertEvent:
    started = STARTED + timedelta(minutes=n)
    return AlertEvent(
        key=f"temperature_above/van-2.chilled/{started.isoformat()}",
        state=AlertState.RAISED,
        rule="over_max",
        severity=Severity.CRITICAL,
        site=SITE,
        asset="van-2-chilled",
        sensor="van-2.chilled",
        started_at=started,
        at=started,
        value_c=8.5,
        peak_c=8.5,
        limit_c=6.0,
        regulatory_limit_c=7.0,
        delay_s=0,
    )


class Store:
    """Records what the consumer hands over; fails `failures` times first, and refuses
    every batch that holds the event with key `poison`."""

    def __init__(self, failures: int = 0, poison: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.refused: list[tuple[bytes, str]] = []
        self._failures = failures
        self._poison = poison
        self._lock = threading.Lock()

    def handle(self, events: Sequence[AlertEvent]) -> None:
        keys = [event.key for event in events]
        with self._lock:
            if self._failures:
                self._failures -= 1
                raise ConnectionError("database unreachable")
            if self._poison in keys:
                raise Refused(f"the database refused event {self._poison}")
            self.batches.append(keys)

    def refuse(self, topic: str, payload: bytes, reason: str) -> None:
        with self._lock:
            self.refused.append((payload, reason))

    def stored(self) -> list[str]:
        with self._lock:
            return [key for batch in self.batches for key in batch]


@contextmanager
def _consumer(mosquitto: Mosquitto, store: Store) -> Iterator[AlertConsumer]:
    settings = AlertsSettings(
        mqtt_port=mosquitto.port, mqtt_client_id="consumer-test", influx_url=""
    )
    consumer = AlertConsumer(settings, store.handle, store.refuse)
    consumer.start()
    try:
        wait_until(lambda: consumer.connected, 15, "the consumer's subscription")
        yield consumer
    finally:
        consumer.stop()


def _publish(mosquitto: Mosquitto, *payloads: bytes) -> None:
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    try:
        for payload in payloads:
            publisher.publish(topics.alerts(SITE), payload, qos=1).wait_for_publish(10)
    finally:
        publisher.disconnect()
        publisher.loop_stop()


def _subscribed(mosquitto: Mosquitto) -> None:
    """Open the consumer's persistent session: from now on the broker keeps its events."""
    store = Store()
    with _consumer(mosquitto, store):
        sentinel = _event(999)
        _publish(mosquitto, sentinel.model_dump_json().encode())
        wait_until(lambda: store.stored() == [sentinel.key], 15, "the sentinel event")


def test_events_waiting_together_are_stored_together_once_and_in_order(
    mosquitto: Mosquitto,
) -> None:
    _subscribed(mosquitto)
    events = [_event(n) for n in range(30)]
    _publish(mosquitto, *(event.model_dump_json().encode() for event in events))

    store = Store(failures=1)
    with _consumer(mosquitto, store):
        wait_until(lambda: len(store.stored()) >= len(events), 15, "the waiting events")
    assert store.stored() == [event.key for event in events], "each once, in order"
    assert max(len(batch) for batch in store.batches) > 1, "stored together"

    again = Store()
    with _consumer(mosquitto, again):
        last = _event(1000)
        _publish(mosquitto, last.model_dump_json().encode())
        wait_until(lambda: again.stored(), 15, "the next event")
    assert again.stored() == [last.key], "the others were acknowledged"


def test_a_refused_batch_is_tried_event_by_event(mosquitto: Mosquitto) -> None:
    _subscribed(mosquitto)
    first, poison, last = _event(1), _event(2), _event(3)
    payloads = [e.model_dump_json().encode() for e in (first, poison, last)]
    _publish(mosquitto, b"{not json", *payloads)

    store = Store(poison=poison.key)
    with _consumer(mosquitto, store):
        wait_until(lambda: len(store.refused) + len(store.stored()) == 4, 15, "every event")
    assert store.stored() == [first.key, last.key]
    (junk, junk_reason), (refused, reason) = store.refused
    assert junk == b"{not json" and junk_reason.startswith("not a valid alert event")
    assert refused == payloads[1] and reason == f"the database refused event {poison.key}"
