"""Messages from a retired gateway's exported outbox, waiting for the running service.

`coldchain-ingest import-outbox FILE` puts the file's messages here, in the state file;
the service takes them into its pipeline as if they came from the broker (the same
validation, the same rules, the same writes), refuses what the gateway took after its
retirement, and writes each message's outcome back for the command to report. The
command runs beside the service, as `dead-letters retry` does: no broker account may
publish a retired gateway's telemetry, and the pipeline's rule state has one owner.
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from coldchain_ingest.statefile import connect
from coldchain_io.sqlite import transaction


@dataclass(frozen=True)
class Waiting:
    id: int
    topic: str
    body: bytes


@dataclass(frozen=True)
class Result:
    line: int
    outcome: str | None
    """stored, stored before, kept (refused by InfluxDB), refused: reason; None: waiting."""
    readings: int
    refused: int
    """Readings and events refused: taken after the gateway's retirement."""


class ImportQueue:
    """Thread-safe: the command adds, the service's scheduler takes, its pipeline answers."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS imported_message (id INTEGER PRIMARY KEY, "
            "batch TEXT NOT NULL, line INTEGER NOT NULL, topic TEXT NOT NULL, "
            "body BLOB NOT NULL, outcome TEXT, readings INTEGER NOT NULL DEFAULT 0, "
            "refused INTEGER NOT NULL DEFAULT 0)"
        )
        self._lock = threading.Lock()

    def add(self, batch: str, messages: list[tuple[int, str, bytes]]) -> None:
        """Queue `messages` (line, topic, payload) as one batch."""
        with self._lock, transaction(self._db):
            self._db.executemany(
                "INSERT INTO imported_message (batch, line, topic, body) VALUES (?, ?, ?, ?)",
                [(batch, line, topic, body) for line, topic, body in messages],
            )

    def waiting(self, limit: int, taken: Collection[int]) -> list[Waiting]:
        """Up to `limit` messages without an outcome, oldest first, but those `taken`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, body FROM imported_message WHERE outcome IS NULL "
                "ORDER BY id LIMIT ?",
                (limit + len(taken),),
            ).fetchall()
        found = [Waiting(id_, topic, bytes(body)) for id_, topic, body in rows]
        return [row for row in found if row.id not in taken][:limit]

    def answer(self, row_id: int, outcome: str, readings: int = 0, refused: int = 0) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE imported_message SET outcome = ?, readings = ?, refused = ? WHERE id = ?",
                (outcome, readings, refused, row_id),
            )

    def results(self, batch: str) -> list[Result]:
        with self._lock:
            rows = self._db.execute(
                "SELECT line, outcome, readings, refused FROM imported_message "
                "WHERE batch = ? ORDER BY line",
                (batch,),
            ).fetchall()
        return [Result(*row) for row in rows]

    def forget(self, batch: str) -> None:
        """Drop the batch's answered messages; those still waiting stay queued."""
        with self._lock:
            self._db.execute(
                "DELETE FROM imported_message WHERE batch = ? AND outcome IS NOT NULL", (batch,)
            )

    def close(self) -> None:
        self._db.close()
