"""Alert events ingest raised, kept on disk until the alerts service says it stored them.

The broker alone cannot promise that an alarm reaches the alerts service: an
event it took and had not yet saved is gone when it is killed. So every event
gets an id of its own and is written here (SQLite, `synchronous=FULL`) as it is
published, and stays until an `AlertReceipt` names that id. It is written
before the rule state is saved and the readings that raised it are
acknowledged: a crash before that evaluates them again and raises it again. What is still here
is published again after every reconnect to the broker (it may have restarted
without it), when the alerts service says it has just subscribed (its session
may have been lost), and when no receipt has come for a while, each event
waiting twice as long each time nothing comes back.
The alerts service stores an event once whatever the number of copies (`key`).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from coldchain import topics
from coldchain.contract import AlertEvent, AlertReceipt, AlertState
from coldchain_ingest.statefile import connect
from coldchain_io.sqlite import transaction

log = logging.getLogger(__name__)

#: The longest wait between two publications of the same events.
REDELIVER_MAX_S = 600.0


class Stamped(NamedTuple):
    """An alert event with its id, ready to publish."""

    id: str
    topic: str
    payload: bytes
    key: str
    state: str


class AlertOutbox:
    """Thread-safe: the pipeline keeps events, the network thread confirms them, a
    scheduled job publishes again what is due."""

    def __init__(self, path: Path, redeliver_after_s: float) -> None:
        self._db = connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS alert_outbox (seq INTEGER PRIMARY KEY, "
            "id TEXT NOT NULL UNIQUE, topic TEXT NOT NULL, payload BLOB NOT NULL, "
            "key TEXT NOT NULL, state TEXT NOT NULL)"
        )
        self._lock = threading.Lock()
        self._first_wait = redeliver_after_s
        #: Each kept event's id: when it is due again (time.monotonic()), and how often
        #: it was published again. Kept before a restart: due at once.
        self._due: dict[str, tuple[float, int]] = {
            event_id: (0.0, 0) for (event_id,) in self._db.execute("SELECT id FROM alert_outbox")
        }

    @staticmethod
    def stamp(events: Iterable[AlertEvent]) -> list[Stamped]:
        """Each event with an id of its own, as it is published and kept."""
        stamped = []
        for event in events:
            event_id = uuid.uuid4().hex
            payload = event.model_copy(update={"id": event_id}).model_dump_json().encode()
            stamped.append(
                Stamped(event_id, topics.alerts(event.site), payload, event.key, event.state)
            )
        return stamped

    def keep(self, stamped: list[Stamped]) -> None:
        """Keep stamped events until they are confirmed. An update replaces the update of
        the same key still kept: while the alerts service is away, a lasting excursion
        keeps one update waiting, not one per reading."""
        if not stamped:
            return
        updated = [(event.key,) for event in stamped if event.state == AlertState.UPDATED]
        with self._lock:
            with transaction(self._db):
                superseded = [
                    event_id
                    for (key,) in updated
                    for (event_id,) in self._db.execute(
                        "SELECT id FROM alert_outbox WHERE key = ? AND state = ?",
                        (key, AlertState.UPDATED.value),
                    )
                ]
                self._db.executemany(
                    "DELETE FROM alert_outbox WHERE id = ?", [(i,) for i in superseded]
                )
                self._db.executemany(
                    "INSERT INTO alert_outbox (id, topic, payload, key, state) "
                    "VALUES (?, ?, ?, ?, ?)",
                    stamped,
                )
            for event_id in superseded:
                self._due.pop(event_id, None)
            again = time.monotonic() + self._first_wait
            self._due.update((event.id, (again, 0)) for event in stamped)

    def receipt(self, receipt: AlertReceipt) -> None:
        """The alerts service stored the events it names (ids named twice, or never
        kept here, are fine), and asks for everything else at once if it just came.

        Called on paho's network thread, which must not end: if the disk refuses the
        change, the events stay here, go out again and come back with a new receipt.
        """
        try:
            self.confirm(receipt.ids)
        except sqlite3.Error:
            log.exception("could not note a receipt for %d alert events", len(receipt.ids))
        if receipt.resend:
            self.reconnected()

    def confirm(self, ids: Iterable[str]) -> None:
        """Forget the events the alerts service stored."""
        known = [(event_id,) for event_id in ids]
        with self._lock:
            with transaction(self._db):
                self._db.executemany("DELETE FROM alert_outbox WHERE id = ?", known)
            for (event_id,) in known:
                self._due.pop(event_id, None)

    def reconnected(self) -> None:
        """The broker may have restarted and lost what it held, or the alerts service
        its session: everything is due now."""
        with self._lock:
            self._due = {event_id: (0.0, tries) for event_id, (_, tries) in self._due.items()}

    def due(self, now: float) -> list[tuple[str, bytes]]:
        """The (topic, payload) pairs to publish again at `now` (time.monotonic()),
        oldest first; each waits twice as long for its receipt as the time before."""
        with self._lock:
            due = {event_id for event_id, (at, _) in self._due.items() if at <= now}
            if not due:
                return []
            for event_id in due:
                tries = self._due[event_id][1] + 1
                wait = min(self._first_wait * 2 ** min(tries, 16), REDELIVER_MAX_S)
                self._due[event_id] = (now + wait, tries)
            rows = self._db.execute("SELECT id, topic, payload FROM alert_outbox ORDER BY seq")
            return [(topic, payload) for event_id, topic, payload in rows if event_id in due]

    def __len__(self) -> int:
        with self._lock:
            return len(self._due)

    def close(self) -> None:
        self._db.close()
