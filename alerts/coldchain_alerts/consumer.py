"""MQTT adapter of the alerts service: alert events in, stored, then acknowledged.

A persistent MQTT 5 session with manual acks: an event is acknowledged only
after the database committed it, so an alerts service that was down finds the
events waiting at the broker when it returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from coldchain import topics
from coldchain.contract import AlertEvent
from coldchain_alerts.settings import AlertsSettings

log = logging.getLogger(__name__)


class Refused(Exception):
    """The event can never be stored (the database refuses it for what it is)."""


class AlertConsumer:
    """Hands each event to `handle`, retrying while that fails for passing reasons.

    An event that is malformed, or that `handle` refuses for good (it raises
    `Refused`), goes to `refuse(topic, payload, reason)` and is acknowledged: kept
    and counted there, it no longer blocks the events behind it.
    """

    def __init__(
        self,
        settings: AlertsSettings,
        handle: Callable[[AlertEvent], None],
        refuse: Callable[[str, bytes, str], None],
    ) -> None:
        self._settings = settings
        self._handle = handle
        self._refuse = refuse
        self._stopping = threading.Event()
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
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        self._client = client

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self._settings.session_expiry_s
        self._client.connect_async(
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            keepalive=30,
            clean_start=False,
            properties=properties,
        )
        self._client.loop_start()

    def stop(self) -> None:
        self._stopping.set()
        self._client.disconnect()
        self._client.loop_stop()

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
        client.subscribe(topics.ALERTS_FILTER, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            event = AlertEvent.model_validate_json(msg.payload)
        except ValidationError as exc:
            self._refused(client, msg, f"not a valid alert event: {exc}")
            return
        pause = 0.2
        while True:
            try:
                self._handle(event)
                break
            except Refused as exc:
                self._refused(client, msg, str(exc))
                return
            except Exception:
                # Not acknowledged yet: the broker still holds the event. Keep trying
                # rather than lose it; the log says why we are stuck.
                log.exception(
                    "could not store alert event %s; retrying in %.1f s", event.key, pause
                )
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, 5.0)
        client.ack(msg.mid, msg.qos)

    def _refused(self, client: mqtt.Client, msg: mqtt.MQTTMessage, reason: str) -> None:
        log.error("refused alert event on %s: %s", msg.topic, reason)
        pause = 0.2
        while True:
            try:
                self._refuse(msg.topic, bytes(msg.payload), reason)
                break
            except Exception:
                log.exception("could not keep the refused event; retrying in %.1f s", pause)
            if self._stopping.wait(pause):
                return
            pause = min(pause * 2, 5.0)
        client.ack(msg.mid, msg.qos)
