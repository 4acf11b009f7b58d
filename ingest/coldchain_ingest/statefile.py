"""Ingest's state file: one SQLite database that several parts of ingest keep tables in
(rule state, compliance marks, the alert outbox, the dead-letter store).

Each part opens its own connection with `connect` and writes in `transaction`s:
WAL, so readers never wait for a writer, and `synchronous=FULL`, so a committed
transaction is on disk before ingest confirms anything that depends on it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the state file at `path`, made with its directory if need be;
    statements outside `transaction` commit one by one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA cache_size=-256")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """Statements that are durable together, or not at all."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
