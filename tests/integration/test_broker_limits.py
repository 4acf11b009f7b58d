"""The brokers' limits, proven with real clients against a real Mosquitto.

Both configurations coldchain_devstack.localstack writes, the anonymous one of `make demo`
and the secured one of production (with a gateway account), take packets up to
MAX_PACKET_BYTES, the largest valid telemetry among them, and close the connection of
a client that sends a larger one before taking it. Mosquitto counts a packet as its
remaining length plus one byte; the tests size their packets the same way.

A flood of QoS 0 messages for a subscriber that does not read is held by Mosquitto
without bound (max_queued_messages is 0 so that no QoS 1 message is dropped); only
memory_limit bounds it, and past it no QoS 1 message the broker acknowledged is lost.
"""

from __future__ import annotations

import json
import queue
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from coldchain import topics
from coldchain.contract import MAX_PAYLOAD_BYTES, MAX_READINGS_PER_MESSAGE, parse_telemetry
from coldchain_devstack import broker_users
from coldchain_devstack.localstack import MAX_PACKET_BYTES, MEMORY_LIMIT_BYTES
from coldchain_devstack.servers import (
    Mosquitto,
    SecuredMosquitto,
    certificate_authority,
    wait_until,
)

#: The longest ids the contract allows, so the longest telemetry topic.
SITE, GATEWAY = "s" * 64, "g" * 64
TOPIC = topics.telemetry(SITE, GATEWAY)
USERNAME = broker_users.gateway_username(SITE, GATEWAY)
PASSWORDS = {USERNAME: broker_users.new_password(), "ingest": broker_users.new_password()}


@pytest.fixture(params=["local", "secured"])
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mosquitto]:
    if request.param == "local":
        server = Mosquitto(tmp_path)
    else:
        dynsec_file = tmp_path / "dynamic-security.json"
        for username, password in PASSWORDS.items():
            broker_users.set_password(dynsec_file, username, password)
        server = SecuredMosquitto(tmp_path, dynsec_file, certificate_authority(tmp_path / "ca"))
    server.start()
    yield server
    server.stop()


class Client:
    """A paho client that records the broker's acknowledgements and its disconnection."""

    def __init__(self, broker: Mosquitto, username: str, protocol: int = mqtt.MQTTv5) -> None:
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.client_id = f"limits-{username[:8]}-{protocol}"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=protocol,
            reconnect_on_failure=False,
        )
        if isinstance(broker, SecuredMosquitto):
            client.username_pw_set(username, PASSWORDS[username])
        client.on_connect = lambda _c, _u, _f, reason, _p: self.events.put(("connack", str(reason)))
        client.on_publish = lambda _c, _u, _m, reason, _p: self.events.put(("puback", str(reason)))
        client.on_subscribe = lambda *_: self.events.put(("suback", ""))
        client.on_disconnect = lambda _c, _u, _f, reason, _p: self.events.put(
            ("disconnect", str(reason))
        )
        client.on_message = lambda _c, _u, message: self.messages.put(message)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        self.paho = client
        self.connack = self.events.get(timeout=10)

    def publish(self, topic: str, payload: bytes) -> tuple[str, str]:
        """Publish at QoS 1; the broker's PUBACK, or how the connection ended."""
        self.paho.publish(topic, payload, qos=1)
        return self.events.get(timeout=30)

    def subscribe(self, topic_filter: str) -> None:
        self.paho.subscribe(topic_filter, qos=1)
        assert self.events.get(timeout=10)[0] == "suback"

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    opened: list[Client] = []
    yield opened
    for client in opened:
        client.close()


def connected(clients: list[Client], broker: Mosquitto, username: str, **options: int) -> Client:
    client = Client(broker, username, **options)
    clients.append(client)
    assert client.connack == ("connack", "Success"), client.connack
    return client


def payload_for(remaining_length: int, protocol: int) -> bytes:
    """A payload that makes a QoS 1 PUBLISH on TOPIC this long past its fixed header."""
    properties = 1 if protocol == mqtt.MQTTv5 else 0  # their length: 0, in one byte
    return b"x" * (remaining_length - (2 + len(TOPIC.encode()) + 2 + properties))


def largest_telemetry() -> bytes:
    """Valid telemetry of exactly MAX_PAYLOAD_BYTES: the most readings, padded with spaces."""
    sent = datetime.now(UTC).replace(microsecond=0)
    readings = [
        {"sensor": f"{GATEWAY}.{'p' * 64}", "ts": (sent - timedelta(seconds=n)).isoformat(),
         "temp_c": -12.345678}
        for n in range(MAX_READINGS_PER_MESSAGE)
    ]  # fmt: skip
    document = {"v": 1, "gateway": GATEWAY, "seq": 2**53, "sent_at": sent.isoformat()}
    payload = json.dumps(document | {"readings": readings}).encode()
    return payload.ljust(MAX_PAYLOAD_BYTES, b" ")


def test_the_largest_valid_telemetry_passes(broker: Mosquitto, clients: list[Client]) -> None:
    payload = largest_telemetry()
    assert len(payload) == MAX_PAYLOAD_BYTES
    parse_telemetry(SITE, GATEWAY, payload, datetime.now(UTC))  # valid as the contract says
    ingest = connected(clients, broker, "ingest")
    ingest.subscribe(topics.TELEMETRY_FILTER)
    gateway = connected(clients, broker, USERNAME)

    assert gateway.publish(TOPIC, payload) == ("puback", "Success")

    delivered = ingest.messages.get(timeout=10)
    assert (delivered.topic, bytes(delivered.payload)) == (TOPIC, payload)


@pytest.mark.parametrize("protocol", [mqtt.MQTTv5, mqtt.MQTTv311], ids=["mqtt5", "mqtt311"])
def test_a_packet_over_the_limit_closes_the_connection_and_the_limit_passes(
    broker: Mosquitto, clients: list[Client], protocol: int
) -> None:
    ingest = connected(clients, broker, "ingest")
    ingest.subscribe(topics.TELEMETRY_FILTER)
    gateway = connected(clients, broker, USERNAME, protocol=protocol)
    at_the_limit = payload_for(MAX_PACKET_BYTES - 1, protocol)

    acknowledged = gateway.publish(TOPIC, at_the_limit)
    outcome = gateway.publish(TOPIC, payload_for(MAX_PACKET_BYTES, protocol))

    assert acknowledged == ("puback", "Success")
    assert outcome[0] == "disconnect", outcome
    log = Path(broker.log.parent, "mosquitto", "mosquitto.log")
    # The secured broker names clients by their usernames (use_username_as_clientid).
    client_id = USERNAME if isinstance(broker, SecuredMosquitto) else gateway.client_id
    wait_until(
        lambda: f"Client {client_id} disconnected due to oversize packet" in log.read_text(),
        10,
        "the broker to log why",
    )
    assert bytes(ingest.messages.get(timeout=10).payload) == at_the_limit
    assert ingest.messages.empty()


# --- memory under a QoS 0 flood -----------------------------------------------------------

#: memory_limit of the flood test's broker: the production value would take minutes to fill.
SMALL_LIMIT = 32 * 1024 * 1024
FLOOD = "flood/qos0"


class SmallMosquitto(Mosquitto):
    """The local broker's configuration with a smaller memory_limit."""

    def _write_conf(self, directory: Path) -> Path:
        conf = super()._write_conf(directory)
        text = conf.read_text()
        assert f"memory_limit {MEMORY_LIMIT_BYTES}\n" in text
        conf.write_text(text.replace(str(MEMORY_LIMIT_BYTES), str(SMALL_LIMIT)))
        return conf


def resident_bytes(process: Mosquitto) -> int:
    """The broker's resident memory."""
    assert process.popen is not None
    status = Path(f"/proc/{process.popen.pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert found, status
    return int(found[1]) * 1024


class Acknowledged:
    """An MQTT 5 publisher at QoS 1, as our clients are: each message again until the
    broker acknowledges it (it disconnects the publisher when it cannot take it)."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.client: Client | None = None

    def publish(self, topic: str, payload: bytes) -> None:
        wait_until(lambda: self._sent(topic, payload), 60, f"the broker to take {payload!r}")

    def _sent(self, topic: str, payload: bytes) -> bool:
        if self.client is None:
            client = Client(self.broker, "qos1-publisher")
            if client.connack != ("connack", "Success"):  # refused while the broker is full
                client.paho.loop_stop()
                return False
            self.client = client
        outcome = self.client.publish(topic, payload)
        if outcome == ("puback", "Success"):
            return True
        assert outcome[0] == "disconnect", outcome
        self.client.paho.loop_stop()
        self.client = None
        return False

    def close(self) -> None:
        if self.client is not None:
            self.client.close()


def _let_out(client: Client, info: mqtt.MQTTMessageInfo) -> bool:
    """Wait until paho has sent the message; False if the broker disconnected it first."""
    if info.rc != mqtt.MQTT_ERR_SUCCESS:
        return False  # published after the broker had disconnected the client
    connected = client.paho.is_connected
    wait_until(lambda: not connected() or info.is_published(), 30, "the flood to go out")
    return connected()


def test_a_qos0_flood_for_a_slow_subscriber_is_bounded_and_no_acknowledged_qos1_is_lost(
    tmp_path: Path,
) -> None:
    broker = SmallMosquitto(tmp_path)
    broker.start()
    received: queue.Queue[bytes] = queue.Queue()
    # A persistent session at QoS 1, as ingest's and the alerts service's; it stops
    # reading: its loop stops, the broker's packets pile up.
    slow = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id="slow",
        protocol=mqtt.MQTTv5,
        reconnect_on_failure=True,
    )
    slow.on_message = lambda _c, _u, message: received.put(bytes(message.payload))
    subscribed: queue.Queue[bool] = queue.Queue()
    slow.on_subscribe = lambda *_: subscribed.put(True)
    properties = mqtt.Properties(mqtt.PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    slow.connect("127.0.0.1", broker.port, keepalive=600, clean_start=False, properties=properties)
    slow.loop_start()
    slow.subscribe("flood/#", qos=1)
    assert subscribed.get(timeout=10)
    publisher = Acknowledged(broker)
    try:
        for n in range(50):
            publisher.publish("flood/qos1", f"qos1-{n}".encode())
        slow.loop_stop()

        flooder = Client(broker, "flooder")
        assert flooder.connack == ("connack", "Success")
        # Four times the limit, 1 KiB a message, unless the broker refuses it first; paho's
        # own queue is let out every 1000 messages, so that the flood waits in the broker.
        for sent in range(1, 4 * SMALL_LIMIT // 1024):
            info = flooder.paho.publish(FLOOD, b"x" * 1024, qos=0)
            if sent % 1000 == 0 and not _let_out(flooder, info):
                break
        flooder.paho.loop_stop()
        log = Path(tmp_path, "mosquitto", "mosquitto.log")
        wait_until(lambda: "out of memory" in log.read_text(), 30, "the broker to refuse the flood")
        assert resident_bytes(broker) < SMALL_LIMIT + 24 * 1024 * 1024, "bounded by memory_limit"

        # The subscriber reads again: memory frees, and the broker takes QoS 1 messages
        # again (refused ones are sent again until acknowledged).
        slow.loop_start()
        for n in range(50, 100):
            publisher.publish("flood/qos1", f"qos1-{n}".encode())
        numbered = set()
        while len(numbered) < 100:
            payload = received.get(timeout=30)
            if payload.startswith(b"qos1-"):
                numbered.add(int(payload.removeprefix(b"qos1-")))
        assert numbered == set(range(100))
    finally:
        publisher.close()
        slow.loop_stop()
        broker.stop()
