"""A day whose limit changed at noon is judged by each limit in its own part of the day.

Readings of cold-room-1 (meat products: alarm and legal maximum +6 °C, delay 30 s in
the demo fleet, hysteresis 0.5 K) go into a real InfluxDB, every 5 s through the
local day 2026-06-10 (24 hours, CEST). Fleet version 1 lowers the alarm maximum to
+4 °C from 12:00 local. Ingest's rollup job, with the versions as ingest keeps them,
must write the day's point with the numbers worked out by hand below.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from coldchain import measurements
from coldchain.fleet import Fleet, parse_yaml
from coldchain.registry import FleetHistory, Version, set_value
from coldchain.retention import DEFAULT_RETENTION_DAYS
from coldchain_devstack.servers import InfluxDB
from coldchain_devstack.stack import DEMO_FLEET, SITE
from coldchain_ingest import influxsetup
from coldchain_ingest.influx import Influx
from coldchain_ingest.rollup import DayWriter, PendingDays, RollupJob

BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2026, 6, 10)
ASSET, SENSOR, GATEWAY = "cold-room-1", "cold-room-1.air", "cold-room-1"


def _local(hour: int, minute: int = 0, second: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=BERLIN).astimezone(
        UTC
    )


START, CHANGE, END = _local(0), _local(12), _local(0, day=DAY + timedelta(days=1))
#: (from, to, °C) local; 3.0 °C elsewhere.
SPELLS = [
    (_local(8), _local(8, 30), 5.0),  # within +6 °C: in range before the change
    (_local(11, 50), _local(12, 20), 7.0),  # across the change: one excursion, of +6 °C
    (_local(14), _local(14, 30), 5.0),  # above +4 °C after the change: an excursion
    (_local(16), _local(16, 0, 10), 5.0),  # two readings: 10 s, shorter than the delay
]


def _temperature(ts: datetime) -> float:
    return next((temp for first, last, temp in SPELLS if first <= ts < last), 3.0)


def _lines() -> list[str]:
    """Every 5 s from an hour before the day to an hour after it."""
    tags = f"temperature,site={SITE},gateway={GATEWAY},sensor={SENSOR},asset={ASSET}"
    lines, ts = [], START - timedelta(hours=1)
    while ts < END + timedelta(hours=1):
        lines.append(f"{tags} temp_c={_temperature(ts)!r},seq=1i {int(ts.timestamp()) * 10**9}")
        ts += timedelta(seconds=5)
    return lines


def _tightened() -> Version:
    data = parse_yaml(DEMO_FLEET.read_text())
    return Version(1, CHANGE, Fleet.from_data(set_value(data, f"assets/{ASSET}/limits/max_c", 4.0)))


def _history() -> FleetHistory:
    return FleetHistory(Fleet.from_yaml(DEMO_FLEET.read_text()), [_tightened()])


@pytest.fixture
def history() -> FleetHistory:
    return _history()


@pytest.fixture
def stored(
    influxdb: InfluxDB, tmp_path: Path, history: FleetHistory
) -> Iterator[tuple[InfluxDB, str, RollupJob]]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    influx = Influx(influxdb.url, database, timeout_s=60)
    influxsetup.set_up(influx, DEFAULT_RETENTION_DAYS)
    lines = _lines()
    for i in range(0, len(lines), 5000):
        influxdb.write(database, "\n".join(lines[i : i + 5000]))
    pending = PendingDays(tmp_path / "state.sqlite3")
    yield influxdb, database, RollupJob(history, DayWriter(influx, history), pending)
    pending.close()
    influx.close()
    influxdb.query(database, f'DROP DATABASE "{database}"')


def _record(influxdb: InfluxDB, database: str) -> dict[str, Any]:
    (series,) = influxdb.query(
        database,
        f'SELECT * FROM "{measurements.COMPLIANCE_DAILY}" WHERE "sensor" = \'{SENSOR}\' '
        f"AND time = {int(START.timestamp()) * 10**9}",
    )
    (row,) = series["values"]
    return dict(zip(series["columns"], row, strict=True))


def _mkt(weights: dict[float, int]) -> float:
    """Mean kinetic temperature (°C), ΔH/R = 10000 K, of equally long readings."""
    total = sum(weights.values())
    mean = sum(n * math.exp(-10000 / (t + 273.15)) for t, n in weights.items()) / total
    return -10000 / math.log(mean) - 273.15


#: 17 280 readings. Beyond the alarm limit: 11:50-12:00 1 K above +6 °C (600 s, 10 K·min),
#: 12:00-12:20 3 K above +4 °C (1200 s, 60 K·min), 14:00-14:30 1 K above +4 °C (1800 s,
#: 30 K·min), 16:00:00-16:00:10 1 K above +4 °C (10 s, 1/6 K·min): 3610 s, 100 1/6 K·min.
#: Excursions: the one from 11:50, counted once under +6 °C, and the one from 14:00; the
#: 10 s one is a short deviation. Above the legal +6 °C: 11:50-12:20, 1800 s, 30 K·min.
EXPECTED = {
    "preliminary": False,
    "limit_periods": 2,
    "duration_s": 86400.0,
    "samples": 17280,
    "covered_s": 86400.0,
    "coverage_pct": 100.0,
    "alarm_max_c": 4.0,
    "alarm_min_c": -1.0,
    "excursion_s": 3610.0,
    "degree_minutes": 100 + 1 / 6,
    "in_range_s": 86400.0 - 3610.0,
    "time_in_range_pct": 100 * (86400 - 3610) / 86400,
    "excursions": 2,
    "excursions_above": 2,
    "excursions_below": 0,
    "short_deviations": 1,
    "legal_max_c": 6.0,
    "above_legal_s": 1800.0,
    "legal_degree_minutes": 30.0,
    "legal_excursions": 1,
    "time_in_legal_range_pct": 100 * (86400 - 1800) / 86400,
    "min_c": 3.0,
    "max_c": 7.0,
    "mean_c": (17280 * 3.0 + 722 * 2.0 + 360 * 4.0) / 17280,
    "mkt_c": _mkt({3.0: 17280 - 1082, 5.0: 722, 7.0: 360}),
}


def test_each_part_of_the_day_is_judged_by_the_limit_of_its_time(
    stored: tuple[InfluxDB, str, RollupJob],
) -> None:
    influxdb, database, job = stored
    assert job.run(_local(0, 30, day=DAY + timedelta(days=1))) >= 1
    shown = _record(influxdb, database)
    for name, value in EXPECTED.items():
        assert shown[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_the_day_under_way_is_judged_by_both_limits_too(
    stored: tuple[InfluxDB, str, RollupJob],
) -> None:
    """At 15:00, 54 000 s have passed: beyond the alarm limit 600 + 1200 + 1800 s."""
    influxdb, database, job = stored
    job.run(_local(15))
    shown = _record(influxdb, database)
    assert (shown["preliminary"], shown["limit_periods"]) == (True, 2)
    assert shown["duration_s"] == 54000.0
    assert shown["excursion_s"] == pytest.approx(3600.0)
    assert shown["degree_minutes"] == pytest.approx(100.0)
    assert (shown["excursions"], shown["short_deviations"]) == (2, 0)


@pytest.mark.parametrize("history", [FleetHistory(Fleet.from_yaml(DEMO_FLEET.read_text()))])
def test_a_version_that_arrives_after_its_day_was_computed_computes_it_again(
    stored: tuple[InfluxDB, str, RollupJob], history: FleetHistory
) -> None:
    """Ingest was down when the limit changed: the day was computed by the fleet file,
    and the version, taken later, must make the job compute it again."""
    influxdb, database, job = stored
    job.run(_local(0, 30, day=DAY + timedelta(days=1)))
    before = _record(influxdb, database)
    assert (before["limit_periods"], before["alarm_max_c"], before["excursions"]) == (1, 6.0, 1)
    history.add(_tightened())
    assert job.run(_local(0, 40, day=DAY + timedelta(days=1))) == 1
    shown = _record(influxdb, database)
    for name, value in EXPECTED.items():
        assert shown[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
