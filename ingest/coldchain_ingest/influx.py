"""Ingest's InfluxDB client: what InfluxDB's answers mean for ingest's writes and queries.

The requests are coldchain_io.influx's (the 1.x HTTP API, which every InfluxDB
generation answers); here an answer becomes InfluxUnavailable (the points wait
and are written again) or InfluxRejected (the points themselves are refused).
It knows nothing of readings or rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from coldchain_ingest.errors import InfluxRejected, InfluxUnavailable
from coldchain_io.influx import InfluxHttp, Rows, chunked_results, result_rows


class Influx(InfluxHttp):
    #: InfluxDB's answer when it last refused our account (401, 403); None once a
    #: request of ours succeeded again. Requests it refuses raise InfluxUnavailable.
    refused: str | None = None

    def write(self, lines: list[str]) -> None:
        """Write points (nanosecond timestamps); raises InfluxUnavailable or InfluxRejected."""
        response = self._answered(self.send_write, lines)
        if response.status_code != 204:
            _raise_for(response)

    def query(self, influxql: str) -> list[dict[str, Any]]:
        """Run InfluxQL; returns the `series` of the first statement ([] when empty)."""
        response = self._answered(self.send_query, influxql)
        if response.status_code != 200:
            _raise_for(response)
        result = response.json()["results"][0]
        if "error" in result:
            raise InfluxRejected(f"query {influxql!r} failed: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def rows(self, influxql: str, chunk_size: int = 10000) -> Rows:
        """Run one InfluxQL statement streamed in chunks (no server row limit applies);
        the `values` rows of all its series."""
        response = self._answered(self.send_query, influxql, chunk_size)
        if response.status_code != 200:
            _raise_for(response)
        rows: Rows = []
        for result in chunked_results(response):
            if "error" in result:
                raise InfluxRejected(f"query {influxql!r} failed: {result['error']}")
            rows.extend(result_rows(result))
        return rows

    def create_database(self) -> None:
        response = self._answered(
            self.send, "POST", "/query", data={"q": f'CREATE DATABASE "{self.database}"'}
        )
        if response.status_code != 200:
            _raise_for(response)

    def _answered(
        self, request: Callable[..., httpx.Response], *args: Any, **kwargs: Any
    ) -> httpx.Response:
        try:
            response = request(*args, **kwargs)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.url} unreachable: {exc}") from exc
        if response.status_code in _REFUSALS:
            self.refused = f"{response.status_code} {response.text.strip()[:300]}"
        elif response.is_success:
            self.refused = None
        return response


#: InfluxDB refuses our account: wrong credentials (401) or no right (403). The database
#: is unavailable to us; the points are not at fault.
_REFUSALS = (401, 403)


def _raise_for(response: httpx.Response) -> None:
    detail = response.text.strip()[:500]
    if response.status_code in _REFUSALS:
        raise InfluxUnavailable(f"InfluxDB refused our account ({response.status_code}): {detail}")
    if response.status_code == 404:
        # "database not found": a setting or an admin's step is missing, not the points.
        raise InfluxUnavailable(f"InfluxDB has no such database (404): {detail}")
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        raise InfluxRejected(f"InfluxDB refused the write ({response.status_code}): {detail}")
    raise InfluxUnavailable(f"InfluxDB answered {response.status_code}: {detail}")
