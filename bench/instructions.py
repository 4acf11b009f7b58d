"""Instructions per single-reading message of ingest, counted by callgrind.

Rates and CPU time move with whatever else shares the machine; the instructions a
process executes do not. Here a backlog of single-reading messages (the bench's fleet
of 50 gateways x 20 probes) waits in ingest's persistent session; ingest starts under
`valgrind --tool=callgrind`, drains it in batches of half its receive window, as it
does at its knee, and stops. That is done for two backlogs; the difference of their
counts per message of difference cancels starting and stopping. User-space
instructions only (the kernel's work for sockets and files is not counted); every
thread of the process (paho's network thread, the InfluxDB writer) is.

    .venv/bin/python -m bench.instructions        # backlogs of 2000 and 8000, ~10 min

The rollup's and the silence check's timers are set to a day: they run on a clock,
not per message.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.load import Publisher
from bench.observe import Counter
from bench.systems import _healthy
from bench.workload import Fleet, Planner
from coldchain_devstack import BIN
from coldchain_devstack.servers import InfluxDB, Mosquitto, free_port, service, wait_until

FLEET = Fleet(gateways=50, probes=20)


def counted(messages: int, directory: Path, influxdb: InfluxDB) -> int:
    """Instructions of one ingest process from its start until it drained `messages`."""
    mosquitto = Mosquitto(directory)
    mosquitto.start()
    database = f"instructions_{messages}"
    influxdb.query(database, f'CREATE DATABASE "{database}"')
    fleet_file, _ = FLEET.write(directory)
    port = free_port()
    settings = {
        "COLDCHAIN_INGEST_MQTT_PORT": str(mosquitto.port),
        "COLDCHAIN_INGEST_INFLUX_URL": influxdb.url,
        "COLDCHAIN_INGEST_INFLUX_DB": database,
        "COLDCHAIN_INGEST_FLEET": str(fleet_file),
        "COLDCHAIN_INGEST_METRICS_PORT": str(port),
        "COLDCHAIN_INGEST_STATE": str(directory / "ingest-state.sqlite3"),
        "COLDCHAIN_INGEST_ROLLUP_INTERVAL_S": "86400",
        "COLDCHAIN_INGEST_SILENCE_CHECK_S": "86400",
        "COLDCHAIN_INGEST_STALLED_AFTER_S": "86400",
    }
    counter = Counter(influxdb, database)
    publisher = Publisher(mosquitto.port, [f"load-{c}" for c in range(50)])
    planner = Planner(FLEET, 50)
    # A first run subscribes the session and warms the rule state of every gateway.
    first = service("ingest", "coldchain-ingest", directory, settings)
    measured = service("ingest-callgrind", "coldchain-ingest", directory, settings)
    out = directory / "callgrind.out"
    measured.argv = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        str(BIN / "coldchain-ingest"),
    ]
    try:
        first.start()
        wait_until(lambda: _healthy(port), 60, "ingest to connect")
        warm = planner.plan(FLEET.gateways, 1, time.time() - 120, None)
        publisher.send(publisher.encode(warm.messages), None)
        wait_until(lambda: counter.count() >= warm.readings, 120, "the warm-up")
        first.stop()
        backlog = planner.plan(messages, 1, time.time() - 60, None)
        sent = publisher.send(publisher.encode(backlog.messages), None)
        if sent.acked != messages:
            raise RuntimeError(f"the broker took {sent.acked} of {messages} messages")
        measured.start()
        wait_until(lambda: _acked(port) >= messages, 3600, "the backlog", interval=2.0)
    finally:
        first.stop()
        measured.stop(timeout=600)
        publisher.close()
        mosquitto.stop()
        influxdb.query(database, f'DROP DATABASE "{database}"')
    found = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(errors="replace"), re.M)
    if found is None:
        raise RuntimeError(f"no instruction count in {out}")
    return int(found.group(1))


def _acked(port: int) -> float:
    """Messages ingest acknowledged since it started (its metrics; 0 before it answers)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 0.0
    found = re.search(r"^coldchain_ingest_messages_acked_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", default="2000,8000", help="the two backlogs")
    args = parser.parse_args(argv)
    small, large = (int(n) for n in args.messages.split(","))
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="coldchain-instructions-") as tmp:
        influxdb = InfluxDB(Path(tmp) / "influxdb")
        influxdb.start()
        try:
            counts = []
            for messages in (small, large):
                directory = Path(tmp) / str(messages)
                directory.mkdir()
                counts.append(counted(messages, directory, influxdb))
                print(f"  {messages} messages: {counts[-1]:,} instructions", flush=True)
        finally:
            influxdb.stop()
    per_message = (counts[1] - counts[0]) / (large - small)
    print(f"{per_message:,.0f} instructions per single-reading message", flush=True)
    return per_message


if __name__ == "__main__":
    main()
