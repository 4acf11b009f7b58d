"""Where ingest keeps its rule engine's state between restarts: one SQLite file.

Rows are written after a batch's alert events were kept and before its messages
are acknowledged, so after a crash the broker redelivers exactly what the saved
state has not yet seen. It keeps every fleet version ingest has taken (the
registry's, docs/fleet.md), so a restart judges readings as before, and every
retired gateway with its retirement time (what it took after is refused). The same
file holds the marks ingest must not confirm past (`hold`): a message refused
for a time ahead of ingest's clock, which may be ingest's fault.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from coldchain_ingest.statefile import connect
from coldchain_io.sqlite import transaction


class StateStore:
    """Thread-safe: the pipeline and the silence check both save through it."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rule_state "
            "(kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS held_mark (site TEXT NOT NULL, gateway TEXT NOT NULL, "
            "seq INTEGER NOT NULL, PRIMARY KEY (site, gateway))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS fleet_version "
            "(number INTEGER PRIMARY KEY, body TEXT NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS retired_gateway (site TEXT NOT NULL, "
            "gateway TEXT NOT NULL, retired_at TEXT NOT NULL, PRIMARY KEY (site, gateway))"
        )
        self._lock = threading.Lock()

    def retired(self) -> dict[tuple[str, str], datetime]:
        """When each retired gateway was retired (by site, gateway)."""
        with self._lock:
            rows = self._db.execute("SELECT site, gateway, retired_at FROM retired_gateway")
            return {(site, gateway): datetime.fromisoformat(at) for site, gateway, at in rows}

    def keep_retired(self, retired: Mapping[tuple[str, str], datetime]) -> None:
        """Keep these retirements; one kept before is never forgotten."""
        with self._lock, transaction(self._db):
            self._db.executemany(
                "INSERT OR REPLACE INTO retired_gateway VALUES (?, ?, ?)",
                [(site, gateway, at.isoformat()) for (site, gateway), at in retired.items()],
            )

    def fleet_versions(self) -> list[str]:
        """Every fleet version taken so far, as its message's JSON."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM fleet_version ORDER BY number").fetchall()
        return [body for (body,) in rows]

    def keep_fleet_version(self, number: int, body: str) -> None:
        with self._lock, transaction(self._db):
            self._db.execute("INSERT OR IGNORE INTO fleet_version VALUES (?, ?)", (number, body))

    def load(self) -> list[tuple[str, str, str]]:
        return self._db.execute("SELECT kind, id, body FROM rule_state").fetchall()

    def save(self, rows: list[tuple[str, str, str]]) -> None:
        if not rows:
            return
        with self._lock, transaction(self._db):
            self._db.executemany("INSERT OR REPLACE INTO rule_state VALUES (?, ?, ?)", rows)

    def holds(self) -> dict[tuple[str, str], int]:
        """Each gateway's message that its durable mark must stay below (by site, gateway)."""
        with self._lock:
            rows = self._db.execute("SELECT site, gateway, seq FROM held_mark").fetchall()
        return {(site, gateway): seq for site, gateway, seq in rows}

    def hold(self, site: str, gateway: str, seq: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO held_mark VALUES (?, ?, ?) ON CONFLICT (site, gateway) "
                "DO UPDATE SET seq = min(seq, excluded.seq)",
                (site, gateway, seq),
            )

    def release(self, site: str, gateway: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM held_mark WHERE site = ? AND gateway = ?", (site, gateway)
            )

    def marks(self) -> dict[tuple[str, str], int]:
        """None kept here: Mosquitto retains each gateway's mark (`Broker.durable_mark`)."""
        return {}

    def keep_marks(self, marks: Mapping[tuple[str, str], int]) -> None:
        """Nothing to keep, as `marks`."""

    def close(self) -> None:
        self._db.close()
