"""Ingest's state file: one SQLite database that several parts of ingest keep tables in
(rule state, compliance marks, the alert outbox, the dead-letter store).

Each part opens its own connection with `connect` and writes in
`coldchain_io.sqlite.transaction`s; the file is WAL with synchronous=FULL
(coldchain_io.sqlite), so a transaction is on disk before ingest confirms
anything that depends on it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from coldchain_io import sqlite

#: Page cache of each connection: several share the file, the engine's state is small.
CACHE_KIB = 256


def connect(path: Path) -> sqlite3.Connection:
    """A connection to the state file at `path`; not tied to the thread that opened it."""
    return sqlite.connect(path, any_thread=True, cache_kib=CACHE_KIB)
