"""InfluxDB read adapter: a sensor's readings in a time range, and the closings of its alerts.

InfluxQL on `/query` is answered by InfluxDB 1.x natively, by 2.x through its
v1-compatibility endpoints (token auth, a bucket named like the database) and
by 3.x natively, so this one cut serves every generation. Answers are streamed
in chunks, so a month of 5-second readings never meets a server's row limit.
It knows nothing of limits or reports: times and ids in, samples and closings out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from coldchain import influxql
from coldchain.compliance import GraceEvent, Sample
from coldchain.contract import EventKind
from coldchain.corrective import Closing
from coldchain.influxql import literal
from coldchain.lineprotocol import nanoseconds
from coldchain.measurements import ALERT_ACTION, TEMPERATURE
from coldchain_reports.errors import IncompleteRecord, InfluxRejected, InfluxUnavailable

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Readings:
    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        chunk_size: int = 10000,
        timeout_s: float = 30.0,
    ) -> None:
        headers = {"Authorization": f"Token {token}"} if token else {}
        auth = (username, password or "") if username else None
        self.database = database
        self.chunk_size = chunk_size
        self._http = httpx.Client(base_url=url, headers=headers, auth=auth, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Readings:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def temperatures(self, asset: str, sensor: str, start: datetime, end: datetime) -> list[Sample]:
        """Readings of `sensor` watching `asset` with start <= ts < end (UTC), oldest first."""
        influxql = (
            f'SELECT "temp_c" FROM "{TEMPERATURE}" '
            f'WHERE "asset" = {literal(asset)} AND "sensor" = {literal(sensor)} '
            f"AND time >= {nanoseconds(start)} AND time < {nanoseconds(end)}"
        )
        rows = self.query(influxql)
        return [Sample(ts=from_ns(int(ts)), temp_c=float(temp_c)) for ts, temp_c in rows]

    def sensor(self, asset: str, sensor: str, asset_sensors: Sequence[str]) -> SensorReadings:
        """One sensor's readings and its asset's events, as
        coldchain.compliance.judged_readings reads them."""
        return SensorReadings(self, asset, sensor, asset_sensors)

    def closings(self, asset: str, sensor: str, since: datetime) -> list[Closing]:
        """Closings of alerts about `asset` (this sensor's, or the asset's own) at or after
        `since` (UTC), from the alerts service's alert actions."""
        influxql = (
            'SELECT "alert_id", "severity", "started_ns", "actor", "cause", "corrective_action", '
            f'"product_decision", "comment" FROM "{ALERT_ACTION}" '
            f'WHERE "action" = \'closed\' AND "asset" = {literal(asset)} '
            f'AND ("sensor" = {literal(sensor)} OR "sensor" = \'\') '
            f"AND time >= {nanoseconds(since)}"
        )
        return [_closing(row) for row in self.query(influxql)]

    def query(self, influxql: str) -> list[list[Any]]:
        """Run one InfluxQL statement; the `values` rows of all its series, chunk by chunk."""
        try:
            response = self._http.post(
                "/query",
                data={
                    "db": self.database,
                    "q": influxql,
                    "epoch": "ns",
                    "chunked": "true",
                    "chunk_size": str(self.chunk_size),
                },
            )
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(
                f"InfluxDB at {self._http.base_url} is unreachable ({exc}); "
                "check COLDCHAIN_REPORT_INFLUX_URL and that InfluxDB runs"
            ) from exc
        if response.status_code != 200:
            _raise_for(response)
        rows: list[list[Any]] = []
        for line in response.text.splitlines():
            if line.strip():
                rows.extend(_values(json.loads(line), influxql, self.database))
        return rows


class SensorReadings:
    """One sensor's readings and its asset's door openings and defrost starts (UTC)."""

    def __init__(
        self, readings: Readings, asset: str, sensor: str, asset_sensors: Sequence[str]
    ) -> None:
        self._readings = readings
        self._asset, self._sensor, self._sensors = asset, sensor, asset_sensors

    def readings(self, first: datetime, last: datetime) -> list[Sample]:
        rows = self._readings.query(
            influxql.sensor_readings(self._asset, self._sensor, first, last)
        )
        return [Sample(ts=from_ns(int(ts)), temp_c=float(temp_c)) for ts, temp_c in rows]

    def last_time(
        self, since: datetime, before: datetime, low_c: float, high_c: float
    ) -> datetime | None:
        return self._time(nanoseconds(since), nanoseconds(before) - 1, low_c, high_c, True)

    def first_time(
        self, after: datetime, until: datetime, low_c: float, high_c: float
    ) -> datetime | None:
        return self._time(nanoseconds(after) + 1, nanoseconds(until), low_c, high_c, False)

    def grace_events(self, first: datetime, last: datetime) -> list[GraceEvent]:
        rows = self._readings.query(influxql.grace_events(self._sensors, first, last))
        return [GraceEvent(from_ns(int(ts)), EventKind(kind)) for ts, _seq, kind in rows]

    def _time(
        self, since_ns: int, until_ns: int, low_c: float, high_c: float, latest: bool
    ) -> datetime | None:
        query = influxql.reading_time(
            self._asset, self._sensor, since_ns, until_ns, low_c, high_c, latest
        )
        rows = self._readings.query(query)
        return from_ns(int(rows[0][0])) if rows else None


def _values(chunk: dict[str, Any], influxql: str, database: str) -> list[list[Any]]:
    if "error" in chunk:
        raise InfluxRejected(f"InfluxDB refused {influxql!r}: {chunk['error']}")
    rows: list[list[Any]] = []
    for result in chunk.get("results", []):
        if "error" in result:
            hint = (
                " (is COLDCHAIN_REPORT_INFLUX_DB right?)" if "database" in result["error"] else ""
            )
            raise InfluxRejected(f"query on database {database!r} failed: {result['error']}{hint}")
        for series in result.get("series", []):
            rows.extend(series.get("values", []))
    return rows


def _closing(row: list[Any]) -> Closing:
    closed_ns, alert_id, severity, started_ns, actor, cause, action, decision, comment = row
    if started_ns is None:
        raise IncompleteRecord(
            f"the closing of alert {alert_id} ({from_ns(int(closed_ns)).isoformat()}) has no "
            "started_ns, so it cannot be matched with an excursion: the alerts service must "
            f"write it with every {ALERT_ACTION} point (docs/influxdb-schema.md)"
        )
    return Closing(
        alert_id=str(alert_id),
        severity=str(severity),
        started_at=from_ns(int(started_ns)),
        closed_at=from_ns(int(closed_ns)),
        actor=str(actor or ""),
        cause=str(cause or ""),
        corrective_action=str(action or ""),
        product_decision=str(decision or ""),
        comment=str(comment or ""),
    )


def from_ns(ns: int) -> datetime:
    """Nanoseconds since the epoch as a UTC datetime (microsecond resolution)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _raise_for(response: httpx.Response) -> None:
    detail = response.text.strip()[:500]
    if response.status_code in (401, 403):
        raise InfluxUnavailable(
            f"InfluxDB refused our account ({response.status_code}): {detail}; check "
            "COLDCHAIN_REPORT_INFLUX_USERNAME and _PASSWORD (or _TOKEN) and that the "
            "account may read the database"
        )
    if 400 <= response.status_code < 500:
        raise InfluxRejected(f"InfluxDB refused the query ({response.status_code}): {detail}")
    raise InfluxUnavailable(f"InfluxDB answered {response.status_code}: {detail}")
