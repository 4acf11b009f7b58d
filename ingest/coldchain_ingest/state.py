"""Where ingest keeps its rule engine's state between restarts: one SQLite file.

Rows are written after a batch's alert events reached the broker and before its
messages are acknowledged, so after a crash the broker redelivers exactly what
the saved state has not yet seen.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class StateStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA cache_size=-256")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rule_state "
            "(kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id))"
        )

    def load(self) -> list[tuple[str, str, str]]:
        return self._db.execute("SELECT kind, id, body FROM rule_state").fetchall()

    def save(self, rows: list[tuple[str, str, str]]) -> None:
        if not rows:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany("INSERT OR REPLACE INTO rule_state VALUES (?, ?, ?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
