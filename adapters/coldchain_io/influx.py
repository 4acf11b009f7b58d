"""The HTTP connection to InfluxDB's 1.x API, and the readings compliance is judged on.

Line protocol on `/write` and InfluxQL on `/query` are answered by InfluxDB 1.x
natively, by 2.x through its v1-compatibility endpoints (token auth, a bucket
mapped to the database name) and by 3.x natively, so this one cut serves every
generation. `InfluxHttp` makes the requests and hands back InfluxDB's answers;
what an answer means (try again, or the points are at fault) and what the user
should check is said by each service's own client, which knows its settings.
`StoredReadings` reads one sensor's readings and events as
coldchain.compliance.judged_readings asks for them (ingest's rollup, the reports).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from coldchain.compliance import GraceEvent, Sample
from coldchain.contract import EventKind
from coldchain_io import influxql
from coldchain_io.lineprotocol import nanoseconds

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: Rows of an InfluxQL answer: the `values` of its series (time first, in ns).
Rows = list[list[Any]]

ClientT = TypeVar("ClientT", bound="InfluxHttp")


class InfluxSettings(BaseSettings):
    """Where InfluxDB is and how to log in to it; a subclass gives the environment prefix."""

    influx_url: str = "http://localhost:8086"
    influx_db: str = "coldchain"
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    influx_token: SecretStr | None = Field(
        default=None, description="InfluxDB 2.x/3.x token for the v1-compatible API."
    )

    def influx(self, kind: type[ClientT], timeout_s: float = 10.0) -> ClientT:
        """A client (`InfluxHttp` or a service's subclass) of the configured database;
        raises ValueError when no URL is set."""
        if not self.influx_url:
            raise ValueError("no InfluxDB is configured (influx_url is empty)")
        return kind(
            self.influx_url,
            self.influx_db,
            self.influx_username,
            _secret(self.influx_password),
            _secret(self.influx_token),
            timeout_s,
        )


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


class InfluxHttp:
    """Requests to one database of one InfluxDB; raises httpx.HTTPError when no answer came."""

    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        headers = {"Authorization": f"Token {token}"} if token else {}
        auth = (username, password or "") if username else None
        self.url = url
        self.database = database
        self._http = httpx.Client(base_url=url, headers=headers, auth=auth, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def send_write(self, lines: Sequence[str]) -> httpx.Response:
        """POST `lines` (line protocol, nanosecond times) to /write."""
        return self.send(
            "POST",
            "/write",
            params={"db": self.database, "precision": "ns"},
            content="\n".join(lines).encode(),
        )

    def send_query(self, influxql: str, chunk_size: int | None = None) -> httpx.Response:
        """POST one InfluxQL statement to /query, times in ns; with `chunk_size`, the answer
        comes in chunks of that many rows (no server row limit applies), one JSON a line."""
        data = {"db": self.database, "q": influxql, "epoch": "ns"}
        if chunk_size is not None:
            data |= {"chunked": "true", "chunk_size": str(chunk_size)}
        return self.send("POST", "/query", data=data)

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._http.request(method, path, **kwargs)

    def ping(self) -> bool:
        """InfluxDB answers /ping."""
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False


def chunked_results(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The statement results of a chunked answer, in order; a chunk that failed as a
    whole comes as one result with its `error`."""
    for line in response.text.splitlines():
        if line.strip():
            chunk = json.loads(line)
            yield from chunk.get("results", [chunk])


def result_rows(result: dict[str, Any]) -> Rows:
    """The `values` rows of every series of one statement's result."""
    rows: Rows = []
    for series in result.get("series", []):
        rows.extend(series.get("values", []))
    return rows


def from_ns(ns: int) -> datetime:
    """Nanoseconds since the epoch as a UTC datetime (microsecond resolution)."""
    return _EPOCH + timedelta(microseconds=int(ns) // 1000)


class StoredReadings:
    """One sensor's readings and its asset's door openings and defrost starts in InfluxDB,
    as coldchain.compliance.judged_readings reads them (times UTC); `rows` runs a query."""

    def __init__(
        self, rows: Callable[[str], Rows], asset: str, sensor: str, asset_sensors: Sequence[str]
    ) -> None:
        self._rows = rows
        self._asset, self._sensor, self._sensors = asset, sensor, asset_sensors

    def readings(self, first: datetime, last: datetime) -> list[Sample]:
        rows = self._rows(influxql.sensor_readings(self._asset, self._sensor, first, last))
        return [Sample(from_ns(ts), float(temp_c)) for ts, temp_c in rows]

    def last_time(
        self, since: datetime, before: datetime, low_c: float, high_c: float
    ) -> datetime | None:
        return self._time(nanoseconds(since), nanoseconds(before) - 1, low_c, high_c, True)

    def first_time(
        self, after: datetime, until: datetime, low_c: float, high_c: float
    ) -> datetime | None:
        return self._time(nanoseconds(after) + 1, nanoseconds(until), low_c, high_c, False)

    def grace_events(self, first: datetime, last: datetime) -> list[GraceEvent]:
        rows = self._rows(influxql.grace_events(self._sensors, first, last))
        return [GraceEvent(from_ns(ts), EventKind(kind)) for ts, _seq, kind in rows]

    def _time(
        self, since_ns: int, until_ns: int, low_c: float, high_c: float, latest: bool
    ) -> datetime | None:
        query = influxql.reading_time(
            self._asset, self._sensor, since_ns, until_ns, low_c, high_c, latest
        )
        rows = self._rows(query)
        return from_ns(rows[0][0]) if rows else None
