"""The load generator: pre-encoded MQTT 3.1.1 QoS 1 PUBLISH packets over raw sockets.

paho spends tens of microseconds of Python per message, so a paho publisher on
this 2-core box would be the bound long before the systems under test. Here
every packet is encoded before the clock starts; sending is a `sendall` of a
joined slice per connection every tick, and one thread counts the broker's
PUBACKs (4 bytes each in MQTT 3.1.1). One connection stands for one gateway,
so a gateway's messages stay in order, as a real gateway's do.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

#: How often the sender looks at its schedule, in seconds.
TICK_S = 0.005
#: A connection may have at most this many unacknowledged packets (ids are 16 bits).
MAX_IN_FLIGHT = 60_000
_PUBACK_BYTES = 4


def _remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def _string(value: bytes) -> bytes:
    return struct.pack("!H", len(value)) + value


def connect_packet(client_id: str, clean: bool = True) -> bytes:
    """CONNECT, MQTT 3.1.1, no keepalive (the run is short and the socket local)."""
    flags = 0x02 if clean else 0x00
    body = _string(b"MQTT") + bytes([4, flags]) + struct.pack("!H", 0) + _string(client_id.encode())
    return b"\x10" + _remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """PUBLISH at QoS 1 with `packet_id` (1..65535)."""
    body = _string(topic.encode()) + struct.pack("!H", packet_id) + payload
    return b"\x32" + _remaining_length(len(body)) + body


@dataclass(frozen=True)
class Outgoing:
    """One message of a plan: which connection (gateway) sends it, and its payload."""

    connection: int
    topic: str
    payload: bytes


@dataclass
class Sent:
    """What a run did: when each message went out (time.time(), seconds), and the broker's acks."""

    sent_at: list[float]
    acked: int
    began: float
    ended: float

    @property
    def rate(self) -> float:
        return len(self.sent_at) / max(self.ended - self.began, 1e-9)


class Publisher:
    """Connections to the broker, one per client id; `send` a plan at a rate, then `close`."""

    def __init__(self, port: int, client_ids: Sequence[str], host: str = "127.0.0.1") -> None:
        self._sockets = [self._connect(host, port, client_id) for client_id in client_ids]
        self._acked = [0] * len(self._sockets)
        self._sent = [0] * len(self._sockets)
        self._next_id = [1] * len(self._sockets)
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._count_acks, daemon=True)
        self._reader.start()

    @staticmethod
    def _connect(host: str, port: int, client_id: str) -> socket.socket:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(connect_packet(client_id))
        connack = b""
        while len(connack) < 4:
            chunk = sock.recv(4 - len(connack))
            if not chunk:
                raise ConnectionError(f"broker closed the connection of {client_id}")
            connack += chunk
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused {client_id}: CONNACK {connack.hex()}")
        return sock

    def encode(self, plan: Sequence[Outgoing]) -> list[tuple[int, bytes]]:
        """Packets for `plan`, with each connection's packet ids counting on from the last."""
        packets = []
        for message in plan:
            packet_id = self._next_id[message.connection]
            self._next_id[message.connection] = packet_id % 65535 + 1
            packets.append(
                (message.connection, publish_packet(message.topic, message.payload, packet_id))
            )
        return packets

    def send(
        self,
        packets: Sequence[tuple[int, bytes]],
        rate: float | None,
        start_at: float | None = None,
        drain_s: float = 30.0,
    ) -> Sent:
        """Send `packets` at `rate` messages/s (None: at once) from `start_at`, then await acks.

        `start_at` is a time.time() the plan's stamps were made for (default: now).
        """
        acked_before = sum(self._acked)
        sent_at: list[float] = []
        if start_at is not None:
            time.sleep(max(0.0, start_at - time.time()))
            late = time.time() - start_at
            if late > 0.1:
                print(f"    generator started {late:.2f} s late: the first messages go as a burst")
        began = time.time() if start_at is None else start_at
        done = 0
        while done < len(packets):
            now = time.time()
            due = len(packets) if rate is None else min(len(packets), int((now - began) * rate) + 1)
            if rate is None:
                due = min(due, done + 2000)
            if due > done:
                chunk = packets[done:due]
                by_connection: dict[int, list[bytes]] = {}
                for connection, packet in chunk:
                    by_connection.setdefault(connection, []).append(packet)
                for connection, parts in by_connection.items():
                    self._wait_for_window(connection)
                    self._sockets[connection].sendall(b"".join(parts))
                    self._sent[connection] += len(parts)
                sent_at.extend([now] * len(chunk))
                done = due
            elif rate is not None:
                time.sleep(TICK_S)
        ended = time.time()
        deadline = time.monotonic() + drain_s
        while sum(self._acked) - acked_before < len(packets) and time.monotonic() < deadline:
            time.sleep(0.01)
        return Sent(sent_at, sum(self._acked) - acked_before, began, ended)

    def _wait_for_window(self, connection: int) -> None:
        # Packet ids are 16 bits: never reuse one the broker has not acknowledged yet.
        while self._sent[connection] - self._acked[connection] > MAX_IN_FLIGHT:
            time.sleep(0.001)

    def _count_acks(self) -> None:
        selector = selectors.DefaultSelector()
        for index, sock in enumerate(self._sockets):
            selector.register(sock, selectors.EVENT_READ, index)
        pending = [0] * len(self._sockets)
        while not self._closing.is_set():
            for key, _ in selector.select(timeout=0.1):
                index = key.data
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                pending[index] += len(data)
                self._acked[index] += pending[index] // _PUBACK_BYTES
                pending[index] %= _PUBACK_BYTES
        selector.close()

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.sendall(b"\xe0\x00")
        self._closing.set()
        self._reader.join(2)
        for sock in self._sockets:
            sock.close()
