"""The gateway's outbox: every reading is on disk before anything else happens to it.

SQLite in WAL mode with synchronous=FULL (coldchain_io.sqlite), so a committed
append survives a power cut. Samples wait in `pending` until the gateway is
connected; packing moves them into numbered `messages` in the same transaction
that advances `last_seq`, so a `seq` is never reused, and a message keeps its
number and bytes until the ingest service confirms it durable. Only `confirm`
deletes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from coldchain.contract import (
    MAX_READINGS_PER_MESSAGE,
    READING,
    Event,
    Position,
    Reading,
    Telemetry,
)
from coldchain_gateway.errors import OutboxError
from coldchain_io import sqlite

SCHEMA_VERSION = 2
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('reading', 'event', 'position', 'battery')),
    sensor TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS pending_kind ON pending (kind, id);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS source_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    body TEXT NOT NULL
);
INSERT OR IGNORE INTO meta (key, value)
    VALUES ('last_seq', 0), ('durable_seq', 0), ('ticks', 0), ('thinned', 0);
PRAGMA user_version = {SCHEMA_VERSION};
"""


@dataclass(frozen=True)
class Backlog:
    pending: int
    messages: int
    last_seq: int
    durable_seq: int


class Outbox:
    """One gateway's durable queue. Use from one thread."""

    def __init__(self, path: Path, budget_readings: int | None = None) -> None:
        self._db = sqlite.connect(path)
        self._budget = budget_readings
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if version != SCHEMA_VERSION and tables:
            raise OutboxError(
                f"the outbox {path} has schema version {version}, this gateway writes "
                f"{SCHEMA_VERSION}; let the old gateway drain it (no messages left), then "
                "move the file away"
            )
        self._db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")

    def close(self) -> None:
        self._db.close()

    def append(
        self,
        readings: list[Reading],
        events: list[Event],
        position: Position | None,
        ticks: int,
        battery_v: float | None = None,
        state: str | None = None,
    ) -> int:
        """Store one sample, the source's tick counter and (if given) the source's state
        after the sample in one transaction: a restart continues from exactly this sample.

        Returns how many old readings were thinned out to stay within the budget
        (see `_thin`); 0 almost always.
        """
        rows: list[tuple[str, str | None, str]] = [
            ("reading", r.sensor, READING.dump_json(r).decode()) for r in readings
        ]
        rows += [("event", e.sensor, e.model_dump_json()) for e in events]
        if position is not None:
            rows.append(("position", None, position.model_dump_json()))
        if battery_v is not None:
            rows.append(("battery", None, repr(float(battery_v))))
        with sqlite.transaction(self._db):
            self._db.executemany("INSERT INTO pending (kind, sensor, body) VALUES (?, ?, ?)", rows)
            self._set("ticks", ticks)
            if state is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO source_state (id, body) VALUES (1, ?)", (state,)
                )
            return self._thin()

    def _thin(self) -> int:
        """Keep the outbox within its budget: halve the resolution of the oldest readings.

        When pending readings exceed the budget, every second reading of each
        sensor is deleted from the oldest half of them. Coverage of the whole
        period is kept at a coarser interval, the newest data stay complete, and
        the count is kept (`thinned`) and reported by the gateway as an
        `outbox_thinned` event. Messages already numbered are never touched.
        """
        if self._budget is None:
            return 0
        pending = self._db.execute("SELECT count(*) FROM pending WHERE kind = 'reading'")
        count: int = pending.fetchone()[0]
        if count <= self._budget:
            return 0
        deleted = self._db.execute(
            """
            DELETE FROM pending WHERE id IN (
                SELECT id FROM (
                    SELECT id, row_number() OVER (PARTITION BY sensor ORDER BY id) AS n
                    FROM (SELECT id, sensor FROM pending WHERE kind = 'reading'
                          ORDER BY id LIMIT ?)
                ) WHERE n % 2 = 0
            )
            """,
            (count // 2,),
        ).rowcount
        self._set("thinned", self._get("thinned") + deleted)
        return deleted

    def pack(self, gateway: str, sent_at: datetime) -> list[tuple[int, bytes]]:
        """Turn everything pending into numbered messages; returns the new ones."""
        created: list[tuple[int, bytes]] = []
        while True:
            with sqlite.transaction(self._db):
                message = self._pack_one(gateway, sent_at)
            if message is None:
                return created
            created.append(message)

    def _pack_one(self, gateway: str, sent_at: datetime) -> tuple[int, bytes] | None:
        limit = MAX_READINGS_PER_MESSAGE
        readings = self._take("reading", limit)
        events = self._take("event", limit)
        positions = self._take("position", 1)
        batteries = self._take("battery", 1)
        if not (readings or events or positions or batteries):
            return None
        taken = [row_id for row_id, _ in readings + events + positions + batteries]
        seq = self._get("last_seq") + 1
        telemetry = Telemetry(
            v=1,
            gateway=gateway,
            seq=seq,
            sent_at=sent_at,
            readings=[READING.validate_json(body) for _, body in readings],
            events=[Event.model_validate_json(body) for _, body in events],
            position=Position.model_validate_json(positions[0][1]) if positions else None,
            battery_v=float(batteries[0][1]) if batteries else None,
        )
        payload = telemetry.model_dump_json(exclude_none=True).encode()
        self._db.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in taken])
        self._db.execute("INSERT INTO messages (seq, payload) VALUES (?, ?)", (seq, payload))
        self._set("last_seq", seq)
        return seq, payload

    def unconfirmed(self, after_seq: int, limit: int) -> list[tuple[int, bytes]]:
        """Messages not yet confirmed durable with seq > after_seq, oldest first."""
        rows = self._db.execute(
            "SELECT seq, payload FROM messages WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [(seq, bytes(payload)) for seq, payload in rows]

    def confirm(self, durable_seq: int) -> int:
        """Forget messages up to `durable_seq`; returns how many were deleted.

        A mark beyond our own last seq means this outbox is younger than the
        broker's record of the gateway (a replaced disk, say): numbering then
        continues above the mark so that no seq is ever used twice.
        """
        with sqlite.transaction(self._db):
            if durable_seq > self._get("last_seq"):
                self._set("last_seq", durable_seq)
                self._set("durable_seq", durable_seq)
                return 0
            deleted = self._db.execute("DELETE FROM messages WHERE seq <= ?", (durable_seq,))
            if durable_seq > self._get("durable_seq"):
                self._set("durable_seq", durable_seq)
            return deleted.rowcount

    def ticks(self) -> int:
        return self._get("ticks")

    def source_state(self) -> str | None:
        """The source's state after the last sample stored, or None if it gave none."""
        row = self._db.execute("SELECT body FROM source_state WHERE id = 1").fetchone()
        return None if row is None else str(row[0])

    def thinned(self) -> int:
        """How many readings were thinned out to keep within the budget, ever."""
        return self._get("thinned")

    def backlog(self) -> Backlog:
        pending = self._db.execute("SELECT count(*) FROM pending").fetchone()[0]
        messages = self._db.execute("SELECT count(*) FROM messages").fetchone()[0]
        return Backlog(pending, messages, self._get("last_seq"), self._get("durable_seq"))

    def _take(self, kind: str, limit: int) -> list[tuple[int, str]]:
        return self._db.execute(
            "SELECT id, body FROM pending WHERE kind = ? ORDER BY id LIMIT ?", (kind, limit)
        ).fetchall()

    def _get(self, key: str) -> int:
        value: int = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]
        return value

    def _set(self, key: str, value: int) -> None:
        self._db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
