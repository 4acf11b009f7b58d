"""How long InfluxDB keeps the records, and the 15-minute series, against a real influxd.

`coldchain-ingest influx setup` (compose.yaml's `influxdb-setup`, and ingest at start
with COLDCHAIN_INGEST_INFLUX_CREATE_DB) sets the retention policies; the rollup
(`coldchain-rollup`, ingest's rollup job) computes the downsampled buckets, checked
against min, mean and max worked out by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from coldchain import measurements
from coldchain_alerts.influx import Influx
from coldchain_devstack.servers import InfluxDB
from coldchain_devstack.stack import DEMO_FLEET, SITE
from coldchain_ingest.cli import app, rollup_app
from tests.alertsapi import ApiStack

SENSOR, ASSET, GATEWAY = "cold-room-1.air", "cold-room-1", "cold-room-1"
DAY = date(2026, 3, 29)  # 23 hours in Europe/Berlin
FIVE_YEARS_H = 1827 * 24


@pytest.fixture
def database(influxdb: InfluxDB) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    influxdb.query(name, f'DROP DATABASE "{name}"')


def _env(influxdb: InfluxDB, database: str, **settings: str) -> dict[str, str]:
    return {
        "COLDCHAIN_INGEST_INFLUX_URL": influxdb.url,
        "COLDCHAIN_INGEST_INFLUX_DB": database,
        "COLDCHAIN_INGEST_FLEET": str(DEMO_FLEET),
    } | {f"COLDCHAIN_INGEST_{name.upper()}": value for name, value in settings.items()}


def _setup(influxdb: InfluxDB, database: str, *options: str, **settings: str) -> Result:
    env = _env(influxdb, database, **settings)
    return CliRunner().invoke(app, ["influx", "setup", *options], env=env)


def _policies(influxdb: InfluxDB, database: str) -> dict[str, tuple[str, str, bool]]:
    """name: (duration, shard group duration, default) as InfluxDB shows them."""
    [series] = influxdb.query(database, f'SHOW RETENTION POLICIES ON "{database}"')
    rows = [dict(zip(series["columns"], values, strict=True)) for values in series["values"]]
    return {r["name"]: (r["duration"], r["shardGroupDuration"], r["default"]) for r in rows}


def _reading(ts: datetime, temp_c: float) -> str:
    ns = int(ts.timestamp()) * 10**9
    return (
        f"{measurements.TEMPERATURE},site={SITE},gateway={GATEWAY},sensor={SENSOR},"
        f"asset={ASSET} temp_c={temp_c!r},seq=1i {ns}"
    )


# --- retention policies ----------------------------------------------------------------


def test_setup_makes_the_policies_with_the_configured_duration(
    influxdb: InfluxDB, database: str
) -> None:
    result = _setup(influxdb, database)

    assert result.exit_code == 0, result.output
    assert _policies(influxdb, database) == {
        "autogen": (f"{FIVE_YEARS_H}h0m0s", "168h0m0s", True),
        "downsampled": (f"{FIVE_YEARS_H}h0m0s", f"{28 * 24}h0m0s", False),
    }
    again = _setup(influxdb, database)
    assert again.exit_code == 0, again.output
    assert "(0 changes)" in again.output, "setup is safe to repeat and changes nothing"


def test_changing_the_setting_alters_the_policies(influxdb: InfluxDB, database: str) -> None:
    assert _setup(influxdb, database).exit_code == 0

    result = _setup(influxdb, database, retention_days="3653")

    assert result.exit_code == 0, result.output
    assert "ALTER RETENTION POLICY" in result.output
    ten_years = f"{3653 * 24}h0m0s"
    policies = _policies(influxdb, database)
    assert policies["autogen"] == (ten_years, "168h0m0s", True)
    assert policies["downsampled"][0] == ten_years
    # Shorter, while no record is older than the new duration: nothing is lost.
    assert _setup(influxdb, database, retention_days="400").exit_code == 0
    assert _policies(influxdb, database)["autogen"][0] == f"{400 * 24}h0m0s"


def test_the_alerts_service_reads_how_long_its_copies_are_kept(
    influxdb: InfluxDB, database: str
) -> None:
    """`audit verify` expects an entry's copy only while the retention surely keeps it."""
    influx = Influx(influxdb.url, database)
    now = datetime(2031, 6, 1, tzinfo=UTC)
    influxdb.query(database, f'CREATE DATABASE "{database}"')
    assert influx.kept_since(now) is None, "a database made plainly keeps everything"
    assert _setup(influxdb, database, retention_days="400").exit_code == 0
    assert influx.kept_since(now) == now - timedelta(days=400)
    influx.close()


@pytest.mark.parametrize("days", ["365", "0", "-1827"])
def test_a_retention_below_a_year_is_refused_with_the_reason(
    influxdb: InfluxDB, database: str, days: str
) -> None:
    assert _setup(influxdb, database).exit_code == 0

    result = _setup(influxdb, database, retention_days=days)

    assert result.exit_code == 2
    assert "COLDCHAIN_INGEST_RETENTION_DAYS" in result.output
    assert "shorter than one year (366 days)" in result.output
    assert _policies(influxdb, database)["autogen"][0] == f"{FIVE_YEARS_H}h0m0s"


def test_shortening_that_would_delete_records_needs_confirming(
    influxdb: InfluxDB, database: str
) -> None:
    assert _setup(influxdb, database, retention_days="3653").exit_code == 0
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=500)
    influxdb.write(database, _reading(old, 4.0))

    refused = _setup(influxdb, database, retention_days="400")

    assert refused.exit_code == 2
    assert "holds points older than 400 days" in refused.output
    assert "--shorten" in refused.output
    assert _policies(influxdb, database)["autogen"][0] == f"{3653 * 24}h0m0s"
    assert influxdb.count(database, "SELECT count(temp_c) FROM temperature") == 1

    confirmed = _setup(influxdb, database, "--shorten", retention_days="400")

    assert confirmed.exit_code == 0, confirmed.output
    assert _policies(influxdb, database)["autogen"][0] == f"{400 * 24}h0m0s"


def test_a_database_made_without_policies_gets_a_finite_one(
    influxdb: InfluxDB, database: str
) -> None:
    """As InfluxDB or the influxdb image makes it: autogen, kept for ever."""
    influxdb.query(database, f'CREATE DATABASE "{database}"')
    assert _policies(influxdb, database)["autogen"][0] == "0s"
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(days=30)
    influxdb.write(database, _reading(recent, 4.0))

    result = _setup(influxdb, database)

    assert result.exit_code == 0, result.output
    assert _policies(influxdb, database)["autogen"][0] == f"{FIVE_YEARS_H}h0m0s"
    assert influxdb.count(database, "SELECT count(temp_c) FROM temperature") == 1


# --- the downsampled series ------------------------------------------------------------


def _day_of_readings() -> list[tuple[datetime, float]]:
    """DAY's readings every minute, with a gap, an excursion and late arrivals."""
    start = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # local midnight
    readings = []
    for minute in range(23 * 60):
        if 60 <= minute < 75:
            continue  # one empty bucket
        temp = 3.0 + (minute % 7) * 0.25
        if 120 <= minute < 128:
            temp = 9.5 - minute * 0.01  # an excursion inside one bucket
        readings.append((start + timedelta(minutes=minute), round(temp, 2)))
    return readings


def _buckets(database: str, influxdb: InfluxDB) -> dict[int, dict[str, Any]]:
    series = influxdb.query(
        database,
        f'SELECT * FROM "downsampled"."{measurements.TEMPERATURE_15M}" WHERE "sensor" = '
        f"'{SENSOR}'",
    )
    if not series:
        return {}
    [one] = series
    return {row[0]: dict(zip(one["columns"], row, strict=True)) for row in one["values"]}


def _by_hand(readings: list[tuple[datetime, float]], start: datetime) -> dict[str, float]:
    values = [t for ts, t in readings if start <= ts < start + timedelta(minutes=15)]
    return {"min_c": min(values), "max_c": max(values), "mean_c": sum(values) / len(values),
            "samples": len(values)}  # fmt: skip


def _rollup(influxdb: InfluxDB, database: str) -> None:
    args = ["--from", DAY.isoformat(), "--to", (DAY + timedelta(days=1)).isoformat()]
    result = CliRunner().invoke(
        rollup_app, [*args, "--sensor", SENSOR], env=_env(influxdb, database)
    )
    assert result.exit_code == 0, result.output


def test_downsampled_buckets_agree_with_a_hand_computation(
    influxdb: InfluxDB, database: str
) -> None:
    assert _setup(influxdb, database).exit_code == 0
    readings = _day_of_readings()
    influxdb.write(database, "\n".join(_reading(ts, t) for ts, t in readings))

    _rollup(influxdb, database)

    buckets = _buckets(database, influxdb)
    assert len(buckets) == 23 * 4 - 1, "every bucket with readings, none for the gap"
    start = readings[0][0]
    for offset_min in (0, 45, 120, 23 * 60 - 15):
        at = start + timedelta(minutes=offset_min)
        bucket = buckets[int(at.timestamp()) * 10**9]
        expected = _by_hand(readings, at)
        assert bucket["samples"] == expected["samples"]
        assert bucket["min_c"] == expected["min_c"]
        assert bucket["max_c"] == expected["max_c"]
        assert bucket["mean_c"] == pytest.approx(expected["mean_c"], abs=1e-9)
        assert bucket["sum_c"] == pytest.approx(expected["mean_c"] * expected["samples"])
        assert (bucket["site"], bucket["asset"], bucket["gateway"]) == (SITE, ASSET, GATEWAY)
    assert int(start.timestamp() + 3600) * 10**9 not in buckets, "the gap stays a gap"

    # Readings arriving days late (a gateway's outage): the day computed again takes them.
    late = [(start + timedelta(minutes=60, seconds=30 * n), -1.0 + n) for n in range(4)]
    influxdb.write(database, "\n".join(_reading(ts, t) for ts, t in late))
    _rollup(influxdb, database)
    gap = _buckets(database, influxdb)[int(start.timestamp() + 3600) * 10**9]
    assert (gap["samples"], gap["min_c"], gap["max_c"], gap["mean_c"]) == (4, -1.0, 2.0, 0.5)


# --- ingest at start, where its account is an admin (the demo, the tests) --------------


def test_ingest_sets_the_policies_up_at_start_and_refuses_to_shorten(stack: ApiStack) -> None:
    influxdb, database = stack.influxdb, stack.database
    first = stack.start_ingest(COLDCHAIN_INGEST_RETENTION_DAYS="800")

    assert _policies(influxdb, database)["autogen"][0] == f"{800 * 24}h0m0s"
    assert _policies(influxdb, database)["downsampled"][0] == f"{800 * 24}h0m0s"
    first.stop()
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=500)
    influxdb.write(database, _reading(old, 4.0))

    again = stack.ingest(COLDCHAIN_INGEST_RETENTION_DAYS="400")
    again.start()

    assert again.wait(30) == 2, "ingest does not start, and deletes nothing"
    assert "holds points older than 400 days" in again.output()
    assert _policies(influxdb, database)["autogen"][0] == f"{800 * 24}h0m0s"
