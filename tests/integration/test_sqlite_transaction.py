"""A transaction whose COMMIT fails leaves the connection ready for the next one.

Ingest tries a refused write to its state file again (pipeline `_on_disk`); had the
failed COMMIT left its transaction open, every try after it would fail with "cannot
start a transaction within a transaction". A deferred foreign key fails a COMMIT here
as a full disk would.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from coldchain_io.sqlite import connect, transaction


def test_a_commit_that_fails_ends_its_transaction(tmp_path: Path) -> None:
    db = connect(tmp_path / "state.sqlite3")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute(
        "CREATE TABLE child (parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    with pytest.raises(sqlite3.IntegrityError), transaction(db):
        db.execute("INSERT INTO child VALUES (1)")  # refused only at COMMIT
    assert not db.in_transaction

    with transaction(db):
        db.execute("INSERT INTO parent VALUES (1)")
        db.execute("INSERT INTO child VALUES (1)")
    assert db.execute("SELECT count(*) FROM child").fetchone() == (1,)
