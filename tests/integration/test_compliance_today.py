"""The Compliance dashboard shows today, preliminary, next to the ended days.

Readings of one asset go into a real InfluxDB: 4.0 °C every 5 s through the
daylight-saving day 2026-03-29 (23 hours) and the next morning, with ten minutes at
7.0 °C from 08:00 local. Ingest's rollup job runs at fixed moments (its clock is a
parameter); the daily table's query of the committed dashboards, as Grafana sends it,
must give each day's numbers as worked out by hand below, today's marked preliminary,
and yesterday's unchanged by today.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from coldchain.fleet import Fleet
from coldchain.languages import Language
from coldchain.measurements import COMPLIANCE_DAILY
from coldchain.retention import DEFAULT_RETENTION_DAYS
from coldchain_dashboards.compliance import status_texts, table_title
from coldchain_dashboards.language import LANGUAGES
from coldchain_devstack import REPO
from coldchain_devstack.servers import InfluxDB
from coldchain_devstack.stack import DEMO_FLEET, SITE
from coldchain_ingest import influxsetup
from coldchain_ingest.influx import Influx
from coldchain_ingest.rollup import DayWriter, PendingDays, RollupJob

BERLIN = ZoneInfo("Europe/Berlin")
YESTERDAY, TODAY = date(2026, 3, 29), date(2026, 3, 30)
ASSET, SENSOR, GATEWAY = "cold-room-1", "cold-room-1.air", "cold-room-1"
INTERVAL_S = 5  # the demo fleet's


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


YESTERDAY_START = _local(YESTERDAY, 0)  # 2026-03-28T23:00Z (CET)
TODAY_START = _local(TODAY, 0)  # 2026-03-29T22:00Z (CEST): 23 hours later
WARM_FROM, WARM_TO = _local(TODAY, 8), _local(TODAY, 8, 10)
NOW = _local(TODAY, 10)  # 08:00Z


def _temperature(ts: datetime) -> float:
    return 7.0 if WARM_FROM <= ts < WARM_TO else 4.0


def _lines() -> list[str]:
    """Every 5 s from an hour before yesterday to 09:59:55 today, local time."""
    tags = f"temperature,site={SITE},gateway={GATEWAY},sensor={SENSOR},asset={ASSET}"
    lines, ts = [], YESTERDAY_START - timedelta(hours=1)
    while ts < NOW:
        lines.append(f"{tags} temp_c={_temperature(ts)!r},seq=1i {int(ts.timestamp()) * 10**9}")
        ts += timedelta(seconds=INTERVAL_S)
    return lines


@pytest.fixture
def stored(influxdb: InfluxDB, tmp_path: Path) -> Iterator[tuple[InfluxDB, str, RollupJob]]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    influx = Influx(influxdb.url, database, timeout_s=60)
    influxsetup.set_up(influx, DEFAULT_RETENTION_DAYS)
    lines = _lines()
    for i in range(0, len(lines), 5000):
        influxdb.write(database, "\n".join(lines[i : i + 5000]))
    fleet = Fleet.from_yaml(DEMO_FLEET.read_text())
    pending = PendingDays(tmp_path / "state.sqlite3")
    yield influxdb, database, RollupJob(fleet, DayWriter(influx), pending)
    pending.close()
    influx.close()
    influxdb.query(database, f'DROP DATABASE "{database}"')


def _table(
    influxdb: InfluxDB, database: str, lang: Language, until: datetime
) -> dict[date, dict[str, Any]]:
    """The daily table's rows of cold-room-1 by local day, for a range from yesterday to
    `until`, as Grafana sends the committed dashboard's query."""
    board = json.loads((REPO / "dashboards" / lang / "compliance.json").read_text())
    (table,) = [p for p in board["panels"] if p["title"] == table_title(lang)]
    (target,) = table["targets"]
    time_filter = (
        f"time >= '{YESTERDAY_START:%Y-%m-%dT%H:%M:%SZ}' AND time <= '{until:%Y-%m-%dT%H:%M:%SZ}'"
    )
    query = (
        target["query"]
        .replace("$timeFilter", time_filter)
        .replace("$site", SITE)
        .replace("$asset", f"({ASSET})")
    )
    (series,) = influxdb.query(database, query)
    columns = series["columns"]
    return {
        datetime.fromtimestamp(row[0] / 1e9, BERLIN).date(): dict(zip(columns, row, strict=True))
        for row in series["values"]
    }


def _mkt(weights: dict[float, int]) -> float:
    """Mean kinetic temperature (°C), ΔH/R = 10000 K, of equally long readings."""
    total = sum(weights.values())
    mean = sum(n * math.exp(-10000 / (t + 273.15)) for t, n in weights.items()) / total
    return -10000 / math.log(mean) - 273.15


#: Yesterday, the 23-hour day: 16 560 readings of 4.0 °C, all of it covered and in range.
YESTERDAY_ROW = {
    "preliminary": False,
    "samples": 23 * 720,
    "coverage_pct": 100.0,
    "time_in_range_pct": 100.0,
    "time_in_legal_range_pct": 100.0,
    "excursions_above": 0,
    "excursions_below": 0,
    "short_deviations": 0,
    "excursion_s": 0.0,
    "degree_minutes": 0.0,
    "above_legal_s": 0.0,
    "min_c": 4.0,
    "max_c": 4.0,
    "mean_c": 4.0,
    "mkt_c": 4.0,
}
#: Today until 10:00: 7200 readings over the 36 000 s passed, 120 of them at 7.0 °C, 1 K
#: above both the alarm maximum and the legal maximum (6 °C) for 600 s: 10 degree-minutes.
TODAY_SO_FAR = {
    "preliminary": True,
    "samples": 7200,
    "coverage_pct": 100.0,
    "time_in_range_pct": 100 * 35400 / 36000,
    "time_in_legal_range_pct": 100 * 35400 / 36000,
    "excursions_above": 1,
    "excursions_below": 0,
    "short_deviations": 0,
    "excursion_s": 600.0,
    "degree_minutes": 10.0,
    "above_legal_s": 600.0,
    "min_c": 4.0,
    "max_c": 7.0,
    "mean_c": (7080 * 4.0 + 120 * 7.0) / 7200,
    "mkt_c": _mkt({4.0: 7080, 7.0: 120}),
}


def _assert_row(shown: dict[str, Any], expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        assert shown[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name


def test_today_shows_preliminary_and_yesterday_stays_as_it_was(
    stored: tuple[InfluxDB, str, RollupJob],
) -> None:
    influxdb, database, job = stored
    assert job.run(TODAY_START + timedelta(minutes=30)) >= 1, "yesterday has ended"
    before = _table(influxdb, database, "en", TODAY_START + timedelta(minutes=30))
    _assert_row(before[YESTERDAY], YESTERDAY_ROW)
    assert before[TODAY]["preliminary"] is True and before[TODAY]["samples"] == 360

    job.run(NOW)
    for lang in LANGUAGES:
        shown = _table(influxdb, database, lang, NOW)
        assert set(shown) == {YESTERDAY, TODAY}
        _assert_row(shown[TODAY], TODAY_SO_FAR)
        assert shown[YESTERDAY] == before[YESTERDAY], "today changes nothing of yesterday"


def test_after_midnight_the_whole_day_replaces_the_preliminary_one(
    stored: tuple[InfluxDB, str, RollupJob],
) -> None:
    influxdb, database, job = stored
    job.run(NOW)
    after_midnight = _local(TODAY + timedelta(days=1), 0, 10)
    job.run(after_midnight)
    shown = _table(influxdb, database, "en", after_midnight)
    assert set(shown) == {YESTERDAY, TODAY, TODAY + timedelta(days=1)}
    final = TODAY_SO_FAR | {
        "preliminary": False,
        "coverage_pct": 100 * 36000 / 86400,  # nothing after 10:00: a 24-hour day
        "time_in_range_pct": 100 * 35400 / 86400,
        "time_in_legal_range_pct": 100 * 35400 / 86400,
    }
    _assert_row(shown[TODAY], final)
    tomorrow = shown[TODAY + timedelta(days=1)]
    assert (tomorrow["preliminary"], tomorrow["samples"], tomorrow["coverage_pct"]) == (
        True,
        0,
        0.0,
    )
    assert tomorrow["min_c"] is None, "no readings yet: no minimum"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_status_column_says_preliminary_or_final(lang: Language) -> None:
    board = json.loads((REPO / "dashboards" / lang / "compliance.json").read_text())
    (table,) = [p for p in board["panels"] if p["title"] == table_title(lang)]
    shown = {
        key: result["text"]
        for mapping in table["fieldConfig"]["defaults"]["mappings"]
        for key, result in (
            mapping["options"].items()
            if mapping["type"] == "value"
            else [(mapping["options"]["match"], mapping["options"]["result"])]
        )
    }
    preliminary, final = status_texts(lang)
    status = {key: shown.pop(key) for key in ("true", "false", "null")}
    assert status == {"true": preliminary, "false": final, "null": final}
    # The table's other mappings are the calibration column's (test_dashboards.py).
    assert set(shown) == {"valid", "unverified", "partly_unverified", "unknown"}
    assert board["time"]["to"] == "now", "the range reaches into today"


def test_each_run_computes_the_day_under_way_of_the_sensors_longest_waiting(
    stored: tuple[InfluxDB, str, RollupJob], tmp_path: Path
) -> None:
    """With `so_far_runs` 3, each run computes today for a third of the nine temperature
    sensors of the demo site, those whose record is oldest: after three runs all of
    them, at the fourth the third of the first run again."""
    influxdb, database, _ = stored
    fleet = Fleet.from_yaml(DEMO_FLEET.read_text())
    influx = Influx(influxdb.url, database, timeout_s=60)
    pending = PendingDays(tmp_path / "spread.sqlite3")
    job = RollupJob(fleet, DayWriter(influx), pending, so_far_runs=3)
    runs = [NOW + timedelta(minutes=minute) for minute in range(4)]
    computed = []
    try:
        for at in runs:
            job.run(at)
            computed.append(_so_far_until(influxdb, database))
    finally:
        pending.close()
        influx.close()
    first = {sensor for sensor, until in computed[0].items() if until == runs[0]}
    assert len(computed[0]) == len(first) == 3
    assert sorted(Counter(computed[2].values()).values()) == [3, 3, 3]
    assert set(computed[2].values()) == set(runs[:3])
    assert {s for s, until in computed[3].items() if until == runs[3]} == first
    assert len(computed[3]) == 9


def _so_far_until(influxdb: InfluxDB, database: str) -> dict[str, datetime]:
    """Each sensor's preliminary record of today: the moment it was computed up to."""
    query = (
        f'SELECT "duration_s", "preliminary" FROM "{COMPLIANCE_DAILY}" '
        f"WHERE time >= '{TODAY_START:%Y-%m-%dT%H:%M:%SZ}' GROUP BY \"sensor\""
    )
    found = {}
    for series in influxdb.query(database, query):
        for _, duration_s, preliminary in series["values"]:
            if preliminary:
                found[series["tags"]["sensor"]] = TODAY_START + timedelta(seconds=duration_s)
    return found
