"""The gateway's MQTT connection: a thin cut between the gateway loop and paho.

It publishes telemetry (QoS 1) and the retained online/offline status, and
reports two things back through `signals`: that a connection came up, and each
durable mark the ingest service published. It decides nothing.
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
        client = mqtt_io.client(
            settings,
            f"gateway-{settings.site}-{settings.id}",
            reconnect_s=(settings.reconnect_min_s, settings.reconnect_max_s),
        )
        client.will_set(self._status, topics.STATUS_OFFLINE, qos=1, retain=True)
        client.max_queued_messages_set(0)
        mqtt_io.on_connected(client, settings, self._on_connect)
        mqtt_io.on_disconnected(client)
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        mqtt_io.connect(self._client, self._settings)
        self._client.loop_start()

    def stop(self) -> None:
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

    def _on_connect(self, session_present: bool) -> None:
        self._client.publish(self._status, topics.STATUS_ONLINE, qos=1, retain=True)
        self._client.subscribe(self._durable, qos=1)
        self.signals.put(Connected())

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            mark = DurableMark.model_validate_json(msg.payload)
        except ValidationError as exc:
            log.error("ignoring malformed durable mark on %s: %s", msg.topic, exc)
            return
        self.signals.put(Durable(mark.seq))
