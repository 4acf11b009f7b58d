"""InfluxDB adapter of the alerts service, over the 1.x HTTP API (also 2.x v1, 3.x).

Writes the queued `alert_action` and `audit_chain` points, reads a sensor's
readings for an alert's page and the audit chain's copy for `audit verify`.
Raises InfluxError with a message saying what to check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from coldchain import measurements
from coldchain.influxql import literal
from coldchain.lineprotocol import nanoseconds


class InfluxError(Exception):
    """InfluxDB was unreachable or refused the request."""


class Influx:
    def __init__(
        self,
        url: str,
        database: str,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        auth = (username, password or "") if username else None
        self.url = url
        self.database = database
        self._http = httpx.Client(base_url=url, auth=auth, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def write(self, lines: list[str]) -> None:
        response = self._request(
            "POST",
            "/write",
            params={"db": self.database, "precision": "ns"},
            content="\n".join(lines).encode(),
        )
        if response.status_code != 204:
            raise InfluxError(
                f"InfluxDB at {self.url} refused the write ({response.status_code}): "
                f"{response.text.strip()[:300]}"
            )

    def query(self, influxql: str) -> list[dict[str, Any]]:
        """The series of the first statement's result ([] when empty); times in ns."""
        response = self._request(
            "POST", "/query", data={"db": self.database, "q": influxql, "epoch": "ns"}
        )
        if response.status_code != 200:
            raise InfluxError(
                f"InfluxDB at {self.url} refused the query ({response.status_code}): "
                f"{response.text.strip()[:300]}"
            )
        result = response.json()["results"][0]
        if "error" in result:
            raise InfluxError(f"InfluxDB could not run {influxql!r}: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def readings(
        self, sensor: str, start: datetime, end: datetime, every_s: int
    ) -> list[tuple[int, float]]:
        """(ns, °C) of `sensor` from `start` to `end`; means over `every_s` when above 0."""
        where = (
            f'"sensor" = {literal(sensor)} '
            f"AND time >= {nanoseconds(start)} AND time <= {nanoseconds(end)}"
        )
        if every_s > 0:
            query = (
                f'SELECT mean("temp_c") FROM "{measurements.TEMPERATURE}" WHERE {where} '
                f"GROUP BY time({every_s}s) fill(none)"
            )
        else:
            query = f'SELECT "temp_c" FROM "{measurements.TEMPERATURE}" WHERE {where}'
        points: list[tuple[int, float]] = []
        for series in self.query(query):
            points.extend((int(t), float(v)) for t, v in series["values"] if v is not None)
        return points

    def audit_copy(self) -> dict[int, str]:
        """seq -> sha256 of every audit-log entry copied into InfluxDB."""
        copy = {}
        for series in self.query(f'SELECT "seq", "sha256" FROM "{measurements.AUDIT_CHAIN}"'):
            for _, seq, sha256 in series["values"]:
                copy[int(seq)] = str(sha256)
        return copy

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise InfluxError(f"InfluxDB at {self.url} is unreachable: {exc}") from exc
