"""Benchmark: the Compliance dashboard over a year of one-minute readings of one asset.

Writes 2026 (521 160 readings, one a minute, with excursions and gaps) for one asset
into a real InfluxDB, computes its 365 local days into the daily rollup with ingest's
own rollup code (`coldchain_ingest.rollup.DayWriter`, as the rollup job and
`coldchain-rollup` do), builds the compliance dashboard for a fleet whose probe reports
once a minute, and runs every query of the dashboard (panels and annotations) for the
whole year as Grafana would (variables substituted), five times. Prints the time the
rollup took, the median time of each query and of the "Daily compliance" table, and
whether the table's 365 rows agree with coldchain.compliance.daily_stats.

    .venv/bin/python bench/compliance_query.py [--runs 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import yaml

from coldchain.compliance import Sample, daily_stats, local_day_bounds
from coldchain.fleet import Fleet
from coldchain.retention import DEFAULT_RETENTION_DAYS
from coldchain_dashboards import build
from coldchain_dashboards.compliance import table_title
from coldchain_devstack import REPO
from coldchain_devstack.servers import InfluxDB
from coldchain_ingest import influxsetup
from coldchain_ingest.influx import Influx
from coldchain_ingest.rollup import DayWriter, watched_sensors

SITE, ASSET, SENSOR = "dortmund-hub", "cold-room-1", "cold-room-1.air"
FIRST_DAY, LAST_DAY = date(2026, 1, 1), date(2026, 12, 31)
BATCH = 5000
BERLIN = ZoneInfo("Europe/Berlin")
#: Grafana's $__interval for a year on a panel about 1000 points wide.
YEAR_INTERVAL = "6h"


def readings() -> list[Sample]:
    """One reading a minute; an excursion above 6 °C every ~3 days, a 2-hour gap every 10."""
    start, end = local_day_bounds(FIRST_DAY)[0], local_day_bounds(LAST_DAY)[1]
    samples = []
    for minute in range(int((end - start).total_seconds() // 60)):
        if minute % 14_400 < 120:
            continue
        temp = 4.0 + 1.5 * math.sin(minute / 720 * math.pi)
        if minute % 4_321 < 25:
            temp += 3.0
        samples.append(Sample(start + timedelta(minutes=minute), round(temp, 3)))
    return samples


def write(influxdb: InfluxDB, database: str, samples: list[Sample]) -> float:
    tags = f"temperature,site={SITE},gateway={ASSET},sensor={SENSOR},asset={ASSET}"
    began = time.perf_counter()
    setup = Influx(influxdb.url, database)
    influxsetup.set_up(setup, DEFAULT_RETENTION_DAYS)
    setup.close()
    with httpx.Client(timeout=60) as client:
        for i in range(0, len(samples), BATCH):
            body = "\n".join(
                f"{tags} temp_c={s.temp_c!r},seq=1i {int(s.ts.timestamp()) * 10**9}"
                for s in samples[i : i + BATCH]
            )
            response = client.post(f"{influxdb.url}/write", params={"db": database}, content=body)
            response.raise_for_status()
    return time.perf_counter() - began


def fleet() -> Fleet:
    """The demo fleet with every probe reporting once a minute."""
    data = yaml.safe_load((REPO / "fleet" / "dortmund-hub.yaml").read_text())
    for site in data["sites"]:
        for gateway in site["gateways"]:
            for sensor in gateway["sensors"]:
                sensor["interval_s"] = 60
    return Fleet.model_validate(data)


def roll_up(influxdb: InfluxDB, database: str) -> float:
    """Compute the year's days into compliance_daily as ingest's rollup does; seconds taken."""
    influx = Influx(influxdb.url, database, timeout_s=120)
    writer = DayWriter(influx)
    watched = watched_sensors(fleet())[SENSOR]
    began = time.perf_counter()
    for n in range((LAST_DAY - FIRST_DAY).days + 1):
        day = FIRST_DAY + timedelta(days=n)
        writer.write(watched, day, day)
    elapsed = time.perf_counter() - began
    influx.close()
    return elapsed


def dashboard_queries() -> dict[str, str]:
    """Every query of the compliance dashboard for the year, by panel / refId."""
    board = build(fleet())["en/compliance.json"]
    start, end = local_day_bounds(FIRST_DAY)[0], local_day_bounds(LAST_DAY)[1]
    time_filter = f"time >= '{start:%Y-%m-%dT%H:%M:%SZ}' AND time < '{end:%Y-%m-%dT%H:%M:%SZ}'"
    substitutes = {
        "$timeFilter": time_filter,
        "$__interval": YEAR_INTERVAL,
        "$site": SITE,
        "$asset": f"({ASSET})",
    }
    found = [
        (f"{panel['title']} / {target['refId']}", target["query"])
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]
    found += [
        (f"annotation {a['name']}", a["target"]["query"]) for a in board["annotations"]["list"]
    ]
    queries = {}
    for name, query in found:
        for variable, value in substitutes.items():
            query = query.replace(variable, value)
        queries[name] = query
    return queries


def run(client: httpx.Client, url: str, database: str, query: str) -> list[dict[str, Any]]:
    answer = client.post(f"{url}/query", data={"db": database, "q": query, "epoch": "ns"})
    result = answer.json()["results"][0]
    if "error" in result:
        raise RuntimeError(f"{result['error']} in {query}")
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def table_rows(series_list: list[dict[str, Any]]) -> dict[date, dict[str, Any]]:
    rows = {}
    for series in series_list:
        for values in series["values"]:
            day = datetime.fromtimestamp(values[0] / 1e9, UTC).astimezone(BERLIN).date()
            rows[day] = dict(zip(series["columns"][1:], values[1:], strict=True))
    return rows


def agrees(shown: dict[date, dict[str, Any]], samples: list[Sample]) -> bool:
    watched = watched_sensors(fleet())[SENSOR]
    days = daily_stats(
        samples, FIRST_DAY, LAST_DAY, watched.alarm_band, 60, watched.site.timezone, watched.rules
    )
    if set(shown) != {day for day, _ in days}:
        print(f"  days shown: {len(shown)}, days of the year: {len(days)}")
        return False
    for day, stats in days:
        row = shown[day]
        expected = {
            "coverage_pct": stats.coverage_pct,
            "time_in_range_pct": stats.time_in_range_pct,
            "excursions_above": len(stats.excursions),
            "excursion_s": stats.excursion_s,
            "degree_minutes": stats.degree_minutes,
            "samples": stats.samples,
            "mean_c": stats.mean_c,
            "mkt_c": stats.mkt_c,
        }
        for name, value in expected.items():
            if not math.isclose(row[name], value, rel_tol=1e-12, abs_tol=1e-12):
                print(f"  {day} {name}: dashboard {row[name]}, compliance code {value}")
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    samples = readings()
    queries = dashboard_queries()
    table = next(name for name in queries if name.startswith(f"{table_title('en')} /"))
    with tempfile.TemporaryDirectory() as tmp:
        influxdb = InfluxDB(Path(tmp))
        influxdb.start()
        try:
            database = f"bench_{uuid.uuid4().hex[:8]}"
            seconds = write(influxdb, database, samples)
            print(f"wrote {len(samples)} readings in {seconds:.1f} s (batches of {BATCH})")
            seconds = roll_up(influxdb, database)
            print(f"computed 365 days into compliance_daily in {seconds:.1f} s (ingest's code)")
            times: dict[str, list[float]] = {name: [] for name in queries}
            with httpx.Client(timeout=120) as client:
                for _ in range(args.runs):
                    for name, query in queries.items():
                        began = time.perf_counter()
                        result = run(client, influxdb.url, database, query)
                        times[name].append(time.perf_counter() - began)
                        if name == table:
                            shown = table_rows(result)
        finally:
            influxdb.stop()
    print(f"compliance dashboard over 2026 ({ASSET}), median of {args.runs} runs:")
    for name, measured in times.items():
        print(f"  {name:<62} {statistics.median(measured):7.3f} s")
    total = statistics.median([sum(run) for run in zip(*times.values(), strict=True)])
    print(f"  {'every query, one after another':<62} {total:7.3f} s")
    verdict = "yes" if agrees(shown, samples) else "NO"
    print(f"the table's {len(shown)} rows agree with coldchain.compliance.daily_stats: {verdict}")


if __name__ == "__main__":
    main()
