"""SQLite files, copied consistently with SQLite's online backup API.

A plain file copy of a database in WAL mode while a service writes can miss the WAL or
tear a page; the backup API copies a consistent snapshot and works on a file the service
keeps open (the alerts store on SQLite, ingest's state file).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def copy_sqlite(source: Path, target: Path, error: type[Exception]) -> None:
    """Copy the SQLite database `source` into `target` (created); raises `error`."""
    if not source.is_file():
        raise error(f"{source} does not exist: is the path right, and the service set up?")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            closing(sqlite3.connect(source)) as origin,
            closing(sqlite3.connect(target)) as copy,
        ):
            origin.execute("PRAGMA busy_timeout=10000")
            origin.backup(copy)
    except sqlite3.Error as exc:
        raise error(f"copying {source} to {target} failed: {exc}") from None
