"""A relay in front of InfluxDB that can hold its writes."""

from __future__ import annotations

import contextlib
import socket
import threading


class WriteHolder:
    """A TCP relay in front of InfluxDB that, while `holding`, takes a connection's
    writes (POST /write) and never passes them on: InfluxDB that answers /ping at
    once but a write never, as a disk that stalls or a network that drops big packets."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.holding = threading.Event()
        self.held: list[bytes] = []  # what held connections sent, never passed on
        self._held_clients: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        held = False
        try:
            while data := source.recv(65536):
                if requests and (held or (self.holding.is_set() and b"POST /write" in data)):
                    if not held:
                        held = True  # the client waits for an answer that never comes
                        self._held_clients.append(source)
                    self.held.append(data)
                    continue
                sink.sendall(data)
        except OSError:
            return

    def drop_held(self) -> None:
        """Stop holding, and close the held connections: their writes fail at once."""
        self.holding.clear()
        for client in self._held_clients:
            with contextlib.suppress(OSError):  # the client gave up on it already
                client.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()
