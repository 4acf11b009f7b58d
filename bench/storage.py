"""Benchmark: InfluxDB's disk per probe-year at one reading a minute, and a hub's five years.

Runs the simulator's hub (`firmware-sim/scenarios/dortmund-hub.yaml`: 9 temperature
probes on 3 cold rooms and 3 vans, with their physics, doors, defrosts, positions and
batteries; coldchain_sim's Firmware) for `--days` days sampled once a minute, makes one
message per gateway and minute, and writes it as ingest does (the fleet file's tags,
`coldchain_ingest.points.telemetry_lines`, batches of 5 000 lines) into a scratch
InfluxDB, the local stack's server, set up by `coldchain_ingest.influxsetup` (five
years). Then it computes the 15-minute series with ingest's own query
(`coldchain_ingest.downsample`), lets InfluxDB compact every shard fully (it runs with
`compact-full-write-cold-duration` and `cache-snapshot-write-cold-duration` of 1 s, so
each shard is cold a second after its last write; the script waits until every shard is
one TSM file and the WAL is empty) and measures the disk the data directory takes, per
retention policy, as `du` counts it (allocated blocks). Last, it times the "years"
dashboard's query over the whole range (6-hour intervals, as Grafana asks for a year)
against the same query over the readings themselves, median of five runs each.

Prints the figures docs/operations.md quotes, as JSON:

    .venv/bin/python bench/storage.py [--days 365]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from coldchain.contract import Telemetry
from coldchain.retention import DEFAULT_RETENTION_DAYS
from coldchain_dashboards.years import long_range_query
from coldchain_devstack import REPO
from coldchain_devstack.servers import InfluxDB, wait_until
from coldchain_ingest import downsample, influxsetup, points
from coldchain_ingest.influx import Influx
from coldchain_io import fleetfile
from coldchain_sim.firmware import Firmware
from coldchain_sim.scenario import Scenario

SCENARIO = REPO / "firmware-sim" / "scenarios" / "dortmund-hub.yaml"
FLEET = REPO / "fleet" / "dortmund-hub.yaml"
DATABASE = "coldchain"
BATCH = 5000
START = datetime(2026, 1, 1, tzinfo=UTC)
HUB_PROBES, HUB_YEARS = 500, 5


def messages(days: int) -> Iterator[tuple[str, Telemetry]]:
    """(site, message) of every gateway for every minute of `days` days from START."""
    scenario = Scenario.from_yaml(SCENARIO.read_text())
    site = fleetfile.load(FLEET).sites[0].id
    gateways = {g.id: Firmware(g, seed=scenario.seed) for g in scenario.gateways}
    for minute in range(days * 24 * 60):
        ts = START + timedelta(minutes=minute)
        for gateway, firmware in gateways.items():
            readings, events = firmware.tick(ts, 0.0 if minute == 0 else 60.0)
            battery = firmware.battery_v(ts)
            yield (
                site,
                Telemetry.model_validate(
                    {
                        "v": 1,
                        "gateway": gateway,
                        "seq": minute + 1,
                        "sent_at": ts,
                        "readings": readings,
                        "events": events,
                        "position": firmware.position(ts),
                        "battery_v": battery,
                    }
                ),
            )


def write(influx: Influx, days: int) -> dict[str, int]:
    fleet = fleetfile.load(FLEET)
    lines: list[str] = []
    counts = {"points": 0, "readings": 0}
    for site, message in messages(days):
        lines += points.telemetry_lines(site, message, fleet)
        counts["readings"] += len(message.readings)
        if len(lines) >= BATCH:
            influx.write(lines)
            counts["points"] += len(lines)
            lines = []
    if lines:
        influx.write(lines)
        counts["points"] += len(lines)
    return counts


def downsample_all(influx: Influx, days: int) -> None:
    sensors = [s.id for _, _, s, _ in fleetfile.load(FLEET).sensors() if s.kind == "temperature"]
    for first in range(0, days, 28):
        start = START + timedelta(days=first)
        end = START + timedelta(days=min(first + 28, days))
        for sensor in sensors:
            influx.query(downsample.query(sensor, start, end))


def query_times(influx: Influx, days: int) -> dict[str, float]:
    """Median seconds of the years panel's query and of its equivalent over the readings."""
    end = START + timedelta(days=days)
    where = (
        f'"site" =~ /^.*$/ AND "asset" =~ /^.*$/ AND time >= {int(START.timestamp())}s '
        f"AND time < {int(end.timestamp())}s"
    )
    panel = long_range_query("en").replace("$__interval", "6h")
    panel = panel.replace('"site" =~ /^$site$/ AND "asset" =~ /^$asset$/ AND $timeFilter', where)
    raw = (
        'SELECT min("temp_c"), mean("temp_c"), max("temp_c") FROM "temperature" '
        f'WHERE {where} GROUP BY time(6h), "asset" fill(none)'
    )
    times = {}
    for name, query in (("years_panel_query_s", panel), ("same_over_readings_s", raw)):
        runs = []
        for _ in range(5):
            began = time.perf_counter()
            assert influx.query(query), query
            runs.append(time.perf_counter() - began)
        times[name] = round(statistics.median(runs), 3)
    return times


def disk(path: Path) -> int:
    """Bytes allocated to the files under `path`, as `du` counts them."""
    return sum(
        (Path(root) / name).stat().st_blocks * 512
        for root, _, files in os.walk(path)
        for name in files
    )


def compacted(data: Path, wal: Path) -> bool:
    """Every shard is one TSM file, no compaction is under way, and the WAL holds nothing."""
    shards = [p for p in data.glob(f"{DATABASE}/*/*") if p.parent.name != "_series"]
    for shard in shards:
        names = [p.name for p in shard.iterdir()]
        if sum(n.endswith(".tsm") for n in names) != 1 or any(".tmp" in n for n in names):
            return False
    return bool(shards) and all(p.stat().st_size == 0 for p in wal.rglob("*.wal"))


def influxd_version() -> str:
    done = subprocess.run(["influxd", "version"], capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coldchain-storage-") as tmp:
        server = InfluxDB(Path(tmp))
        server.env |= {
            "INFLUXDB_DATA_COMPACT_FULL_WRITE_COLD_DURATION": "1s",
            "INFLUXDB_DATA_CACHE_SNAPSHOT_WRITE_COLD_DURATION": "1s",
        }
        server.start()
        try:
            print(json.dumps(measure(server, Path(tmp) / "influxdb", args.days), indent=2))
        finally:
            server.stop()


def measure(server: InfluxDB, directory: Path, days: int) -> dict[str, Any]:
    influx = Influx(server.url, DATABASE, timeout_s=300)
    influxsetup.set_up(influx, DEFAULT_RETENTION_DAYS)
    began = time.monotonic()
    counts = write(influx, days)
    written_s = time.monotonic() - began
    downsample_all(influx, days)
    data, wal = directory / "data", directory / "wal"
    wait_until(lambda: compacted(data, wal), 1800, "every shard compacted fully")
    probe_years = 9 * days / 365
    raw = disk(data / DATABASE / "autogen")
    downsampled = disk(data / DATABASE / "downsampled")
    per_probe_year = raw / probe_years
    per_probe_year_15m = downsampled / probe_years
    hub = HUB_PROBES * HUB_YEARS
    largest_shard = max(disk(p) for p in (data / DATABASE / "autogen").iterdir())
    times = query_times(influx, days)
    influx.close()
    return times | {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cores",
        "influxd": influxd_version(),
        "days": days,
        "probes": 9,
        "readings": counts["readings"],
        "points": counts["points"],
        "write_s": round(written_s),
        "raw_bytes": raw,
        "downsampled_bytes": downsampled,
        "series_file_bytes": disk(data / DATABASE / "_series"),
        "wal_bytes_after_compaction": disk(wal),
        "largest_raw_shard_bytes": largest_shard,
        "bytes_per_probe_year_raw": round(per_probe_year),
        "bytes_per_probe_year_downsampled": round(per_probe_year_15m),
        "bytes_per_reading_raw": round(raw / counts["readings"], 2),
        f"hub_{HUB_PROBES}_probes_{HUB_YEARS}_years_raw_bytes": round(per_probe_year * hub),
        f"hub_{HUB_PROBES}_probes_{HUB_YEARS}_years_downsampled_bytes": round(
            per_probe_year_15m * hub
        ),
    }


if __name__ == "__main__":
    main()
