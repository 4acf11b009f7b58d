"""The daily compliance rollup: ingest computes each sensor's local days into `compliance_daily`.

Why here: ingest is the one place that sees every reading arrive, late ones
included (a van's buffered dead zone, a gateway back after an outage), so it
knows exactly which (sensor, local day) a batch changes. The pipeline calls
`RollupJob.note` after a batch is stored and before it is acknowledged; the
marks are kept in ingest's state file, so a crash loses none. The scheduler
calls `RollupJob.run`: it computes every marked day that has ended with
`coldchain.rollup.day_records` (reading back from InfluxDB the readings and door
and defrost events that `coldchain.compliance.judged_readings` asks for) and
overwrites the day's point, and its 15-minute buckets (downsample.py). At each
local midnight it also marks the day just ended for every temperature sensor of
the site, so a day without any reading gets its record too (coverage 0 %).

A day whose excursions were judged over readings beyond its reach (one in
progress across midnight) is watched over that span, and one with a stretch
beyond a limit still going on undecided at the last reading (not an excursion
yet) is watched from then on: a reading or event stored later within the span
marks the day again.

The day still under way gets a preliminary record (`coldchain.rollup.day_so_far`):
the numbers of the part of the day that has passed, so the Compliance dashboard
shows today too. Each run computes it for the share of the temperature sensors
whose record is oldest, so each sensor's is computed again every
`so_far_interval_s` (it reads the sensor's whole day so far back). After
midnight the record of the whole day, computed as any ended day, overwrites it
(same point time), and is computed again whenever late readings change it.
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
from coldchain.calibration import Calibration, from_fields
from coldchain.compliance import Band, Judged, Rules, Sample
from coldchain.contract import EventKind, Telemetry
from coldchain.fleet import Asset, Fleet, Sensor, Site
from coldchain.registry import FleetHistory, Version
from coldchain.rollup import (
    DayRecord,
    Part,
    day_in_parts,
    day_records,
    day_so_far,
    local_date,
    touched_days,
)
from coldchain_ingest import downsample, points
from coldchain_ingest.errors import InfluxRejected, InfluxUnavailable
from coldchain_ingest.influx import Influx
from coldchain_ingest.statefile import connect
from coldchain_io import influxql
from coldchain_io.influx import StoredReadings, from_ns
from coldchain_io.lineprotocol import nanoseconds
from coldchain_io.sqlite import transaction

log = logging.getLogger(__name__)

#: Reading back a day of readings may take longer than a write.
ROLLUP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Watched:
    """A temperature sensor of the fleet, with the site and asset it watches."""

    site: Site
    sensor: Sensor
    asset: Asset
    asset_sensors: tuple[str, ...]
    """Every sensor of the asset: its door openings and defrost starts come from them."""

    @property
    def alarm_band(self) -> Band:
        return Band(max_c=self.asset.limits.max_c, min_c=self.asset.limits.min_c)

    @property
    def legal_band(self) -> Band:
        return Band(max_c=self.asset.limits.regulatory_max_c)

    @property
    def rules(self) -> Rules:
        return Rules(self.asset.limits, self.site.timezone)

    def judged_alike(self, other: Watched) -> bool:
        """Whether both judge the sensor's readings the same way (limits, events)."""
        return (self.rules, self.asset.limits.regulatory_max_c, self.asset_sensors) == (
            other.rules,
            other.asset.limits.regulatory_max_c,
            other.asset_sensors,
        )


@dataclass(frozen=True)
class Span:
    """Reading times [first, last] (UTC) that can change a day beyond its reach; `last`
    None: any later reading can."""

    first: datetime
    last: datetime | None

    def overlaps(self, first: datetime, last: datetime) -> bool:
        return self.first <= last and (self.last is None or first <= self.last)


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
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rollup_fleet (id INTEGER PRIMARY KEY CHECK (id = 1), "
            "version INTEGER NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS rollup_calibration (id INTEGER PRIMARY KEY)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS rollup_watched (sensor TEXT NOT NULL, day TEXT NOT NULL, "
            "first_ns INTEGER NOT NULL, last_ns INTEGER, PRIMARY KEY (sensor, day))"
        )
        self._lock = threading.Lock()
        rows = self._db.execute("SELECT sensor, day, mark FROM rollup_pending").fetchall()
        self._queued = {(sensor, date.fromisoformat(day)) for sensor, day, _ in rows}
        self._mark = max((mark for _, _, mark in rows), default=0)
        self._watching: dict[str, dict[date, Span]] = {}
        for sensor, day, first_ns, last_ns in self._db.execute(
            "SELECT sensor, day, first_ns, last_ns FROM rollup_watched"
        ):
            last = None if last_ns is None else from_ns(last_ns)
            self._watching.setdefault(sensor, {})[date.fromisoformat(day)] = Span(
                from_ns(first_ns), last
            )

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

    def fleet_version(self) -> int:
        """The newest fleet version whose days were marked (0: none yet)."""
        with self._lock:
            row = self._db.execute("SELECT version FROM rollup_fleet").fetchone()
            return int(row[0]) if row else 0

    def add_for_version(self, pairs: Iterable[tuple[str, date]], version: int) -> None:
        """Mark the pairs a fleet version changes, and the version as done, at once."""
        with self._lock:
            new = {pair for pair in pairs if pair not in self._queued}
            with transaction(self._db):
                if new:
                    self._write(new)
                self._db.execute("INSERT OR REPLACE INTO rollup_fleet VALUES (1, ?)", (version,))
            self._queued.update(new)

    def checks_seen(self) -> set[int]:
        """The calibration checks (the register's ids) whose days were marked."""
        with self._lock:
            return {int(row[0]) for row in self._db.execute("SELECT id FROM rollup_calibration")}

    def add_for_checks(self, pairs: Iterable[tuple[str, date]], checks: Iterable[int]) -> None:
        """Mark the pairs new calibration checks change, and the checks as seen, at once."""
        with self._lock:
            new = {pair for pair in pairs if pair not in self._queued}
            with transaction(self._db):
                if new:
                    self._write(new)
                self._db.executemany(
                    "INSERT OR IGNORE INTO rollup_calibration VALUES (?)", [(c,) for c in checks]
                )
            self._queued.update(new)

    def watch(self, sensor: str, day: date, span: Span | None) -> None:
        """Watch reading times `span` for readings that change the day (None: stop)."""
        with self._lock:
            watched = self._watching.setdefault(sensor, {})
            if span is None:
                if watched.pop(day, None) is not None:
                    self._db.execute(
                        "DELETE FROM rollup_watched WHERE sensor = ? AND day = ?",
                        (sensor, day.isoformat()),
                    )
                return
            watched[day] = span
            last = None if span.last is None else nanoseconds(span.last)
            self._db.execute(
                "INSERT OR REPLACE INTO rollup_watched VALUES (?, ?, ?, ?)",
                (sensor, day.isoformat(), nanoseconds(span.first), last),
            )

    def watched_days(self, spans: dict[str, tuple[datetime, datetime]]) -> list[tuple[str, date]]:
        """The (sensor, day) pairs watched for readings of the sensor anywhere in its
        span [first, last] of `spans`."""
        with self._lock:
            pairs = []
            for sensor, (first, last) in spans.items():
                watched = self._watching.get(sensor, {})
                pairs += [(sensor, d) for d, span in watched.items() if span.overlaps(first, last)]
            return pairs

    def among_queued(self, pairs: Iterable[tuple[str, date]]) -> set[tuple[str, date]]:
        """Those of `pairs` that wait to be computed (`queued`), under one lock."""
        with self._lock:
            return self._queued.intersection(pairs)

    def close(self) -> None:
        self._db.close()

    def _write(self, pairs: set[tuple[str, date]]) -> None:
        self._mark += 1
        rows = [(sensor, day.isoformat(), self._mark) for sensor, day in sorted(pairs)]
        self._db.executemany("INSERT OR REPLACE INTO rollup_pending VALUES (?, ?, ?)", rows)


def watched_sensors(fleet: Fleet) -> dict[str, Watched]:
    """Every temperature sensor of the fleet by id."""
    by_asset: dict[str, list[str]] = {}
    for _site, _gateway, sensor, asset in fleet.sensors():
        by_asset.setdefault(asset.id, []).append(sensor.id)
    return {
        sensor.id: Watched(site, sensor, asset, tuple(by_asset[asset.id]))
        for site, _gateway, sensor, asset in fleet.sensors()
        if sensor.kind == "temperature"
    }


#: Before any moment a record was computed up to.
_NEVER = datetime.min.replace(tzinfo=UTC)


def _widen(
    spans: dict[str, tuple[datetime, datetime]], sensor: str, first: datetime, last: datetime
) -> None:
    """Widen the sensor's span in `spans` to cover [first, last]."""
    span = spans.get(sensor)
    if span is None:
        spans[sensor] = (first, last)
    elif first < span[0] or last > span[1]:
        spans[sensor] = (min(first, span[0]), max(last, span[1]))


@lru_cache(maxsize=256)
def _untouched_span(day: date, tz: str, interval_s: float) -> tuple[datetime, datetime, date]:
    """Reading times [start, end) that touch no local day but `day` (touched_days), and
    the day; one tuple shared by every sensor of that zone and interval."""
    start, end = compliance.local_day_bounds(day, tz)
    reach = timedelta(seconds=compliance.reach_s(interval_s))
    return start + reach, end - reach, day


class DayWriter:
    """Computes local days of one sensor from its readings in InfluxDB and writes their points.

    With the fleet's `history`, each part of a day is judged by the limits of the fleet
    version in force then (coldchain.rollup.day_in_parts); without it, by the limits
    of the sensor as given.
    """

    def __init__(self, influx: Influx, history: FleetHistory | None = None) -> None:
        self._influx = influx
        self._history = history
        self._watched_in: dict[int, dict[str, Watched]] = {}

    def write(self, watched: Watched, first_day: date, last_day: date) -> Span | None:
        """Compute the local days first_day..last_day of one sensor and write their points;
        the span of reading times that can still change them beyond their reach (end None:
        an excursion goes on past the last reading), or None when their reach is all."""
        tz = watched.site.timezone
        start, _ = compliance.local_day_bounds(first_day, tz)
        _, end = compliance.local_day_bounds(last_day, tz)
        periods = self._periods(watched, start, end)
        if len(periods) > 1 and first_day < last_day:
            days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
            return _merged([self.write(watched, day, day) for day in days])
        if len(periods) > 1:
            record, judged, times = self._in_parts(watched, first_day, periods, preliminary=False)
            self._write(watched, [record], times)
            self._downsample(watched, start, end)
            return _span(judged, start, end, watched.sensor.interval_s, record.undecided)
        judging = periods[0][2]
        judged = self._judged(judging, start, end)
        records = day_records(
            judged.samples,
            first_day,
            last_day,
            judging.alarm_band,
            judging.asset.limits.regulatory_max_c,
            watched.sensor.interval_s,
            tz,
            judging.rules,
            judged.events,
        )
        self._write(watched, records, judged.samples)
        self._downsample(watched, start, end)
        undecided = any(record.undecided for record in records)
        return _span(judged, start, end, watched.sensor.interval_s, undecided)

    def write_so_far(self, watched: Watched, now: datetime) -> None:
        """Compute the local day under way at `now` (UTC) up to `now` and write its
        preliminary point."""
        tz = watched.site.timezone
        today = local_date(now, tz)
        start, _ = compliance.local_day_bounds(today, tz)
        if now == start:
            return  # nothing of the day has passed yet
        periods = self._periods(watched, start, now)
        if len(periods) > 1:
            record, _, times = self._in_parts(watched, today, periods, preliminary=True)
            self._write(watched, [record], times)
            self._downsample(watched, start, now)
            return
        judging = periods[0][2]
        judged = self._judged(judging, start, now)
        record = day_so_far(
            judged.samples,
            today,
            now,
            judging.alarm_band,
            judging.asset.limits.regulatory_max_c,
            watched.sensor.interval_s,
            tz,
            judging.rules,
            judged.events,
        )
        self._write(watched, [record], judged.samples)
        self._downsample(watched, start, now)

    def _in_parts(
        self,
        watched: Watched,
        day: date,
        periods: Sequence[tuple[datetime, datetime, Watched]],
        preliminary: bool,
    ) -> tuple[DayRecord, Judged, list[Sample]]:
        """The day's record from its parts under different limits, the span read and the
        readings."""
        parts, read = [], []
        for begin, until, judging in periods:
            judged = self._judged(judging, begin, until)
            read.append(judged)
            parts.append(
                Part(
                    begin,
                    until,
                    judging.alarm_band,
                    judging.asset.limits.regulatory_max_c,
                    judging.rules,
                    judged.samples,
                    judged.events,
                )
            )
        record = day_in_parts(parts, day, watched.sensor.interval_s, preliminary)
        first, last = min(j.first for j in read), max(j.last for j in read)
        return record, Judged([], [], first, last), [s for part in parts for s in part.samples]

    def _periods(
        self, watched: Watched, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime, Watched]]:
        """The parts of UTC [start, end) whose limits differ, each with the sensor as the
        fleet version in force then has it. A version without the sensor (before it was
        added, after it was removed) takes the limits of the nearest part that has it."""
        if self._history is None:
            return [(start, end, watched)]
        found = [
            (begin, until, self._watched_of(version).get(watched.sensor.id))
            for begin, until, version in self._history.periods(start, end)
        ]
        known = [one for _, _, one in found if one is not None]
        judging = known[0] if known else watched
        periods: list[tuple[datetime, datetime, Watched]] = []
        for begin, until, one in found:
            judging = one or judging
            if periods and periods[-1][2].judged_alike(judging):
                periods[-1] = (periods[-1][0], until, judging)
            else:
                periods.append((begin, until, judging))
        return periods

    def _watched_of(self, version: Version) -> dict[str, Watched]:
        watched = self._watched_in.get(version.number)
        if watched is None:
            watched = self._watched_in[version.number] = watched_sensors(version.fleet)
        return watched

    def _downsample(self, watched: Watched, start: datetime, end: datetime) -> None:
        try:
            self._influx.query(downsample.query(watched.sensor.id, start, end))
        except InfluxRejected as exc:
            raise InfluxRejected(
                f"{exc} (the 15-minute series needs InfluxDB set up by "
                "`coldchain-ingest influx setup`, docs/influxdb-schema.md)"
            ) from exc

    def _judged(self, watched: Watched, start: datetime, end: datetime) -> compliance.Judged:
        """The sensor's readings from `start` to `end`, judged as the engine judges them."""
        return compliance.judged_readings(
            StoredReadings(
                self._influx.rows, watched.asset.id, watched.sensor.id, watched.asset_sensors
            ),
            start,
            end,
            watched.sensor.interval_s,
            [watched.alarm_band, watched.legal_band],
            watched.rules,
        )

    def _write(
        self, watched: Watched, records: Sequence[DayRecord], samples: Sequence[Sample]
    ) -> None:
        """Write the records, their readings (`samples`) marked by the probe's checks."""
        site, asset, sensor = watched.site.id, watched.asset.id, watched.sensor.id
        checks = self._checks(sensor)
        times = sorted(sample.ts for sample in samples)
        marked = [r.marked(checks, watched.site.timezone, times) for r in records]
        self._influx.write([points.rollup_line(site, asset, sensor, r) for r in marked])

    def entered_checks(self) -> list[tuple[int, str, date]]:
        """Every calibration check in InfluxDB: its id, sensor and the day it was made."""
        found = []
        for _, checked_on, *_, sensor, check in self._influx.rows(influxql.calibration_checks()):
            try:
                found.append((int(check), str(sensor), date.fromisoformat(str(checked_on))))
            except (TypeError, ValueError):
                log.error("calibration point %r of %r is garbled; left out", check, sensor)
        return found

    def _checks(self, sensor: str) -> list[Calibration]:
        """The probe's calibration checks from the alerts service's `calibration` points,
        in the order they were made, then entered; a garbled point is logged and left out
        (the day is then judged without it, as the report would be without the row)."""
        found = []
        for entered_ns, *values in self._influx.rows(influxql.calibration_checks(sensor)):
            try:
                check = from_fields(
                    sensor, dict(zip(influxql.CALIBRATION_FIELDS, values, strict=True))
                )
            except ValueError as exc:
                log.error("%s; left out", exc)
                continue
            found.append((check.checked_on, entered_ns, check))
        return [check for _, _, check in sorted(found, key=lambda f: (f[0], f[1]))]


def _merged(spans: Sequence[Span | None]) -> Span | None:
    """One span over those of several days: from the first to the last, open if any is."""
    found = [span for span in spans if span is not None]
    if not found:
        return None
    last = [span.last for span in found]
    end = None if None in last else max(t for t in last if t is not None)
    return Span(min(span.first for span in found), end)


def _span(
    judged: Judged, start: datetime, end: datetime, interval_s: float, undecided: bool
) -> Span | None:
    reach = timedelta(seconds=compliance.reach_s(interval_s))
    if not undecided and judged.first >= start - reach and judged.last <= end + reach:
        return None
    return Span(judged.first, None if undecided else judged.last)


@dataclass(frozen=True)
class _Sensors:
    """The temperature sensors of one fleet version, as the job looks them up."""

    version: int
    watched: dict[str, Watched]
    sites: list[tuple[Site, list[str]]]
    by_asset_sensor: dict[str, list[Watched]]
    """The temperature sensors of each sensor's asset: whose readings its events hold."""

    @classmethod
    def of(cls, version: int, fleet: Fleet) -> _Sensors:
        watched = watched_sensors(fleet)
        sites = [
            (site, [w.sensor.id for w in watched.values() if w.site.id == site.id])
            for site in fleet.sites
        ]
        by_asset_sensor: dict[str, list[Watched]] = {}
        for one in watched.values():
            for sensor in one.asset_sensors:
                by_asset_sensor.setdefault(sensor, []).append(one)
        return cls(version, watched, sites, by_asset_sensor)


class RollupJob:
    """Marks the days stored readings change, and computes the marked days once ended.

    The sensors are those of the newest fleet version; each day is judged by the
    versions in force during it (DayWriter). A version that takes effect on a day
    already computed marks that day and the ones after it again; so does a calibration
    check entered after its day was computed.
    """

    def __init__(
        self,
        fleet: Fleet | FleetHistory,
        writer: DayWriter,
        pending: PendingDays,
        so_far_runs: int = 1,
    ) -> None:
        """`so_far_runs`: each sensor's record of the day under way is computed again
        every this many runs, a share of the sensors at each run."""
        self._history = fleet if isinstance(fleet, FleetHistory) else FleetHistory(fleet)
        self._writer = writer
        self._pending = pending
        self._so_far_runs = so_far_runs
        #: The moment (UTC) up to which each sensor's day under way was last computed.
        self._so_far_at: dict[str, datetime] = {}
        self._sensors = _Sensors.of(self._history.number, self._history.latest)
        self._stop = threading.Event()
        #: Per sensor, the last single day it marked and the span of reading times
        #: [start, end) that touch only that day.
        self._inside: dict[str, tuple[datetime, datetime, date]] = {}

    def _current(self) -> _Sensors:
        """The sensors of the newest fleet version (a new one replaces them whole)."""
        sensors = self._sensors
        if sensors.version != self._history.number:
            sensors = self._sensors = _Sensors.of(self._history.number, self._history.latest)
        return sensors

    def stop(self) -> None:
        """Let a run in progress end after the day it is computing."""
        self._stop.set()

    def note(self, stored: Sequence[Telemetry]) -> None:
        """Mark the days that the readings and events of these stored messages can change.

        A door opening or defrost start changes the readings of its asset's temperature
        sensors up to the longest grace after it.
        """
        spans: dict[str, tuple[datetime, datetime]] = {}
        sensors = self._current()
        for message in stored:
            for reading in message.readings:  # _widen, inline: it runs for every reading
                sensor, ts = reading.sensor, reading.ts
                span = spans.get(sensor)
                if span is None:
                    spans[sensor] = (ts, ts)
                elif ts < span[0]:
                    spans[sensor] = (ts, span[1])
                elif ts > span[1]:
                    spans[sensor] = (span[0], ts)
            for event in message.events:
                if event.kind not in (EventKind.DOOR_OPEN, EventKind.DEFROST_START):
                    continue
                for held in sensors.by_asset_sensor.get(event.sensor, ()):
                    grace = timedelta(seconds=held.rules.lookback_s)
                    _widen(spans, held.sensor.id, event.ts, event.ts + grace)
        pairs = self._pending.watched_days(spans)
        # Most batches: each sensor's readings fall on a day still marked for it.
        inside = {}
        for sensor, (first, last) in spans.items():
            known = self._inside.get(sensor)
            if known is not None and known[0] <= first and last < known[1]:
                inside[sensor] = (sensor, known[2])
        marked = self._pending.among_queued(inside.values())
        for sensor, (first, last) in spans.items():
            if inside.get(sensor) in marked:
                continue
            watched = sensors.watched.get(sensor)
            if watched is None:
                continue
            days = touched_days(first, last, watched.sensor.interval_s, watched.site.timezone)
            pairs += [(sensor, day) for day in days]
            if len(days) == 1:
                tz, interval_s = watched.site.timezone, watched.sensor.interval_s
                self._inside[sensor] = _untouched_span(days[0], tz, interval_s)
        self._pending.add(pairs)

    def run(self, now: datetime) -> int:
        """Compute every marked day that ended before `now` (UTC), then the day under way
        up to `now` for every sensor; returns how many ended days it computed.

        A day that could not be read or written stays marked and is tried again by the
        next run; while InfluxDB is unavailable the run ends at the first failure.
        """
        computed = 0
        self._mark_versions(now)
        known = self._current()
        try:
            self._mark_checks(known, now)
        except InfluxUnavailable as exc:
            log.warning("calibration checks wait for InfluxDB: %s", exc)
            return computed
        for site, sensors in known.sites:
            if not sensors:
                continue
            yesterday = local_date(now, site.timezone) - timedelta(days=1)
            self._pending.close_days(site.id, sensors, yesterday)
            for sensor, day, mark in self._pending.take(sensors, yesterday):
                if self._stop.is_set():
                    return computed
                try:
                    span = self._writer.write(known.watched[sensor], day, day)
                except InfluxUnavailable as exc:
                    log.warning("compliance days wait for InfluxDB: %s", exc)
                    return computed
                except InfluxRejected as exc:
                    log.error("compliance of %s on %s not stored: %s", sensor, day, exc)
                    continue
                self._pending.watch(sensor, day, span)
                self._pending.done(sensor, day, mark)
                computed += 1
            if not self._so_far(known, sensors, now):
                return computed
        if computed:
            log.info("computed %d days into %s", computed, measurements.COMPLIANCE_DAILY)
        return computed

    def _mark_versions(self, now: datetime) -> None:
        """Mark the ended days from each new fleet version's `valid_from` on, of every
        temperature sensor it judges differently: they were computed with the limits
        before it (a version usually takes effect today, and then marks nothing)."""
        done = self._pending.fleet_version()
        for version in sorted(self._history.versions(), key=lambda v: v.number):
            if version.number <= done or version.valid_from is None:
                continue
            before = watched_sensors(
                self._history.version_at(version.valid_from - timedelta(microseconds=1)).fleet
            )
            pairs = []
            for one in watched_sensors(version.fleet).values():
                old = before.get(one.sensor.id)
                if old is not None and old.judged_alike(one):
                    continue
                tz = one.site.timezone
                day, today = local_date(version.valid_from, tz), local_date(now, tz)
                while day < today:
                    pairs.append((one.sensor.id, day))
                    day += timedelta(days=1)
            self._pending.add_for_version(pairs, version.number)

    def _mark_checks(self, known: _Sensors, now: datetime) -> None:
        """Mark the ended days from each new calibration check's day on, of its sensor:
        it is in force from then, so they were computed without it (the alerts service
        writes each check as it is entered, usually the day it was made)."""
        seen = self._pending.checks_seen()
        new = [found for found in self._writer.entered_checks() if found[0] not in seen]
        if not new:
            return
        pairs = []
        for _, sensor, day in new:
            watched = known.watched.get(sensor)
            if watched is None:
                continue
            today = local_date(now, watched.site.timezone)
            while day < today:
                pairs.append((sensor, day))
                day += timedelta(days=1)
        self._pending.add_for_checks(pairs, [check for check, _, _ in new])

    def _so_far(self, known: _Sensors, sensors: Sequence[str], now: datetime) -> bool:
        """Write the preliminary record of today for the share of the sensors whose
        record is oldest (`so_far_runs`); False when InfluxDB is unavailable (the next
        run writes them, with what is stored by then).

        Each costs a read of the sensor's day so far: at 20:00 with a reading a minute,
        about 14 ms and 9 ms of ingest's CPU. Every sensor at every run would not end
        within a minute past a few thousand sensors.
        """
        share = -(-len(sensors) // self._so_far_runs)
        for sensor in sorted(sensors, key=lambda one: self._so_far_at.get(one, _NEVER))[:share]:
            if self._stop.is_set():
                return False
            try:
                self._writer.write_so_far(known.watched[sensor], now)
            except InfluxUnavailable as exc:
                log.warning("today's compliance waits for InfluxDB: %s", exc)
                return False
            except InfluxRejected as exc:
                log.error("today's compliance of %s not stored: %s", sensor, exc)
            self._so_far_at[sensor] = now
        return True
