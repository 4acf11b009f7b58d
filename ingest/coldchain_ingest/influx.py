"""InfluxDB adapter: line protocol to `/write`, InfluxQL to `/query`, over the 1.x HTTP API.

InfluxDB 1.x speaks this natively, 2.x through its v1-compatibility endpoints
(token auth, a bucket mapped to the database name) and 3.x natively, so this
one cut serves every generation. It knows nothing of readings or rules.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from coldchain_ingest.errors import InfluxRejected, InfluxUnavailable


class Influx:
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
        self.database = database
        #: InfluxDB's answer when it last refused our account (401, 403); None once a
        #: request of ours succeeded again. Requests it refuses raise InfluxUnavailable.
        self.refused: str | None = None
        self._http = httpx.Client(base_url=url, headers=headers, auth=auth, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def write(self, lines: list[str]) -> None:
        """Write points (nanosecond timestamps); raises InfluxUnavailable or InfluxRejected."""
        body = "\n".join(lines).encode()
        response = self._request(
            "POST", "/write", params={"db": self.database, "precision": "ns"}, content=body
        )
        if response.status_code != 204:
            _raise_for(response)

    def query(self, influxql: str) -> list[dict[str, Any]]:
        """Run InfluxQL; returns the `series` of the first statement ([] when empty)."""
        response = self._request(
            "POST", "/query", data={"db": self.database, "q": influxql, "epoch": "ns"}
        )
        if response.status_code != 200:
            _raise_for(response)
        result = response.json()["results"][0]
        if "error" in result:
            raise InfluxRejected(f"query {influxql!r} failed: {result['error']}")
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def rows(self, influxql: str, chunk_size: int = 10000) -> list[list[Any]]:
        """Run one InfluxQL statement streamed in chunks (no server row limit applies);
        the `values` rows of all its series."""
        response = self._request(
            "POST",
            "/query",
            data={
                "db": self.database,
                "q": influxql,
                "epoch": "ns",
                "chunked": "true",
                "chunk_size": str(chunk_size),
            },
        )
        if response.status_code != 200:
            _raise_for(response)
        rows: list[list[Any]] = []
        for line in response.text.splitlines():
            if not line.strip():
                continue
            chunk = json.loads(line)
            for result in chunk.get("results", [chunk]):
                if "error" in result:
                    raise InfluxRejected(f"query {influxql!r} failed: {result['error']}")
                for series in result.get("series", []):
                    rows.extend(series.get("values", []))
        return rows

    def create_database(self) -> None:
        response = self._request("POST", "/query", data={"q": f'CREATE DATABASE "{self.database}"'})
        if response.status_code != 200:
            _raise_for(response)

    def ping(self) -> bool:
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(
                f"InfluxDB at {self._http.base_url} unreachable: {exc}"
            ) from exc
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
