"""MQTT adapter of the ingest service: a persistent MQTT 5 session with manual acks.

Telemetry and gateway status arrive on paho's network thread and are only
queued here, in `inbox`.
The pipeline thread acknowledges each one (`ack`) once what it carries is
stored; until then the broker keeps it for us, across our restarts, for
`session_expiry_s`.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from coldchain import topics
from coldchain.contract import DurableMark
from coldchain_ingest.settings import IngestSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: datetime


class Broker:
    def __init__(self, settings: IngestSettings) -> None:
        self.inbox: queue.Queue[Inbound] = queue.Queue()
        self._marks: dict[str, int] = {}
        self._marks_lock = threading.Lock()
        self._settings = settings
        self._connected = threading.Event()
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=settings.mqtt_client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if settings.mqtt_username:
            client.username_pw_set(settings.mqtt_username, settings.mqtt_password)
        if settings.mqtt_tls:
            client.tls_set(
                ca_certs=str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None,
                certfile=str(settings.mqtt_cert_file) if settings.mqtt_cert_file else None,
                keyfile=str(settings.mqtt_key_file) if settings.mqtt_key_file else None,
            )
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self._settings.session_expiry_s
        properties.ReceiveMaximum = self._settings.receive_maximum
        self._client.connect_async(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def ack(self, message: Inbound) -> None:
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish at QoS 1; paho keeps it and retries across reconnects."""
        return self._client.publish(topic, payload, qos=1, retain=retain)

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
        log.info(
            "connected to %s:%s (session %s)",
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            "resumed" if flags.session_present else "new",
        )
        client.subscribe(
            [(topics.TELEMETRY_FILTER, 1), (topics.STATUS_FILTER, 1), (topics.DURABLE_FILTER, 1)]
        )
        self._connected.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        log.warning("disconnected from broker (%s); reconnecting", reason)

    def durable_mark(self, site: str, gateway: str) -> int:
        """The highest durable mark the broker holds for a gateway (0 if none)."""
        with self._marks_lock:
            return self._marks.get(topics.durable(site, gateway), 0)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if topics.is_durable(msg.topic):
            self._remember_mark(msg)
            client.ack(msg.mid, msg.qos)
            return
        self.inbox.put(Inbound(msg.topic, bytes(msg.payload), msg.mid, msg.qos, datetime.now(UTC)))

    def _remember_mark(self, msg: mqtt.MQTTMessage) -> None:
        # Marks we published before a restart come back retained; remembering them
        # keeps a re-sent older message from lowering a gateway's mark.
        try:
            seq = DurableMark.model_validate_json(msg.payload).seq
        except ValidationError:
            log.error("ignoring malformed durable mark on %s", msg.topic)
            return
        with self._marks_lock:
            self._marks[msg.topic] = max(seq, self._marks.get(msg.topic, 0))
