"""The daily compliance rollup: ingest computes each sensor's local days into `compliance_daily`.

Why here: ingest is the one place that sees every reading arrive, late ones
included (a van's buffered dead zone, a gateway back after an outage), so it
knows exactly which (sensor, local day) a batch changes. The pipeline calls
`RollupJob.note` after a batch is stored and before it is acknowledged; the
marks are kept in ingest's state file, so a crash loses none. The scheduler
calls `RollupJob.run`: it computes every marked day that has ended with
`coldchain.rollup.day_records` (reading the day's readings back from InfluxDB)
and overwrites the day's point. At each local midnight it also marks the day
just ended for every temperature sensor of the site, so a day without any
reading gets its record too (coverage 0 %).

A day still under way is not computed: its record would count the rest of the
day as uncovered. It is computed after midnight, and again whenever late
readings change it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from coldchain import compliance, measurements
from coldchain.compliance import Band, Sample
from coldchain.contract import Telemetry
from coldchain.fleet import Asset, Fleet, Sensor, Site
from coldchain.influxql import literal
from coldchain.lineprotocol import nanoseconds
from coldchain.rollup import day_records, local_date, touched_days
from coldchain_ingest import points
from coldchain_ingest.errors import InfluxRejected, InfluxUnavailable
from coldchain_ingest.influx import Influx
from coldchain_ingest.statefile import connect, transaction

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Reading back a day of readings may take longer than a write.
ROLLUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Watched:
    """A temperature sensor of the fleet, with the site and asset it watches."""

    site: Site
    sensor: Sensor
    asset: Asset

    @property
    def alarm_band(self) -> Band:
        return Band(max_c=self.asset.limits.max_c, min_c=self.asset.limits.min_c)


class PendingDays:
    """The (sensor, local day) pairs whose records wait to be computed, in a SQLite file.

    A pair marked again while it is being computed gets a new mark, so `done`
    with the old mark leaves it pending. Safe to use from two threads.
    """

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rollup_pending (sensor TEXT NOT NULL, day TEXT NOT NULL, "
            "mark INTEGER NOT NULL, PRIMARY KEY (sensor, day))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rollup_closed (site TEXT PRIMARY KEY, day TEXT NOT NULL)"
        )
        self._lock = threading.Lock()
        rows = self._db.execute("SELECT sensor, day, mark FROM rollup_pending").fetchall()
        self._queued = {(sensor, date.fromisoformat(day)) for sensor, day, _ in rows}
        self._mark = max((mark for _, _, mark in rows), default=0)

    def add(self, pairs: Iterable[tuple[str, date]]) -> None:
        """Mark pairs as pending; only pairs not queued yet cost a write."""
        with self._lock:
            new = {pair for pair in pairs if pair not in self._queued}
            if new:
                with transaction(self._db):
                    self._write(new)
                self._queued.update(new)

    def queued(self, sensor: str, day: date) -> bool:
        """Whether the pair waits to be computed (and will be, with what is stored by then)."""
        with self._lock:
            return (sensor, day) in self._queued

    def take(self, sensors: Sequence[str], through: date) -> list[tuple[str, date, int]]:
        """Pending (sensor, day, mark) of these sensors for days up to `through`, oldest
        first. Each stays pending until `done`; marking it again meanwhile gives it a new mark."""
        with self._lock:
            rows = self._db.execute(
                "SELECT sensor, day, mark FROM rollup_pending "
                f"WHERE day <= ? AND sensor IN ({', '.join('?' * len(sensors))}) "
                "ORDER BY day, sensor",
                (through.isoformat(), *sensors),
            ).fetchall()
            taken = [(sensor, date.fromisoformat(day), mark) for sensor, day, mark in rows]
            self._queued.difference_update((sensor, day) for sensor, day, _ in taken)
            return taken

    def done(self, sensor: str, day: date, mark: int) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM rollup_pending WHERE sensor = ? AND day = ? AND mark = ?",
                (sensor, day.isoformat(), mark),
            )

    def close_days(self, site: str, sensors: Sequence[str], through: date) -> None:
        """Mark every day after the last one closed for `site`, up to `through`, for every
        sensor; the first time only `through` itself."""
        with self._lock:
            row = self._db.execute(
                "SELECT day FROM rollup_closed WHERE site = ?", (site,)
            ).fetchone()
            first = date.fromisoformat(row[0]) + timedelta(days=1) if row else through
            days = [first + timedelta(days=n) for n in range((through - first).days + 1)]
            if not days:
                return
            pairs = {(sensor, day) for sensor in sensors for day in days}
            with transaction(self._db):
                self._write(pairs)
                self._db.execute(
                    "INSERT OR REPLACE INTO rollup_closed VALUES (?, ?)",
                    (site, through.isoformat()),
                )
            self._queued.update(pairs)

    def close(self) -> None:
        self._db.close()

    def _write(self, pairs: set[tuple[str, date]]) -> None:
        self._mark += 1
        rows = [(sensor, day.isoformat(), self._mark) for sensor, day in sorted(pairs)]
        self._db.executemany("INSERT OR REPLACE INTO rollup_pending VALUES (?, ?, ?)", rows)


def watched_sensors(fleet: Fleet) -> dict[str, Watched]:
    """Every temperature sensor of the fleet by id."""
    return {
        sensor.id: Watched(site, sensor, asset)
        for site, _gateway, sensor, asset in fleet.sensors()
        if sensor.kind == "temperature"
    }


@lru_cache(maxsize=256)
def _untouched_span(day: date, tz: str, interval_s: float) -> tuple[datetime, datetime, date]:
    """Reading times [start, end) that touch no local day but `day` (touched_days), and
    the day; one tuple shared by every sensor of that zone and interval."""
    start, end = compliance.local_day_bounds(day, tz)
    reach = timedelta(seconds=compliance.reach_s(interval_s))
    return start + reach, end - reach, day


class DayWriter:
    """Computes local days of one sensor from its readings in InfluxDB and writes their points."""

    def __init__(self, influx: Influx) -> None:
        self._influx = influx

    def write(self, watched: Watched, first_day: date, last_day: date) -> None:
        """Compute the local days first_day..last_day of one sensor and write their points."""
        tz = watched.site.timezone
        start, _ = compliance.local_day_bounds(first_day, tz)
        _, end = compliance.local_day_bounds(last_day, tz)
        reach = timedelta(seconds=compliance.reach_s(watched.sensor.interval_s))
        samples = self._readings(watched, start - reach, end + reach)
        records = day_records(
            samples,
            first_day,
            last_day,
            watched.alarm_band,
            watched.asset.limits.regulatory_max_c,
            watched.sensor.interval_s,
            tz,
        )
        site, asset, sensor = watched.site.id, watched.asset.id, watched.sensor.id
        self._influx.write([points.rollup_line(site, asset, sensor, r) for r in records])

    def _readings(self, watched: Watched, start: datetime, end: datetime) -> list[Sample]:
        influxql = (
            f'SELECT "temp_c" FROM "{measurements.TEMPERATURE}" '
            f'WHERE "asset" = {literal(watched.asset.id)} '
            f'AND "sensor" = {literal(watched.sensor.id)} '
            f"AND time >= {nanoseconds(start)} AND time < {nanoseconds(end)}"
        )
        return [
            Sample(_EPOCH + timedelta(microseconds=int(ts) // 1000), float(temp_c))
            for ts, temp_c in self._influx.rows(influxql)
        ]


class RollupJob:
    """Marks the days stored readings change, and computes the marked days once ended."""

    def __init__(self, fleet: Fleet, writer: DayWriter, pending: PendingDays) -> None:
        self._writer = writer
        self._pending = pending
        self._watched = watched_sensors(fleet)
        self._sites = [
            (site, [w.sensor.id for w in self._watched.values() if w.site.id == site.id])
            for site in fleet.sites
        ]
        self._stop = threading.Event()
        #: Per sensor, the last single day it marked and the span of reading times
        #: [start, end) that touch only that day.
        self._inside: dict[str, tuple[datetime, datetime, date]] = {}

    def stop(self) -> None:
        """Let a run in progress end after the day it is computing."""
        self._stop.set()

    def note(self, stored: Sequence[Telemetry]) -> None:
        """Mark the days that the readings of these stored messages can change."""
        spans: dict[str, tuple[datetime, datetime]] = {}
        for message in stored:
            for reading in message.readings:
                span = spans.get(reading.sensor)
                ts = reading.ts
                if span is None:
                    spans[reading.sensor] = (ts, ts)
                elif ts < span[0] or ts > span[1]:
                    spans[reading.sensor] = (min(ts, span[0]), max(ts, span[1]))
        pairs = []
        for sensor, (first, last) in spans.items():
            inside = self._inside.get(sensor)
            if (
                inside is not None
                and inside[0] <= first
                and last < inside[1]
                and self._pending.queued(sensor, inside[2])
            ):
                continue  # most batches: the same day, still marked
            watched = self._watched.get(sensor)
            if watched is None:
                continue
            days = touched_days(first, last, watched.sensor.interval_s, watched.site.timezone)
            pairs += [(sensor, day) for day in days]
            if len(days) == 1:
                tz, interval_s = watched.site.timezone, watched.sensor.interval_s
                self._inside[sensor] = _untouched_span(days[0], tz, interval_s)
        self._pending.add(pairs)

    def run(self, now: datetime) -> int:
        """Compute every marked day that ended before `now` (UTC); returns how many.

        A day that could not be read or written stays marked and is tried again by the
        next run; while InfluxDB is unavailable the run ends at the first failure.
        """
        computed = 0
        for site, sensors in self._sites:
            if not sensors:
                continue
            yesterday = local_date(now, site.timezone) - timedelta(days=1)
            self._pending.close_days(site.id, sensors, yesterday)
            for sensor, day, mark in self._pending.take(sensors, yesterday):
                if self._stop.is_set():
                    return computed
                try:
                    self._writer.write(self._watched[sensor], day, day)
                except InfluxUnavailable as exc:
                    log.warning("compliance days wait for InfluxDB: %s", exc)
                    return computed
                except InfluxRejected as exc:
                    log.error("compliance of %s on %s not stored: %s", sensor, day, exc)
                    continue
                self._pending.done(sensor, day, mark)
                computed += 1
        if computed:
            log.info("computed %d days into %s", computed, measurements.COMPLIANCE_DAILY)
        return computed
