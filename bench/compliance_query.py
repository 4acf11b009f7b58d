"""Benchmark: the compliance table's daily queries over a year of one-minute readings.

Writes 2026 (525 600 readings, one a minute, with excursions and gaps) for one asset
into a real InfluxDB, builds the compliance dashboard for a fleet whose probe reports
once a minute, and runs every query of its "Daily compliance" table for the whole
year as Grafana would (variables substituted), five times. Prints the median time of
each query and of the table, and whether the 365 rows agree with
coldchain.compliance.daily_stats.

    .venv/bin/python bench/compliance_query.py [--runs 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO / "scripts")]

from coldchain.compliance import Band, Sample, daily_stats, local_day_bounds  # noqa: E402
from coldchain.fleet import Fleet  # noqa: E402
from coldchain_dashboards import build  # noqa: E402
from coldchain_dashboards.compliance import TABLE_TITLE  # noqa: E402
from servers import InfluxDB  # noqa: E402

SITE, ASSET, SENSOR = "dortmund-hub", "cold-room-1", "cold-room-1.air"
FIRST_DAY, LAST_DAY = date(2026, 1, 1), date(2026, 12, 31)
BATCH = 5000
BERLIN = ZoneInfo("Europe/Berlin")


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
    with httpx.Client(timeout=60) as client:
        client.post(f"{influxdb.url}/query", data={"q": f'CREATE DATABASE "{database}"'})
        for i in range(0, len(samples), BATCH):
            body = "\n".join(
                f"{tags} temp_c={s.temp_c!r},seq=1i {int(s.ts.timestamp()) * 10**9}"
                for s in samples[i : i + BATCH]
            )
            response = client.post(f"{influxdb.url}/write", params={"db": database}, content=body)
            response.raise_for_status()
    return time.perf_counter() - began


def table_queries() -> dict[str, str]:
    """The daily table's queries for a fleet whose cold-room-1 probe reports every 60 s."""
    fleet = yaml.safe_load((REPO / "fleet" / "dortmund-hub.yaml").read_text())
    for site in fleet["sites"]:
        for gateway in site["gateways"]:
            for sensor in gateway["sensors"]:
                sensor["interval_s"] = 60
    board = build(Fleet.model_validate(fleet))["compliance.json"]
    (panel,) = [p for p in board["panels"] if p["title"] == TABLE_TITLE]
    start, end = local_day_bounds(FIRST_DAY)[0], local_day_bounds(LAST_DAY)[1]
    time_filter = f"time >= '{start:%Y-%m-%dT%H:%M:%SZ}' AND time < '{end:%Y-%m-%dT%H:%M:%SZ}'"
    substitutes = {"$timeFilter": time_filter, "$site": SITE, "$asset": f"({ASSET})"}
    queries = {}
    for target in panel["targets"]:
        query = target["query"]
        for name, value in substitutes.items():
            query = query.replace(name, value)
        queries[target["refId"]] = query
    return queries


def run(client: httpx.Client, url: str, database: str, query: str) -> list[dict[str, Any]]:
    answer = client.post(f"{url}/query", data={"db": database, "q": query, "epoch": "ns"})
    result = answer.json()["results"][0]
    if "error" in result:
        raise RuntimeError(f"{result['error']} in {query}")
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def agrees(shown: dict[tuple[str, date], dict[str, Any]], samples: list[Sample]) -> bool:
    fleet = Fleet.from_yaml((REPO / "fleet" / "dortmund-hub.yaml").read_text())
    limits = next(entry[3] for entry in fleet.sensors() if entry[3].id == ASSET).limits
    band = Band(max_c=limits.max_c, min_c=limits.min_c)
    for day, stats in daily_stats(samples, FIRST_DAY, LAST_DAY, band, 60):
        row = shown[(ASSET, day)]
        expected = {
            "coverage_pct": stats.coverage_pct,
            "time_in_range_pct": stats.time_in_range_pct,
            "excursions_above": len(stats.excursions),
            "excursion_s": stats.excursion_s,
            "degree_minutes": stats.degree_minutes,
            "mean_c": stats.mean_c,
            "mkt_c": stats.mkt_c,
        }
        for name, value in expected.items():
            if not math.isclose(row[name], value, rel_tol=1e-9, abs_tol=1e-9):
                print(f"  {day} {name}: dashboard {row[name]}, compliance code {value}")
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    samples = readings()
    queries = table_queries()
    with tempfile.TemporaryDirectory() as tmp:
        influxdb = InfluxDB(Path(tmp))
        influxdb.start()
        try:
            database = f"bench_{uuid.uuid4().hex[:8]}"
            seconds = write(influxdb, database, samples)
            print(f"wrote {len(samples)} readings in {seconds:.1f} s (batches of {BATCH})")
            times: dict[str, list[float]] = {ref: [] for ref in queries}
            totals = []
            shown: dict[tuple[str, date], dict[str, Any]] = {}
            with httpx.Client(timeout=120) as client:
                for _ in range(args.runs):
                    total = 0.0
                    for ref, query in queries.items():
                        began = time.perf_counter()
                        result = run(client, influxdb.url, database, query)
                        elapsed = time.perf_counter() - began
                        times[ref].append(elapsed)
                        total += elapsed
                        for series in result:
                            for values in series["values"]:
                                day = datetime.fromtimestamp(values[0] / 1e9, UTC)
                                key = (series["tags"]["asset"], day.astimezone(BERLIN).date())
                                row = shown.setdefault(key, {})
                                row.update(zip(series["columns"][1:], values[1:], strict=True))
                    totals.append(total)
        finally:
            influxdb.stop()
    print(f"daily compliance table, {len(shown)} days of {ASSET}, median of {args.runs} runs:")
    for ref, measured in times.items():
        print(f"  {ref:<24} {statistics.median(measured):7.3f} s")
    print(f"  {'whole table':<24} {statistics.median(totals):7.3f} s")
    verdict = "yes" if agrees(shown, samples) else "NO"
    print(f"rows agree with coldchain.compliance.daily_stats: {verdict}")


if __name__ == "__main__":
    main()
