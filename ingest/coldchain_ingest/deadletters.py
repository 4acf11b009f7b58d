"""What InfluxDB refused to store, kept on ingest's disk until it takes it.

A refusal by the database (a field that a third party wrote with another type,
a time outside the retention policy) says nothing about the reading: the reading
was valid, and the gateway may forget it only once it is durable somewhere. So a
telemetry message whose points InfluxDB refuses is kept here, in the state file
(SQLite, `synchronous=FULL`), before its gateway gets its durable mark; so are
alert and excursion records InfluxDB refuses. Ingest tries each again on a
schedule, waiting longer after every refusal, so that one that is never taken
does not hold up the others; `coldchain-ingest dead-letters` lists them and
makes them due at once after the cause is fixed (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from coldchain_ingest.statefile import connect

#: First wait before a refused letter is tried again; it doubles with each refusal.
RETRY_FIRST_S = 60.0
#: Longest wait between two tries of one letter.
RETRY_MAX_S = 24 * 3600.0


@dataclass(frozen=True)
class Letter:
    """A telemetry message (`topic` set, `body` its payload) or InfluxDB records (`topic`
    None, `body` their line protocol) that InfluxDB refused."""

    id: int
    topic: str | None
    body: bytes
    received_at: datetime
    refused_at: datetime
    reason: str
    refusals: int


class DeadLetters:
    """Thread-safe: the pipeline keeps letters, a scheduled job tries them again."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY, "
            "digest TEXT NOT NULL UNIQUE, topic TEXT, body BLOB NOT NULL, "
            "received_at TEXT NOT NULL, refused_at TEXT NOT NULL, reason TEXT NOT NULL, "
            "refusals INTEGER NOT NULL, next_try REAL NOT NULL)"
        )
        self._lock = threading.Lock()

    def keep(self, topic: str | None, body: bytes, received_at: datetime, reason: str) -> None:
        """Keep a refused message or set of records; the same one kept twice (a message
        the broker delivered again) is one letter, refused once more."""
        now = datetime.now(UTC)
        digest = hashlib.sha256((topic or "").encode() + b"\0" + body).hexdigest()
        with self._lock:
            self._db.execute(
                "INSERT INTO dead_letters (digest, topic, body, received_at, refused_at, "
                "reason, refusals, next_try) VALUES (?, ?, ?, ?, ?, ?, 1, ?) "
                "ON CONFLICT (digest) DO UPDATE SET refused_at = excluded.refused_at, "
                "reason = excluded.reason, refusals = refusals + 1",
                (
                    digest,
                    topic,
                    body,
                    received_at.isoformat(),
                    now.isoformat(),
                    reason,
                    now.timestamp() + RETRY_FIRST_S,
                ),
            )

    def due(self, now: datetime, limit: int) -> list[Letter]:
        """Up to `limit` letters due to be tried again at `now`, the longest due first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM dead_letters WHERE next_try <= ? "
                "ORDER BY next_try, id LIMIT ?",
                (now.timestamp(), limit),
            ).fetchall()
        return [_letter(row) for row in rows]

    def all(self) -> list[Letter]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM dead_letters ORDER BY id").fetchall()
        return [_letter(row) for row in rows]

    def refused_again(self, letter: Letter, reason: str) -> None:
        """The letter was refused once more: try it again later than last time."""
        now = datetime.now(UTC)
        wait = min(RETRY_FIRST_S * 2 ** min(letter.refusals, 20), RETRY_MAX_S)
        with self._lock:
            self._db.execute(
                "UPDATE dead_letters SET refused_at = ?, reason = ?, refusals = refusals + 1, "
                "next_try = ? WHERE id = ?",
                (now.isoformat(), reason, now.timestamp() + wait, letter.id),
            )

    def stored(self, letter: Letter) -> None:
        """InfluxDB took the letter: forget it."""
        with self._lock:
            self._db.execute("DELETE FROM dead_letters WHERE id = ?", (letter.id,))

    def retry_now(self) -> int:
        """Make every letter due at once (after the cause is fixed); how many there are."""
        with self._lock:
            return self._db.execute("UPDATE dead_letters SET next_try = 0").rowcount

    def __len__(self) -> int:
        with self._lock:
            count: int = self._db.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
            return count

    def close(self) -> None:
        self._db.close()


_COLUMNS = "id, topic, body, received_at, refused_at, reason, refusals"


def _letter(row: tuple[int, str | None, bytes, str, str, str, int]) -> Letter:
    id_, topic, body, received_at, refused_at, reason, refusals = row
    return Letter(
        id_,
        topic,
        bytes(body),
        datetime.fromisoformat(received_at),
        datetime.fromisoformat(refused_at),
        reason,
        refusals,
    )
