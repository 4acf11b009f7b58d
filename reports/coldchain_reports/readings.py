"""InfluxDB read adapter: a sensor's readings in a time range, and the closings of its alerts.

InfluxQL on `/query` is answered by InfluxDB 1.x natively, by 2.x through its
v1-compatibility endpoints (token auth, a bucket named like the database) and
by 3.x natively, so this one cut serves every generation. Answers are streamed
in chunks, so a month of 5-second readings never meets a server's row limit.
It knows nothing of limits or reports: times and ids in, samples and closings out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from coldchain.compliance import Sample
from coldchain.corrective import ClosedAlert
from coldchain.measurements import ALERT_ACTION, FLEET_LIMITS, TEMPERATURE
from coldchain_io.influx import (
    InfluxHttp,
    Rows,
    StoredReadings,
    chunked_results,
    from_ns,
    result_rows,
)
from coldchain_io.influxql import literal
from coldchain_io.lineprotocol import nanoseconds
from coldchain_reports.errors import IncompleteRecord, InfluxRejected, InfluxUnavailable
from coldchain_reports.limit_periods import LimitPoint


class Readings:
    """What reports read from one InfluxDB database, through `influx`, which it closes."""

    def __init__(self, influx: InfluxHttp, chunk_size: int = 10000) -> None:
        self.database = influx.database
        self.chunk_size = chunk_size
        self._influx = influx

    def close(self) -> None:
        self._influx.close()

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

    def sensor(self, asset: str, sensor: str, asset_sensors: Sequence[str]) -> StoredReadings:
        """One sensor's readings and its asset's events, as
        coldchain.compliance.judged_readings reads them."""
        return StoredReadings(self.query, asset, sensor, asset_sensors)

    def closings(self, asset: str, sensor: str, since: datetime) -> list[ClosedAlert]:
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

    def limit_points(self, asset: str, start: datetime, end: datetime) -> list[LimitPoint]:
        """The `fleet_limits` points of `asset` that say which limits applied over
        [start, end) (UTC): the last at or before `start` and those after it before `end`."""
        select = (
            'SELECT "version", "category", "max_c", "min_c", "regulatory_max_c", "delay_s", '
            f'"changed_by", "reason" FROM "{FLEET_LIMITS}" WHERE "asset" = {literal(asset)} '
        )
        rows = self.query(f"{select}AND time <= {nanoseconds(start)} ORDER BY time DESC LIMIT 1")
        rows += self.query(f"{select}AND time > {nanoseconds(start)} AND time < {nanoseconds(end)}")
        return [_limit_point(row) for row in rows]

    def query(self, influxql: str) -> Rows:
        """Run one InfluxQL statement; the `values` rows of all its series, chunk by chunk."""
        try:
            response = self._influx.send_query(influxql, self.chunk_size)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(
                f"InfluxDB at {self._influx.url} is unreachable ({exc}); "
                "check COLDCHAIN_REPORT_INFLUX_URL and that InfluxDB runs"
            ) from exc
        if response.status_code != 200:
            _raise_for(response)
        rows: Rows = []
        for result in chunked_results(response):
            rows.extend(_values(result, self.database))
        return rows


def _values(result: dict[str, Any], database: str) -> Rows:
    if "error" not in result:
        return result_rows(result)
    hint = " (is COLDCHAIN_REPORT_INFLUX_DB right?)" if "database" in result["error"] else ""
    raise InfluxRejected(f"query on database {database!r} failed: {result['error']}{hint}")


def _limit_point(row: list[Any]) -> LimitPoint:
    valid_ns, version, category, max_c, min_c, regulatory_max_c, delay_s, by, reason = row
    return LimitPoint(
        valid_from=from_ns(int(valid_ns)),
        version=int(version),
        category=str(category or ""),
        max_c=_float(max_c),
        min_c=_float(min_c),
        regulatory_max_c=_float(regulatory_max_c),
        delay_s=_float(delay_s),
        changed_by=str(by or ""),
        reason=str(reason or ""),
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _closing(row: list[Any]) -> ClosedAlert:
    closed_ns, alert_id, severity, started_ns, actor, cause, action, decision, comment = row
    if started_ns is None:
        raise IncompleteRecord(
            f"the closing of alert {alert_id} ({from_ns(int(closed_ns)).isoformat()}) has no "
            "started_ns, so it cannot be matched with an excursion: the alerts service must "
            f"write it with every {ALERT_ACTION} point (docs/influxdb-schema.md)"
        )
    return ClosedAlert(
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
