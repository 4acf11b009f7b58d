"""The gateway's MQTT connection: a thin cut between the gateway loop and paho.

It publishes telemetry (QoS 1) and the retained online/offline status, and
reports two things back through `signals`: that a connection came up, and each
durable mark the ingest service published. It decides nothing. With further
brokers (`mqtt_failover`, the NATS cluster's nodes) it moves to the next one
whenever a connection fails or is lost; the forwarder sees a new connection as
after any reconnect and publishes again what is not durable.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from pydantic import ValidationError

from coldchain import topics
from coldchain.contract import DurableMark
from coldchain_gateway.settings import GatewaySettings
from coldchain_io import mqtt as mqtt_io

log = logging.getLogger(__name__)

PROTOCOLS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}


@dataclass(frozen=True)
class Connected:
    pass


@dataclass(frozen=True)
class Durable:
    seq: int


Signal = Connected | Durable


class Uplink:
    def __init__(self, settings: GatewaySettings) -> None:
        self.signals: queue.Queue[Signal] = queue.Queue()
        self._settings = settings
        self._telemetry = topics.telemetry(settings.site, settings.id)
        self._status = topics.status(settings.site, settings.id)
        self._durable = topics.durable(settings.site, settings.id)
        self._brokers = settings.brokers()
        # On the NATS cluster (MQTT 3.1.1) ingest publishes marks as plain NATS messages,
        # which reach an MQTT subscriber at QoS 0 whatever it asked; a QoS 1 subscription
        # would only need a JetStream consumer and the rights to it.
        self._durable_qos = 1 if settings.mqtt_protocol == "5" else 0
        self._broker = 0
        self._stopping = False
        client = mqtt_io.client(
            settings,
            f"gateway-{settings.site}-{settings.id}",
            reconnect_s=(settings.reconnect_min_s, settings.reconnect_max_s),
            protocol=PROTOCOLS[settings.mqtt_protocol],
        )
        client.will_set(self._status, topics.STATUS_OFFLINE, qos=1, retain=True)
        client.max_queued_messages_set(0)
        mqtt_io.on_connected(client, settings, self._on_connect)
        mqtt_io.on_disconnected(client, self._next_broker)
        client.on_connect_fail = lambda client, userdata: self._next_broker()
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        mqtt_io.connect(self._client, self._settings)
        self._client.loop_start()

    def stop(self) -> None:
        self._stopping = True
        info = self._client.publish(self._status, topics.STATUS_OFFLINE, qos=1, retain=True)
        deadline = time.monotonic() + 2.0
        while self._client.is_connected() and not info.is_published():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def publish(self, payload: bytes) -> None:
        self._client.publish(self._telemetry, payload, qos=1)

    def _next_broker(self) -> None:
        """Point paho's next reconnect at the next broker of the list (network thread)."""
        if len(self._brokers) < 2 or self._stopping:
            return
        self._broker = (self._broker + 1) % len(self._brokers)
        host, port = self._brokers[self._broker]
        # paho's public way to change the broker; its loop then reconnects there.
        self._client.connect_async(host, port, mqtt_io.KEEPALIVE_S)
        log.warning("trying broker %s:%d next", host, port)

    def _on_connect(self, session_present: bool) -> None:
        self._client.publish(self._status, topics.STATUS_ONLINE, qos=1, retain=True)
        self._client.subscribe(self._durable, qos=self._durable_qos)
        self.signals.put(Connected())

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            mark = DurableMark.model_validate_json(msg.payload)
        except ValidationError as exc:
            log.error("ignoring malformed durable mark on %s: %s", msg.topic, exc)
            return
        self.signals.put(Durable(mark.seq))
