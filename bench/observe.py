"""Watching a run from outside: what InfluxDB holds, which durable marks and alerts came.

Every system is judged the same way: a thread counts the run's readings in
InfluxDB every POLL_S, so the time a reading became stored is known to within
POLL_S. Ours also publishes durable marks, whose arrival times give its
publish-to-durable latency exactly. Alert milestones are {(alert, state): time}
maps, one function each (bench/suite.py lists them).
"""

from __future__ import annotations

import bisect
import json
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from servers import InfluxDB

POLL_S = 0.1


class Counter:
    """Counts `temperature` points in a database every POLL_S, from a thread."""

    def __init__(self, influxdb: InfluxDB, database: str) -> None:
        self._influxdb = influxdb
        self._database = database
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Counter:
        self._thread.start()
        return self

    def count(self) -> int:
        return self._influxdb.count(self._database, "SELECT count(temp_c) FROM temperature")

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.time()
            try:
                n = self.count()
            except Exception:  # noqa: BLE001 - a database not yet created counts as empty
                n = 0
            self.samples.append((began, n))
            self._stop.wait(max(0.0, POLL_S - (time.time() - began)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def stored_times(self, total: int) -> list[float | None]:
        """When the k-th reading (in sending order) was first seen stored; None if never.

        Systems store in about the order they receive, so the k-th reading is
        taken as stored once the count reaches k + 1.
        """
        times: list[float | None] = [None] * total
        k = 0
        for at, n in self.samples:
            while k < min(n, total):
                times[k] = at
                k += 1
        return times


@dataclass
class Subscriber:
    """Every message on `topic` with its arrival time (time.time())."""

    port: int
    topic: str
    received: list[tuple[float, str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        subscribed: queue.Queue[bool] = queue.Queue()
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        client.on_subscribe = lambda *_: subscribed.put(True)
        client.on_message = lambda _c, _u, m: self.received.append(
            (time.time(), m.topic, bytes(m.payload))
        )
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        subscribed.get(timeout=10)
        self._client = client

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def durable_times(marks: Subscriber, ids: list[tuple[str, int]]) -> list[float | None]:
    """When each message (gateway, seq) was covered by its gateway's durable mark."""
    by_gateway: dict[str, tuple[list[int], list[float]]] = {}
    for at, topic, payload in marks.received:
        gateway = topic.split("/")[3]
        seqs, times = by_gateway.setdefault(gateway, ([], []))
        seq = json.loads(payload)["seq"]
        if not seqs or seq > seqs[-1]:
            seqs.append(seq)
            times.append(at)
    result: list[float | None] = []
    for gateway, seq in ids:
        seqs, times = by_gateway.get(gateway, ([], []))
        i = bisect.bisect_left(seqs, seq)
        result.append(times[i] if i < len(seqs) else None)
    return result


# --- alert milestones ------------------------------------------------------------------

AlertTimes = dict[tuple[str, str], float]


def alerts_published(alerts: Subscriber) -> AlertTimes:
    """When each alert event (key or sensor, state) reached the broker's `_alerts` topic."""
    seen: AlertTimes = {}
    for at, _topic, payload in alerts.received:
        event = json.loads(payload)
        seen.setdefault((event.get("key", event["sensor"]), event["state"]), at)
    return seen


class AlertStore:
    """Polls the alerts service's database: when did each alert reach each state there.

    The only place the bench reads the alerts service: its table directly, since
    the HTTP API is about to require authentication. The service stamps
    `updated_at` in the transaction that stores the event.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self.seen: AlertTimes = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            if not self._path.exists():
                continue
            try:
                with sqlite3.connect(f"file:{self._path}?mode=ro", uri=True) as db:
                    rows = db.execute("SELECT key, status, updated_at FROM alert").fetchall()
            except sqlite3.Error:
                continue
            for key, status, updated_at in rows:
                state = "cleared" if status == "cleared" else "raised"
                self.seen.setdefault((key, state), utc_seconds(updated_at))

    def stop(self) -> AlertTimes:
        self._stop.set()
        self._thread.join(5)
        return self.seen


def utc_seconds(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
