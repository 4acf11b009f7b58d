"""The brokers' packet limit, proven with real clients against a real Mosquitto.

Both configurations scripts/localstack.py writes, the anonymous one of `make demo`
and the secured one of production (with a gateway account), take packets up to
MAX_PACKET_BYTES, the largest valid telemetry among them, and close the connection of
a client that sends a larger one before taking it. Mosquitto counts a packet as its
remaining length plus one byte; the tests size their packets the same way.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import broker_users
from coldchain import topics
from coldchain.contract import MAX_PAYLOAD_BYTES, MAX_READINGS_PER_MESSAGE, parse_telemetry
from localstack import MAX_PACKET_BYTES
from servers import Mosquitto, SecuredMosquitto, certificate_authority, wait_until

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
        password_file = tmp_path / "passwd"
        for username, password in PASSWORDS.items():
            broker_users.set_password(password_file, username, password)
        server = SecuredMosquitto(tmp_path, password_file, certificate_authority(tmp_path / "ca"))
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
