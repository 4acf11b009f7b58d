"""InfluxDB read adapter: the readings of one sensor in a time range, over the 1.x HTTP API.

InfluxQL on `/query` is answered by InfluxDB 1.x natively, by 2.x through its
v1-compatibility endpoints (token auth, a bucket named like the database) and
by 3.x natively, so this one cut serves every generation. Answers are streamed
in chunks, so a month of 5-second readings never meets a server's row limit.
It knows nothing of limits or reports: times and sensor ids in, samples out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from coldchain.compliance import Sample
from coldchain.measurements import TEMPERATURE
from coldchain_reports.errors import InfluxRejected, InfluxUnavailable

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
            f'WHERE "asset" = {_quoted(asset)} AND "sensor" = {_quoted(sensor)} '
            f"AND time >= {to_ns(start)} AND time < {to_ns(end)}"
        )
        rows = self.query(influxql)
        return [Sample(ts=from_ns(int(ts)), temp_c=float(temp_c)) for ts, temp_c in rows]

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


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def to_ns(moment: datetime) -> int:
    """A timezone-aware datetime as integer nanoseconds since the Unix epoch."""
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def from_ns(ns: int) -> datetime:
    """Nanoseconds since the epoch as a UTC datetime (microsecond resolution)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def _raise_for(response: httpx.Response) -> None:
    detail = response.text.strip()[:500]
    if response.status_code in (401, 403):
        raise InfluxRejected(
            f"InfluxDB refused the credentials ({response.status_code}); "
            "set COLDCHAIN_REPORT_INFLUX_USERNAME/PASSWORD or _TOKEN"
        )
    if 400 <= response.status_code < 500:
        raise InfluxRejected(f"InfluxDB refused the query ({response.status_code}): {detail}")
    raise InfluxUnavailable(f"InfluxDB answered {response.status_code}: {detail}")
