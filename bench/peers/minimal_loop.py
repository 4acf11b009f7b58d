"""The hand-written peer: MQTT to InfluxDB in one plain loop, as a competent engineer
would write it in an afternoon, without giving away speed.

paho-mqtt subscribes at QoS 1 over MQTT 3.1.1 with a persistent session and
manual acknowledgement; the network thread only queues messages. The main
loop takes what is waiting, up to BATCH readings or WAIT_S after the first
message (the same limits as ingest's defaults), validates each payload with a
flat pydantic model (types only: no ranges, no clock checks), writes the
readings as line protocol in one request, acknowledges the messages after the
write succeeded, and checks each reading against its sensor's maximum
(`--limits`, a JSON object sensor -> °C), publishing an alert when a sensor
goes above it and a clear when it comes back. No delays, hysteresis, state on
disk or durable marks.

    python bench/peers/minimal_loop.py --mqtt-port 1883 --influx-url URL --db NAME --limits FILE
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import time
from datetime import datetime
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel, ValidationError

TOPIC = "coldchain/v1/+/+/telemetry"
BATCH = 5000
WAIT_S = 0.05


class Reading(BaseModel):
    sensor: str
    ts: datetime
    temp_c: float


class Telemetry(BaseModel):
    gateway: str
    seq: int
    readings: list[Reading]


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mqtt-port", type=int, default=1883)
    parser.add_argument("--influx-url", default="http://127.0.0.1:8086")
    parser.add_argument("--db", default="coldchain")
    parser.add_argument("--limits", type=Path, required=True)
    args = parser.parse_args()
    limits: dict[str, float] = json.loads(args.limits.read_text())
    inbox: queue.SimpleQueue[mqtt.MQTTMessage] = queue.SimpleQueue()
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="minimal-loop",
        protocol=mqtt.MQTTv311,
        clean_session=False,
        manual_ack=True,
    )
    client.max_queued_messages_set(0)
    client.on_connect = lambda c, *_: c.subscribe(TOPIC, qos=1)
    client.on_message = lambda _c, _u, message: inbox.put(message)
    client.on_subscribe = lambda *_: print("subscribed", flush=True)
    client.connect("127.0.0.1", args.mqtt_port)
    client.loop_start()
    http = httpx.Client(base_url=args.influx_url, timeout=10)
    above: set[str] = set()

    while running:
        try:
            first = inbox.get(timeout=0.5)
        except queue.Empty:
            continue
        messages = [first]
        lines: list[str] = []
        alerts: list[tuple[str, dict[str, object]]] = []
        deadline = time.monotonic() + WAIT_S
        message: mqtt.MQTTMessage | None = first
        while message is not None:
            _, _, site, gateway, _ = message.topic.split("/")
            try:
                telemetry = Telemetry.model_validate_json(message.payload)
            except ValidationError as exc:
                print(f"invalid message on {message.topic}: {exc}", flush=True)
                telemetry = Telemetry(gateway=gateway, seq=0, readings=[])
            for reading in telemetry.readings:
                sensor, temp = reading.sensor, reading.temp_c
                lines.append(
                    f"temperature,site={site},gateway={gateway},sensor={sensor} "
                    f"temp_c={temp} {ns(reading.ts)}"
                )
                limit = limits.get(sensor)
                if limit is None:
                    continue
                if temp > limit and sensor not in above:
                    above.add(sensor)
                    alert = {"sensor": sensor, "state": "raised", "at": reading.ts.isoformat()}
                    alerts.append((site, alert))
                elif temp <= limit and sensor in above:
                    above.discard(sensor)
                    alert = {"sensor": sensor, "state": "cleared", "at": reading.ts.isoformat()}
                    alerts.append((site, alert))
            message = None
            if len(lines) < BATCH:
                try:
                    message = inbox.get(timeout=max(0.0, deadline - time.monotonic()))
                    messages.append(message)
                except queue.Empty:
                    pass
        while running and lines:
            try:
                if http.post("/write", params={"db": args.db}, content="\n".join(lines)).is_success:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        for acked in messages:
            client.ack(acked.mid, acked.qos)
        for site, alert in alerts:
            client.publish(f"coldchain/v1/_alerts/{site}", json.dumps(alert), qos=1)

    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
