"""SQLite state files: a service's own small database, durable before it confirms anything.

`connect` opens one in WAL mode, so readers never wait for a writer, with
`synchronous=FULL`, so a committed transaction is on disk (it survives a power
cut) before the service confirms anything that depends on it. Statements outside
`transaction` commit one by one; a `transaction` is durable as a whole or not at
all. The gateway's outbox and ingest's state file are such files.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(
    path: Path, *, any_thread: bool = False, cache_kib: int | None = None
) -> sqlite3.Connection:
    """A connection to the file at `path`, made with its directory if need be.

    `any_thread`: the connection may be used from another thread than its maker's
    (the caller keeps them apart). `cache_kib`: SQLite's page cache, else its default.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=not any_thread)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    if cache_kib is not None:
        db.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """Statements that are durable together, or not at all. A COMMIT that fails (the
    disk full) ends the transaction too, unless SQLite has ended it already, so the
    connection can begin the next."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
