"""InfluxDB adapter of the alerts service, over the 1.x HTTP API (coldchain_io.influx).

Writes the queued `alert_action` and `audit_chain` points, reads a sensor's
readings for an alert's page and the audit chain's copy for `audit verify`.
Raises InfluxError with a message saying what to check: InfluxUnavailable when
InfluxDB cannot take a request now (try again later), InfluxRefused when it
refused the points themselves (writing them again fails the same way).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from coldchain import measurements
from coldchain_io.influx import InfluxHttp
from coldchain_io.influxql import literal
from coldchain_io.lineprotocol import nanoseconds

#: Answers to /write that refuse the points themselves: a line InfluxDB cannot parse, a
#: time or integer it cannot store, a field another writer gave another type, a time
#: outside the retention policy (400; 422 on 2.x and 3.x), a body above its limit (413).
#: Every other answer (401, 403, 404 for a missing database, 408, 429, 5xx) says nothing
#: about the points: they wait and are written once InfluxDB takes them.
_REFUSALS = frozenset({400, 413, 422})


class InfluxError(Exception):
    """InfluxDB was unreachable or refused the request."""


class InfluxUnavailable(InfluxError):
    """InfluxDB cannot take the request now: unreachable, failing, or refusing the
    credentials or the database; the same request may succeed later."""


class InfluxRefused(InfluxError):
    """InfluxDB refused the points of a write; `reason` is its answer."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Influx(InfluxHttp):
    def write(self, lines: Sequence[str]) -> None:
        """Write `lines` (line protocol); raises InfluxRefused or InfluxUnavailable."""
        if not lines:
            return
        response = self._answered(self.send_write, lines)
        if response.status_code == 204:
            return
        answer = _error_text(response)
        message = (
            f"InfluxDB at {self.url} refused the write ({response.status_code}): "
            f"{answer}{_hint(response)}"
        )
        if response.status_code in _REFUSALS:
            raise InfluxRefused(message, f"{response.status_code}: {answer}")
        raise InfluxUnavailable(message)

    def write_isolating(self, lines: Sequence[str]) -> dict[int, str]:
        """Write every line InfluxDB takes; returns the index and reason of each it refuses.

        A refused write is split in halves until each refused line stands alone, so one
        bad line costs about twice the logarithm of the batch in requests. Writing a
        line twice is harmless: a point with the same series and time replaces the
        first (and InfluxDB 1.x already stored the good lines of a refused write).
        Raises InfluxUnavailable as soon as a request gets no answer about the points.
        """
        refused: dict[int, str] = {}
        spans = [(0, len(lines))]
        while spans:
            start, end = spans.pop()
            try:
                self.write(lines[start:end])
            except InfluxRefused as exc:
                if end - start == 1:
                    refused[start] = exc.reason
                else:
                    middle = (start + end) // 2
                    spans += [(middle, end), (start, middle)]
        return refused

    def query(self, influxql: str) -> list[dict[str, Any]]:
        """The series of the first statement's result ([] when empty); times in ns."""
        response = self._answered(self.send_query, influxql)
        if response.status_code != 200:
            raise InfluxError(
                f"InfluxDB at {self.url} refused the query ({response.status_code}): "
                f"{response.text.strip()[:300]}{_hint(response)}"
            )
        try:
            result = response.json()["results"][0]
        except (ValueError, LookupError, TypeError) as exc:
            raise InfluxError(
                f"{self.url} did not answer the query as InfluxDB does: {response.text[:300]!r}"
            ) from exc
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

    def kept_since(self, now: datetime) -> datetime | None:
        """The oldest time the database's default retention policy surely still keeps at
        `now` (None: it keeps everything), from SHOW RETENTION POLICIES."""
        for series in self.query(f'SHOW RETENTION POLICIES ON "{self.database}"'):
            columns = series["columns"]
            for values in series["values"]:
                policy = dict(zip(columns, values, strict=True))
                if policy.get("default"):
                    duration = _duration(str(policy.get("duration")))
                    return None if duration is None else now - duration
        raise InfluxError(f"InfluxDB names no default retention policy of {self.database}")

    def audit_copy(self) -> dict[int, str]:
        """seq -> sha256 of every audit-log entry copied into InfluxDB.

        Raises InfluxError for a point the service did not write (a seq that is not an
        integer, no hash, or a seq twice with two hashes): the copy cannot be relied on.
        """
        copy: dict[int, str] = {}
        for series in self.query(f'SELECT "seq", "sha256" FROM "{measurements.AUDIT_CHAIN}"'):
            for at, seq, sha256 in series["values"]:
                ours = isinstance(seq, int) and not isinstance(seq, bool)
                if not ours or not isinstance(sha256, str):
                    raise InfluxError(
                        f"the copy in {measurements.AUDIT_CHAIN} holds a point the service did "
                        f"not write (time {at} ns: seq {seq!r}, sha256 {sha256!r}): another "
                        "writer changed the copy"
                    )
                if copy.setdefault(seq, sha256) != sha256:
                    raise InfluxError(
                        f"the copy in {measurements.AUDIT_CHAIN} holds entry {seq} twice, with "
                        "two hashes: another writer changed the copy"
                    )
        return copy

    def _answered(
        self, request: Callable[..., httpx.Response], *args: Any, **kwargs: Any
    ) -> httpx.Response:
        try:
            return request(*args, **kwargs)
        except httpx.HTTPError as exc:
            raise InfluxUnavailable(f"InfluxDB at {self.url} is unreachable: {exc}") from exc


def _error_text(response: httpx.Response) -> str:
    """InfluxDB's `error` text, else the start of the body."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    return str(error) if error else response.text.strip()[:300]


def _hint(response: httpx.Response) -> str:
    if response.status_code in (401, 403):
        return (
            "; InfluxDB refuses our account: check COLDCHAIN_ALERTS_INFLUX_USERNAME and "
            "_PASSWORD and the account's right (ALL) on the database"
        )
    return ""


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def _duration(text: str) -> timedelta | None:
    """A retention policy's duration as InfluxDB shows it (`43848h0m0s`); None for
    `0s`, which keeps everything. Raises InfluxError for what it cannot read."""
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise InfluxError(f"InfluxDB showed a retention duration it does not write: {text!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    duration = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    return None if duration == timedelta(0) else duration
