"""InfluxDB set up for coldchain: the database, its retention policies, nothing else.

The one place that says what exists in InfluxDB besides the points: the database
(`COLDCHAIN_INGEST_INFLUX_DB`), its default retention policy holding the readings
and every other record for `COLDCHAIN_INGEST_RETENTION_DAYS`, and the policy
`downsampled` (coldchain.retention.DOWNSAMPLED_POLICY) holding the 15-minute series
for as long. There is no continuous query: ingest's rollup job computes the
downsampled series (rollup.py says why). docs/influxdb-schema.md lists the same, for
whoever restores a backup.

In InfluxDB 1.x only an admin may create databases and retention policies, so
`coldchain-ingest influx setup` runs with an admin account (compose.yaml's
`influxdb-setup` service), or ingest does it at start where its account is one
(COLDCHAIN_INGEST_INFLUX_CREATE_DB, the demo and the tests). Safe to repeat: it
changes only what differs from the settings. It never shortens a policy that holds
points the shorter one would delete, unless told to (`shorten`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from coldchain.retention import (
    DOWNSAMPLED_POLICY,
    DOWNSAMPLED_SHARD_DAYS,
    RAW_POLICY_FALLBACK,
    RAW_SHARD_DAYS,
)
from coldchain_ingest.errors import InfluxRejected, RetentionRefused
from coldchain_ingest.influx import Influx

log = logging.getLogger(__name__)

_DAY_S = 86_400
#: A Go duration as SHOW RETENTION POLICIES gives it: `43848h0m0s`, `0s` (infinite).
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


@dataclass(frozen=True)
class Policy:
    """A retention policy: how long its points are kept and its shard groups span, s
    (duration 0: for ever)."""

    name: str
    duration_s: int
    shard_s: int
    default: bool

    def clause(self) -> str:
        return f"DURATION {self.duration_s}s REPLICATION 1 SHARD DURATION {self.shard_s}s"


def wanted(existing: list[Policy], retention_days: int) -> list[Policy]:
    """The policies coldchain wants beside `existing`: the default one (by its present
    name) and the downsampled one, both `retention_days` long."""
    default = next((p.name for p in existing if p.default), RAW_POLICY_FALLBACK)
    duration_s = retention_days * _DAY_S
    return [
        Policy(default, duration_s, RAW_SHARD_DAYS * _DAY_S, default=True),
        Policy(DOWNSAMPLED_POLICY, duration_s, DOWNSAMPLED_SHARD_DAYS * _DAY_S, default=False),
    ]


def set_up(influx: Influx, retention_days: int, shorten: bool = False) -> list[str]:
    """Create the database and make its retention policies what the settings say;
    returns the statements it ran (none when all was as wanted).

    Raises RetentionRefused when a policy would become shorter and holds points older
    than the new duration, unless `shorten`; InfluxUnavailable (also when the account is
    no admin) and InfluxRejected as Influx does.
    """
    database = influx.database
    influx.create_database()
    ran: list[str] = []
    existing = policies(influx)
    by_name = {p.name: p for p in existing}
    for policy in wanted(existing, retention_days):
        now = by_name.get(policy.name)
        if now is None:
            verb = "CREATE"
        elif now == policy:
            continue
        else:
            verb = "ALTER"
            if _shorter(policy, now) and not shorten:
                _refuse_if_it_deletes(influx, now, policy)
        statement = f'{verb} RETENTION POLICY "{policy.name}" ON "{database}" {policy.clause()}'
        ran.append(_run(influx, statement + (" DEFAULT" if policy.default else "")))
    for statement in ran:
        log.info("InfluxDB set up: %s", statement)
    return ran


def policies(influx: Influx) -> list[Policy]:
    """The retention policies of the database."""
    series = influx.query(f'SHOW RETENTION POLICIES ON "{influx.database}"')
    found = []
    for one in series:
        columns = one["columns"]
        for values in one.get("values", []):
            row = dict(zip(columns, values, strict=True))
            found.append(
                Policy(
                    row["name"],
                    _seconds(row["duration"]),
                    _seconds(row["shardGroupDuration"]),
                    bool(row["default"]),
                )
            )
    return found


def _shorter(policy: Policy, now: Policy) -> bool:
    return now.duration_s == 0 or policy.duration_s < now.duration_s


def _refuse_if_it_deletes(influx: Influx, now: Policy, policy: Policy) -> None:
    """Raise RetentionRefused when `now` holds a point older than `policy` would keep."""
    query = (
        f'SELECT * FROM "{influx.database}"."{now.name}"./.*/ '
        f"WHERE time < now() - {policy.duration_s}s LIMIT 1"
    )
    if influx.query(query):
        days = policy.duration_s // _DAY_S
        raise RetentionRefused(
            f'retention policy "{now.name}" on "{influx.database}" holds points older than '
            f"{days} days, which shortening it to {days} days would delete for good; keep "
            "COLDCHAIN_INGEST_RETENTION_DAYS, or confirm with "
            "`coldchain-ingest influx setup --shorten` (docs/operations.md)"
        )


def _run(influx: Influx, statement: str) -> str:
    answer = influx.query(statement)
    if answer:
        raise InfluxRejected(f"{statement!r} answered rows: {answer}")
    return statement


def _seconds(duration: str) -> int:
    match = _DURATION.fullmatch(duration)
    if match is None or not duration:
        raise InfluxRejected(f"InfluxDB gave a duration coldchain cannot read: {duration!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds
