"""broker.py's buffered reads: packets are read from the socket many at a time.

paho reads each packet with at least three `recv` calls (its command byte, its
length, its body) and only one packet per readable socket; ingest's client reads
what the kernel holds in one call and hands every whole packet on before waiting
again, and keeps a packet cut between two reads until its rest arrives.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt import _packet
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from coldchain_ingest import broker as broker_module
from coldchain_ingest.broker import _Client


def _publish(topic: str, payload: bytes, mid: int, qos: int = 1) -> bytes:
    """An MQTT 5 PUBLISH of QoS 1 (or 0: no packet id) without properties."""
    name = topic.encode()
    packet_id = struct.pack("!H", mid) if qos else b""
    body = struct.pack("!H", len(name)) + name + packet_id + b"\x00" + payload
    length, remaining = bytearray(), len(body)
    while True:  # variable byte integer
        remaining, digit = divmod(remaining, 128)
        length.append(digit | (0x80 if remaining else 0))
        if not remaining:
            return bytes([0x30 | qos << 1]) + bytes(length) + body


Received = list[tuple[str, bytes, int, int]]
Pair = tuple[_Client, socket.socket, Received]


@pytest.fixture
def pair() -> Iterator[Pair]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    client = _Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, manual_ack=True)
    received: Received = []
    client.on_raw = lambda *message: received.append(message)
    client._sock = ours
    yield client, theirs, received
    ours.close()
    theirs.close()


def test_one_read_hands_on_every_whole_packet_waiting(pair: Pair) -> None:
    client, broker, received = pair
    broker.sendall(b"".join(_publish(f"t/{n}", b"x" * n, n + 1) for n in range(50)))
    assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert [(topic, payload, mid) for topic, payload, mid, _ in received] == [
        (f"t/{n}", b"x" * n, n + 1) for n in range(50)
    ]


def test_a_packet_cut_between_reads_is_kept_until_its_rest_arrives(pair: Pair) -> None:
    client, broker, received = pair
    packets = _publish("a", b"first", 1) + _publish("b", b"second", 2)
    cut = len(packets) - 4
    broker.sendall(packets[:cut])
    client.loop_read()
    assert [m[:3] for m in received] == [("a", b"first", 1)]
    broker.sendall(packets[cut:])
    client.loop_read()
    assert [m[:3] for m in received] == [("a", b"first", 1), ("b", b"second", 2)]


def test_a_closed_connection_is_noticed_after_the_packets_before_it(pair: Pair) -> None:
    client, broker, received = pair
    broker.sendall(_publish("a", b"last", 1))
    broker.shutdown(socket.SHUT_WR)
    rc = client.loop_read()
    assert [m[:3] for m in received] == [("a", b"last", 1)]
    while rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
        rc = client.loop_read()
    assert rc == MQTTErrorCode.MQTT_ERR_CONN_LOST


def test_other_packets_between_them_take_pahos_path(pair: Pair) -> None:
    client, broker, received = pair
    puback = bytes([0x40, 0x02, 0x00, 0x09])  # for a publish of ours paho no longer holds
    broker.sendall(_publish("a", b"1", 1) + puback + _publish("b", b"2", 2) + puback)
    client.loop_read()
    assert [m[:3] for m in received] == [("a", b"1", 1), ("b", b"2", 2)]


def test_a_packet_cut_by_the_end_of_a_read_is_cut_with_the_rest_already_there(
    pair: Pair,
) -> None:
    client, broker, received = pair
    paths = []
    pahos = client._handle_publish
    client._handle_publish = lambda: paths.append("paho") or pahos()  # type: ignore[method-assign]
    # More than one read holds (64 KiB): the second packet starts in the first read.
    sizes = [40_000, 50_000, 10, 70_000, 5]
    packets = [(f"t/{n}", bytes([n % 256]) * n, mid) for mid, n in enumerate(sizes, 1)]
    broker.sendall(b"".join(_publish(*packet) for packet in packets))
    client.loop_read()
    assert [(topic, payload, mid) for topic, payload, mid, _ in received] == packets
    # Only the first packet, whose command byte paho asked for, took paho's path.
    assert paths == ["paho"]


def _sent(client: _Client, count: int) -> list[mqtt.MQTTMessageInfo]:
    """`count` QoS 1 messages that paho holds, each one in flight, until their PUBACK
    comes (it writes them to the other end of the pair, which nobody reads)."""
    return [client.publish(f"marks/{n}", b"1", qos=1) for n in range(count)]


@pytest.fixture
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The PUBACKs paho decodes itself (a reason code and a properties object each)."""
    seen: list[bytes] = []
    original = _packet.decode_puback

    def decode(header: int, packet: bytes, protocol: int) -> object:
        seen.append(bytes(packet))
        return original(header, packet, protocol)  # type: ignore[arg-type]

    monkeypatch.setattr(_packet, "decode_puback", decode)
    return seen


def _pubacks(sent: list[mqtt.MQTTMessageInfo], rest: bytes) -> list[bytes]:
    return [bytes([0x40, 2 + len(rest)]) + struct.pack("!H", info.mid) + rest for info in sent]


@pytest.mark.parametrize(
    "rest",
    [b"", b"\x00", b"\x10", b"\x00\x00"],
    ids=["id-only", "success", "no-matching-subscribers", "success-no-properties"],
)
def test_pubacks_of_success_end_what_they_acknowledge_first_or_among_others(
    pair: Pair, decoded: list[bytes], rest: bytes
) -> None:
    client, broker, received = pair
    sent = _sent(client, 3)
    acks = _pubacks(sent, rest)
    # The first PUBACK of a read goes through paho's reading, the others are cut from it.
    broker.sendall(acks[0] + _publish("a", b"1", 7) + acks[1] + acks[2])
    assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
    assert [info.is_published() for info in sent] == [True, True, True]
    assert client._out_messages == {}
    assert client._inflight_messages == 0
    assert [m[:3] for m in received] == [("a", b"1", 7)]
    assert decoded == []


@pytest.mark.parametrize(
    "rest",
    [b"\x80", b"\x97\x00", b"\x00\x03\x1f\x00\x00"],
    ids=["unspecified-error", "quota-exceeded", "with-a-reason-string"],
)
def test_other_pubacks_take_pahos_path_and_still_end_their_message(
    pair: Pair, decoded: list[bytes], rest: bytes
) -> None:
    client, broker, _ = pair
    sent = _sent(client, 2)
    acks = _pubacks(sent, rest)
    broker.sendall(_publish("a", b"1", 7) + acks[0] + acks[1])
    while client._out_messages and client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS:
        pass
    assert [info.is_published() for info in sent] == [True, True]
    assert decoded == [ack[2:] for ack in acks]


def test_a_flood_that_never_pauses_is_read_in_turns(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read on after a cut PUBLISH stops at READ_ON_BYTES a call, leaving its rest to the
    next: paho's loop writes and keeps the connection alive in between."""
    client, broker, received = pair
    monkeypatch.setattr(broker_module, "READ_BYTES", 4096)
    monkeypatch.setattr(broker_module, "READ_ON_BYTES", 8192)
    # QoS 0 (no window holds it back), 1000 bytes each: every read ends in a cut one.
    packet = _publish("t", b"x" * 993, 0, qos=0)
    assert len(packet) == 1000
    broker.setblocking(False)
    sent = 0
    with contextlib.suppress(BlockingIOError):
        while sent < 200:
            broker.send(packet)  # whole or not at all: far below the buffer's room
            sent += 1
    assert sent > 40  # more than several calls' worth
    calls = []
    while len(received) < sent:
        assert client.loop_read() == MQTTErrorCode.MQTT_ERR_SUCCESS
        calls.append(len(received))
    # Each call took its first read, up to READ_ON_BYTES more and one read past it.
    assert calls[0] <= (4096 + 8192 + 4096) // len(packet) + 1
    assert len(calls) >= sent * len(packet) // (4096 + 8192 + 4096)
    assert received == [("t", b"x" * 993, 0, 0)] * sent
