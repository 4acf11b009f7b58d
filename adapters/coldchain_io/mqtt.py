"""The MQTT connection every service makes: a paho MQTT 5 client (3.1.1 for a gateway on the
NATS cluster), its settings, its callbacks.

A service's settings class inherits `MqttSettings` and sets its own prefix
(COLDCHAIN_INGEST_MQTT_HOST, ...). `client` makes the paho client with the
service's credentials, TLS and reconnect pauses; `connect` starts connecting
(with a persistent session for a service that takes messages it must not lose);
`on_connected` and `on_disconnected` hand a service the two events it acts on,
logging refusals and losses the same way in every service. What to subscribe to
and what to do with a message stays with the service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, overload

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

log = logging.getLogger(__name__)

#: Seconds between keepalive pings: a dead connection is noticed within 1.5 times this.
KEEPALIVE_S = 30

ClientT = TypeVar("ClientT", bound=mqtt.Client)


class MqttSettings(BaseSettings):
    """The broker and how to log in to it; a subclass gives the environment prefix."""

    mqtt_host: str = "localhost"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_tls: bool = Field(default=False, description="Connect with TLS (port 8883, say).")
    mqtt_ca_file: Path | None = Field(
        default=None, description="CA certificate to check the broker with; system CAs if unset."
    )
    mqtt_cert_file: Path | None = Field(default=None, description="Client certificate (PEM).")
    mqtt_key_file: Path | None = Field(default=None, description="Client certificate key (PEM).")


@overload
def client(
    settings: MqttSettings,
    client_id: str,
    *,
    manual_ack: bool = False,
    reconnect_s: tuple[int, int] = (1, 120),
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
) -> mqtt.Client: ...


@overload
def client(
    settings: MqttSettings,
    client_id: str,
    *,
    manual_ack: bool = False,
    reconnect_s: tuple[int, int] = (1, 120),
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
    kind: type[ClientT],
) -> ClientT: ...


def client(
    settings: MqttSettings,
    client_id: str,
    *,
    manual_ack: bool = False,
    reconnect_s: tuple[int, int] = (1, 120),
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5,
    kind: type[mqtt.Client] = mqtt.Client,
) -> mqtt.Client:
    """A paho MQTT 5 client (of `kind`, a subclass of paho's such as ingest's lean one; of
    `protocol` mqtt.MQTTv311 for a broker that speaks no MQTT 5) with the credentials and
    TLS of `settings`, which waits from reconnect_s[0] to reconnect_s[1] seconds,
    doubling, between reconnects (paho's own defaults: 1 to 120)."""
    made = kind(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        manual_ack=manual_ack,
    )
    if settings.mqtt_username:
        password = settings.mqtt_password
        made.username_pw_set(
            settings.mqtt_username, password.get_secret_value() if password else None
        )
    if settings.mqtt_tls:
        made.tls_set(
            ca_certs=_text(settings.mqtt_ca_file),
            certfile=_text(settings.mqtt_cert_file),
            keyfile=_text(settings.mqtt_key_file),
        )
    made.reconnect_delay_set(*reconnect_s)
    return made


def connect(
    made: mqtt.Client,
    settings: MqttSettings,
    *,
    session_expiry_s: int | None = None,
    receive_maximum: int | None = None,
) -> None:
    """Start connecting to the broker of `settings` (the client's loop does the rest).

    With `session_expiry_s`, the broker keeps our session (subscriptions and the
    messages for us) that long while we are away, and sends at most
    `receive_maximum` messages we have not acknowledged yet.
    """
    if session_expiry_s is None:
        made.connect_async(settings.mqtt_host, settings.mqtt_port, KEEPALIVE_S)
        return
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = session_expiry_s
    if receive_maximum is not None:
        properties.ReceiveMaximum = receive_maximum
    made.connect_async(
        settings.mqtt_host,
        settings.mqtt_port,
        keepalive=KEEPALIVE_S,
        clean_start=False,
        properties=properties,
    )


def on_connected(made: mqtt.Client, settings: MqttSettings, then: Callable[[bool], None]) -> None:
    """Call `then(session_present)` on the client's thread after each connection the
    broker accepts; a refused one is logged."""

    def _on_connect(
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
            client.host,
            client.port,
            "resumed" if flags.session_present else "new",
        )
        then(flags.session_present)

    made.on_connect = _on_connect


def on_disconnected(made: mqtt.Client, then: Callable[[], None] = lambda: None) -> None:
    """Call `then()` on the client's thread after each lost connection; paho reconnects."""

    def _on_disconnect(
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        log.warning("disconnected from broker (%s); reconnecting", reason)
        then()

    made.on_disconnect = _on_disconnect


def _text(path: Path | None) -> str | None:
    return str(path) if path else None
