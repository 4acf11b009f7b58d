"""Watching a run from outside: what InfluxDB holds, which durable marks and alerts came.

Every system is judged the same way: a thread reads how many points InfluxDB
has stored in the run's database every POLL_S, so the time a reading became
stored is known to within POLL_S. Ours also publishes durable marks, whose arrival times give its
publish-to-durable latency exactly. Alert milestones are {(alert, state): time}
maps, one function each (bench/suite.py lists them).
"""

from __future__ import annotations

import bisect
import json
import queue
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from aiosmtpd.controller import Controller
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from coldchain_devstack.servers import InfluxDB, free_port

POLL_S = 0.1


class Counter:
    """Counts the points stored in a database every POLL_S, from a thread.

    It reads InfluxDB's own counter of points written (`writePointsOk` of the
    database's shards in `SHOW STATS`), which costs about 3 ms. Counting them
    with `SELECT count(temp_c)` cost 70 to 100 ms at a few hundred thousand
    points: polled every POLL_S it kept InfluxDB busy on one of the two cores
    the systems under test compete for. The counter includes a point written
    twice and every measurement, so it only times a run; `count` in
    bench/suite.py counts what was stored, per sensor, with a query at the end.
    """

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
        stats = self._influxdb.query("_internal", "SHOW STATS FOR 'shard'")
        return sum(
            dict(zip(shard["columns"], shard["values"][0], strict=True))["writePointsOk"]
            for shard in stats
            if shard.get("tags", {}).get("database") == self._database
        )

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


#: The alert events the bench times: raises and clearings (not the updates of an
#: excursion that lasts).
MILESTONES = frozenset({"raised", "cleared"})


def alerts_published(alerts: Subscriber) -> AlertTimes:
    """When each alert event (key or sensor, state) reached the broker's `_alerts` topic."""
    seen: AlertTimes = {}
    for at, _topic, payload in alerts.received:
        event = json.loads(payload)
        if event["state"] in MILESTONES:
            seen.setdefault((event.get("key", event["sensor"]), event["state"]), at)
    return seen


class AlertStore:
    """Polls the alerts service's audit log: when each alert event was stored there.

    The only place the bench reads the alerts service: its database directly, as
    its HTTP API needs a login. Every event the service stores is one audit-log
    entry, in the same transaction, stamped with the service's clock and naming
    the event's key. The first event of each alert also gives its alert id, by
    which the notifications (MailSink) are matched.
    """

    _RAISED = ("alert.opened", "alert.raised", "alert.fired_again", "alert.severity_raised")

    _QUERY = text(
        "SELECT seq, at, action, alert_id, detail FROM audit_entry "
        "WHERE seq > :after AND action LIKE 'alert.%' ORDER BY seq"
    )

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url)
        self.seen: AlertTimes = {}
        self.first_key: dict[int, str] = {}
        self._after = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                with self._engine.connect() as db:
                    rows = db.execute(self._QUERY, {"after": self._after}).all()
            except SQLAlchemyError:
                continue
            for seq, at, action, alert_id, detail in rows:
                self._after = seq
                key = json.loads(detail).get("key")
                if key is None:
                    continue
                state = "cleared" if action == "alert.cleared" else "raised"
                if action in self._RAISED or state == "cleared":
                    self.seen.setdefault((key, state), at.timestamp())
                if action == "alert.opened":
                    self.first_key.setdefault(alert_id, key)

    def stop(self) -> AlertTimes:
        self._stop.set()
        self._thread.join(5)
        self._engine.dispose()
        return self.seen


class MailSink:
    """An SMTP server on loopback for the alerts service's e-mail: when did each alert's
    first message arrive. Alerts are found by the links in the message."""

    def __init__(self) -> None:
        self.port = free_port()
        self.first: dict[int, float] = {}
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        arrived = time.time()
        text = envelope.content.decode("utf-8", errors="replace")
        ids = {int(found) for found in re.findall(r"/alerts/(\d+)", text.replace("=\r\n", ""))}
        with self._lock:
            for alert_id in ids:
                self.first.setdefault(alert_id, arrived)
        return "250 kept"

    def arrivals(self) -> dict[int, float]:
        """Alert id -> when its first message arrived (epoch seconds)."""
        with self._lock:
            return dict(self.first)

    def stop(self) -> None:
        self._controller.stop()


def utc_seconds(text: str) -> float:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
