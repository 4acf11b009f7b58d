"""A plain MQTT client for tests, and telemetry payloads written by hand."""

from __future__ import annotations

import json
import queue
from datetime import datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def subscribe(port: int, topic: str) -> queue.Queue[mqtt.MQTTMessage]:
    """Subscribe at QoS 1 and return the queue messages arrive in (after SUBACK)."""
    received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.put(True)
    client.on_message = lambda _c, _u, message: received.put(message)
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert subscribed.get(timeout=10)
    return received


def telemetry_json(gateway: str, sensor: str, seq: int, ts: datetime, temp_c: object) -> str:
    """A contract v1 telemetry payload with one reading, as an outside gateway would send it."""
    return json.dumps(
        {
            "v": 1,
            "gateway": gateway,
            "seq": seq,
            "sent_at": ts.isoformat(),
            "readings": [{"sensor": sensor, "ts": ts.isoformat(), "temp_c": temp_c}],
        }
    )
