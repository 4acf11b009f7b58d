"""Benchmark: a day's backlog of one gateway (8 probes, one reading a minute) flushed.

Fills an outbox as a day in a dead zone would, then starts the real gateway
against a real Mosquitto, ingest and InfluxDB, and measures the time from its
start until every reading is confirmed durable (the gateway exits when drained),
the gateway's peak memory (VmHWM), and that InfluxDB holds every reading once.

    .venv/bin/python bench/gateway_backlog.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coldchain.contract import Reading
from coldchain_devstack.servers import InfluxDB, Mosquitto, service, wait_until
from coldchain_devstack.stack import SCENARIO, SITE, Stack
from coldchain_gateway.outbox import Outbox

PROBES = 8
MINUTES = 24 * 60


def fill(outbox_path: Path, start: datetime) -> None:
    """A day of readings pending, in an outbox that had been publishing before the dead zone."""
    outbox = Outbox(outbox_path)
    outbox.append([], [], None, ticks=0, battery_v=3.6)
    outbox.pack("van-1", start)
    outbox.confirm(1)
    for minute in range(MINUTES):
        ts = start + timedelta(minutes=minute)
        readings = [
            Reading(sensor=f"van-1.probe-{p}", ts=ts, temp_c=3.0 + p / 10) for p in range(PROBES)
        ]
        outbox.append(readings, [], None, ticks=minute + 1)
    outbox.close()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_once(directory: Path, influxdb: InfluxDB) -> tuple[float, float]:
    mosquitto = Mosquitto(directory)
    mosquitto.start()
    stack = Stack(directory, mosquitto, influxdb, f"bench_{uuid.uuid4().hex[:8]}")
    try:
        stack.start_ingest()
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1, hours=1)
        outbox = directory / "outbox.sqlite3"
        fill(outbox, start)
        gateway = service(
            "gateway",
            "coldchain-gateway",
            directory,
            {
                "COLDCHAIN_GATEWAY_SITE": SITE,
                "COLDCHAIN_GATEWAY_ID": "van-1",
                "COLDCHAIN_GATEWAY_MQTT_PORT": str(mosquitto.port),
                "COLDCHAIN_GATEWAY_OUTBOX": str(outbox),
                "COLDCHAIN_GATEWAY_SIM_SCENARIO": str(SCENARIO),
                "COLDCHAIN_GATEWAY_CLOCK": "replay",
                "COLDCHAIN_GATEWAY_REPLAY_START": start.isoformat(),
                "COLDCHAIN_GATEWAY_INTERVAL_S": "60",
                "COLDCHAIN_GATEWAY_TICKS": str(MINUTES),
                "COLDCHAIN_GATEWAY_EXIT_WHEN_DRAINED": "true",
            },
        )
        began = time.perf_counter()
        gateway.start()
        assert gateway.popen is not None
        pid = gateway.popen.pid
        rss = 0.0
        while gateway.popen.poll() is None:
            rss = max(rss, peak_rss_mb(pid))
            time.sleep(0.05)
        elapsed = time.perf_counter() - began
        assert gateway.popen.returncode == 0, gateway.output()[-2000:]
        stored = wait_until(
            lambda: (
                stack.influxdb.count(stack.database, "SELECT count(temp_c) FROM temperature")
                == PROBES * MINUTES
            ),
            30,
            "every reading in InfluxDB",
        )
        assert stored
        return elapsed, rss
    finally:
        stack.stop()
        mosquitto.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        influxdb = InfluxDB(Path(tmp) / "influxdb")
        influxdb.start()
        try:
            results = [
                run_once(Path(tempfile.mkdtemp(dir=tmp)), influxdb) for _ in range(args.runs)
            ]
        finally:
            influxdb.stop()
    times = [t for t, _ in results]
    print(
        f"backlog {PROBES} probes x {MINUTES} min = {PROBES * MINUTES} readings: "
        f"confirmed durable in median {statistics.median(times):.2f} s "
        f"(runs: {', '.join(f'{t:.2f}' for t in times)}); "
        f"gateway peak RSS {max(r for _, r in results):.1f} MB"
    )


if __name__ == "__main__":
    main()
