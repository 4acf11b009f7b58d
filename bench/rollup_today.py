"""What one run of ingest's compliance rollup costs for today's preliminary records.

A real InfluxDB holds a day of one reading a minute up to 20:00 local time for
`--sensors` probes (one asset each, category perishable); `RollupJob.run` computes
today for all of them (`so_far_runs` 1, as every run did before 2026-12-07) three
times, and the wall and CPU time of each run are printed, with the cost per sensor.
Multiply by the share a run takes (`COLDCHAIN_INGEST_SO_FAR_INTERVAL_S` over
`ROLLUP_INTERVAL_S`) for a fleet's cost a minute (bench/analysis.md).

    .venv/bin/python -m bench.rollup_today --sensors 50
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from coldchain.fleet import Fleet
from coldchain.retention import DEFAULT_RETENTION_DAYS
from coldchain_devstack.servers import InfluxDB
from coldchain_ingest import influxsetup
from coldchain_ingest.influx import Influx
from coldchain_ingest.rollup import DayWriter, PendingDays, RollupJob

INTERVAL_S = 60
BERLIN = ZoneInfo("Europe/Berlin")
DAY_START = datetime(2026, 3, 30, tzinfo=BERLIN).astimezone(UTC)
NOW = datetime(2026, 3, 30, 20, tzinfo=BERLIN).astimezone(UTC)


def fleet(sensors: int) -> Fleet:
    gateways = [
        {
            "id": f"g{i}",
            "sensors": [{"id": f"g{i}.air", "asset": f"a{i}", "interval_s": INTERVAL_S}],
        }
        for i in range(sensors)
    ]
    assets = [
        {
            "id": f"a{i}",
            "name": {"de": f"Kühlraum {i}", "en": f"Cold room {i}"},
            "category": "perishable",
        }
        for i in range(sensors)
    ]
    return Fleet.from_data(
        {"sites": [{"id": "s", "name": "S", "gateways": gateways, "assets": assets}]}
    )


def lines(sensors: int) -> list[str]:
    """From an hour before local midnight to 20:00, one reading a minute per sensor."""
    found = []
    for i in range(sensors):
        ts = DAY_START - timedelta(hours=1)
        while ts < NOW:
            found.append(
                f"temperature,site=s,gateway=g{i},sensor=g{i}.air,asset=a{i} "
                f"temp_c=4.0,seq=1i {int(ts.timestamp()) * 10**9}"
            )
            ts += timedelta(seconds=INTERVAL_S)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=50)
    sensors = parser.parse_args().sensors
    with tempfile.TemporaryDirectory(prefix="coldchain-rollup-") as tmp:
        influxdb = InfluxDB(Path(tmp) / "influxdb")
        influxdb.start()
        try:
            influx = Influx(influxdb.url, "coldchain", timeout_s=60)
            influxsetup.set_up(influx, DEFAULT_RETENTION_DAYS)
            body = lines(sensors)
            for start in range(0, len(body), 5000):
                influxdb.write("coldchain", "\n".join(body[start : start + 5000]))
            pending = PendingDays(Path(tmp) / "state.sqlite3")
            job = RollupJob(fleet(sensors), DayWriter(influx), pending)
            job.run(NOW)  # the day before ends: its records are computed once
            for minute in range(1, 4):
                wall, cpu = time.perf_counter(), time.process_time()
                job.run(NOW + timedelta(minutes=minute))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                print(
                    f"run {minute}: {wall:.2f} s wall, {cpu:.2f} s CPU for {sensors} sensors "
                    f"({len(body) // sensors} readings each): {wall / sensors * 1000:.1f} ms "
                    f"and {cpu / sensors * 1000:.1f} ms of CPU a sensor"
                )
            pending.close()
            influx.close()
        finally:
            influxdb.stop()


if __name__ == "__main__":
    main()
