"""What became of the readings a test's gateways recorded, and how far a gateway got.

Like Jepsen's queue checker: every recorded reading is stored once or lost, and
a stored point at a time no gateway sampled is unexpected (how a reading stored
twice under another time would show; InfluxDB itself keeps one point per sensor
and time).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from coldchain_devstack.servers import InfluxDB

MINUTE_NS = 60 * 1_000_000_000


def stored_times(influxdb: InfluxDB, database: str, sensor: str) -> list[int]:
    """Times (ns) of the stored readings of one sensor, in order."""
    series = influxdb.query(database, f"SELECT temp_c FROM temperature WHERE sensor = '{sensor}'")
    return [row[0] for row in series[0]["values"]] if series else []


def verdict(
    influxdb: InfluxDB, database: str, start: datetime, ticks: int, sensors: list[str]
) -> dict[str, int]:
    """Readings sampled a minute apart from `start` by each sensor, classified."""
    recorded = {int(start.timestamp()) * 10**9 + k * MINUTE_NS for k in range(ticks)}
    result = {"stored once": 0, "lost": 0, "unexpected": 0}
    for sensor in sensors:
        stored = stored_times(influxdb, database, sensor)
        result["stored once"] += len(recorded & set(stored))
        result["lost"] += len(recorded - set(stored))
        result["unexpected"] += len(set(stored) - recorded) + len(stored) - len(set(stored))
    return result


def outbox_counter(path: Path, key: str) -> int:
    """A counter of a gateway's outbox (ticks, thinned), read beside the running gateway."""
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()
    return int(row[0]) if row else 0
