"""A TCP relay between a NATS client and one node of the test's cluster that can lose
what JetStream delivers to a watcher of a stream, the way a node under load or a lost
connection can: the rest passes unchanged."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

#: How a JetStream delivery's reply subject begins: `$JS.ACK.{stream}.{consumer}.…`.
ACK_PREFIX = b"$JS.ACK."
CREATE = b"$JS.API.CONSUMER.CREATE."
INFO = b"$JS.API.CONSUMER.INFO."


class NatsRelay:
    """`lose_next_watch(stream)`: the next consumer the client makes on `stream` is
    counted by JetStream as having messages for it (the client subscribes to them only
    once it has asked the consumer's state), and every message it delivers is lost;
    `lost` counts them."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.lost = 0
        self._stream: bytes | None = None
        self._step = ""
        self._held: bytes | None = None
        self._info_reply: bytes | None = None
        self._consumer: bytes | None = None
        self._lock = threading.Lock()
        self._upstream: socket.socket | None = None
        self._sending = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"nats://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def lose_next_watch(self, stream: str) -> None:
        with self._lock:
            self._stream, self._step, self._consumer = stream.encode(), "create", None

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._upstream = upstream
            args = (client, upstream, self._request, self._sending)
            threading.Thread(target=_pump, args=args, daemon=True).start()
            args = (upstream, client, self._delivery, threading.Lock())
            threading.Thread(target=_pump, args=args, daemon=True).start()

    def _request(self, words: list[bytes], frame: bytes) -> bytes:
        """What of the client's frame goes on to the node now."""
        with self._lock:
            if self._stream is None:
                return frame
            operation = words[0].upper()
            publish = operation in (b"PUB", b"HPUB")
            if self._step == "create" and publish and words[1].startswith(CREATE + self._stream):
                self._step = "subscribe"
            elif self._step == "subscribe" and operation == b"SUB":
                self._held, self._step = frame, "info"
                return b""
            elif self._step == "info" and publish and words[1].startswith(INFO + self._stream):
                self._info_reply, self._step = words[2], "answer"
            return frame

    def _delivery(self, words: list[bytes], frame: bytes) -> bytes:
        """What of the node's frame goes on to the client; the held subscription follows
        the answer about the consumer's state."""
        operation = words[0].upper()
        if operation not in (b"MSG", b"HMSG"):
            return frame
        with self._lock:
            if self._step == "answer" and words[1] == self._info_reply:
                self._step = "lose"
                assert self._upstream is not None and self._held is not None
                with self._sending:
                    self._upstream.sendall(self._held)
                return frame
            replied = len(words) == (5 if operation == b"MSG" else 6)
            if self._step != "lose" or not replied or not words[3].startswith(ACK_PREFIX):
                return frame
            stream, consumer = words[3].split(b".")[2:4]
            if stream != self._stream:
                return frame
            self._consumer = self._consumer or consumer
            if consumer != self._consumer:
                return frame
            self.lost += 1
            return b""

    def close(self) -> None:
        self._server.close()


def _pump(
    source: socket.socket,
    sink: socket.socket,
    judge: Callable[[list[bytes], bytes], bytes],
    sending: threading.Lock,
) -> None:
    """Pass NATS's protocol on frame by frame: a line, and for a message (`MSG`, `HMSG`,
    `PUB`, `HPUB`, the size last) its bytes."""
    buffer = b""
    try:
        while data := source.recv(65536):
            buffer += data
            while (end := buffer.find(b"\r\n")) >= 0:
                words = buffer[:end].split() or [b""]
                sized = words[0].upper() in (b"MSG", b"HMSG", b"PUB", b"HPUB")
                frame_end = end + 2 + (int(words[-1]) + 2 if sized else 0)
                if len(buffer) < frame_end:
                    break
                passed = judge(words, buffer[:frame_end])
                buffer = buffer[frame_end:]
                with sending:
                    sink.sendall(passed)
    except OSError:
        pass
    sink.close()
