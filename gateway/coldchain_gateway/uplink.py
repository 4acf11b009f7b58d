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
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from coldchain import topics
from coldchain.contract import DurableMark
from coldchain_gateway.settings import GatewaySettings

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
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"gateway-{settings.site}-{settings.id}",
            protocol=mqtt.MQTTv5,
        )
        if settings.mqtt_username:
            client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
        if settings.mqtt_tls:
            client.tls_set(
                ca_certs=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
                certfile=str(settings.mqtt_cert_file) if settings.mqtt_cert_file else None,
                keyfile=str(settings.mqtt_key_file) if settings.mqtt_key_file else None,
            )
        client.will_set(self._status, topics.STATUS_OFFLINE, qos=1, retain=True)
        client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        self._client.connect_async(self._settings.mqtt_host, self._settings.mqtt_port, 30)
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

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused the connection: %s", reason)
            return
        log.info("connected to %s:%s", self._settings.mqtt_host, self._settings.mqtt_port)
        client.publish(self._status, topics.STATUS_ONLINE, qos=1, retain=True)
        client.subscribe(self._durable, qos=1)
        self.signals.put(Connected())

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        log.warning("disconnected (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            mark = DurableMark.model_validate_json(msg.payload)
        except ValidationError as exc:
            log.error("ignoring malformed durable mark on %s: %s", msg.topic, exc)
            return
        self.signals.put(Durable(mark.seq))
