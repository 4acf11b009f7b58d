"""Talking to a test's NATS cluster: as a service (nats-py) and as a gateway (MQTT 3.1.1)."""

from __future__ import annotations

import queue

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from coldchain_devstack.servers import NatsCluster
from coldchain_io.nats import NatsSettings


def settings(cluster: NatsCluster, role: str = "ingest") -> NatsSettings:
    return NatsSettings(
        nats_servers=cluster.servers, nats_user=role, nats_password=cluster.password(role)
    )


def gateway_publish(port: int, topic: str, payload: bytes, login: tuple[str, str]) -> ReasonCode:
    """Connect as a gateway (MQTT 3.1.1) and publish at QoS 1; the CONNACK's or PUBACK's
    reason: success only when the server took the message."""
    outcome: queue.Queue[ReasonCode] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set(*login)

    def connected(c: mqtt.Client, u: object, f: object, reason: ReasonCode, p: object) -> None:
        if reason.is_failure:
            outcome.put(reason)
        else:
            c.publish(topic, payload, qos=1)

    client.on_connect = connected
    client.on_publish = lambda c, u, mid, reason, p: outcome.put(reason)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return outcome.get(timeout=15)
    finally:
        client.disconnect()
        client.loop_stop()
