"""Throughput of ingest workers on the NATS cluster: 1, 2 and 3 workers in one run.

    .venv/bin/python -m bench.cluster            # about 4 minutes on 2 cores
    .venv/bin/python -m bench.cluster --messages 400 --workers 1,2   # a quick look

A real three-node cluster and InfluxDB on this machine, the bench fleet (bench/
workload.py, 48 gateways of 10 probes) spread over the partitions. For each number
of workers: the workers start on empty streams and take their shares of the
partitions (a lease each); then `messages` telemetry messages of 50 readings are
published into stream TELEMETRY at once, through the subject mapping, as a burst
of gateways would. Measured from the first publish until the last reading is
stored: readings/s, and readings per CPU-second the workers spent (their user
and system time from /proc), which is the figure that scales with cores. docs/scaling.md shows the
table; raw results go to bench/results/cluster-*.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import nats.errors
from nats.js.errors import NotFoundError

from bench.workload import Fleet, Planner
from coldchain_devstack import REPO
from coldchain_devstack.clusterstack import ClusterStack
from coldchain_devstack.servers import InfluxDB, NatsCluster, Process, wait_until
from coldchain_io import nats as nats_io

PARTITIONS = 12
READINGS_PER_MESSAGE = 50
#: How often the drain is looked at, in seconds.
POLL_S = 0.25
#: The workers' scheduled jobs stay out of the measurement: nothing goes silent, and the
#: compliance of today is computed after the run, not during it.
QUIET = {
    "COLDCHAIN_INGEST_SILENCE_CHECK_S": "3600",
    "COLDCHAIN_INGEST_ROLLUP_INTERVAL_S": "3600",
    "COLDCHAIN_INGEST_METRICS_PORT": "0",
}


@dataclass(frozen=True)
class Round:
    workers: int
    readings: int
    seconds: float
    readings_per_s: float
    cpu_s: float
    readings_per_cpu_s: float
    lost: int


def _settings(cluster: NatsCluster) -> nats_io.NatsSettings:
    return nats_io.NatsSettings(
        nats_servers=cluster.servers, nats_user="ingest", nats_password=cluster.password("ingest")
    )


async def _fresh(cluster: NatsCluster) -> None:
    """Empty streams and buckets, as for a new deployment."""
    nc = await nats_io.connect(_settings(cluster), "bench")
    js = nc.jetstream(timeout=10)
    for stream in (nats_io.TELEMETRY_STREAM, nats_io.ALERTS_STREAM):
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)
    for bucket in (nats_io.LEASES_BUCKET, nats_io.WORKERS_BUCKET, nats_io.CHECKPOINTS_BUCKET):
        with contextlib.suppress(NotFoundError):
            await js.delete_key_value(bucket)
    await nats_io.ensure_streams(js, _settings(cluster))
    await nc.close()


async def _backlog(cluster: NatsCluster, fleet: Fleet, messages: int) -> int:
    """Publish the backlog into TELEMETRY through the subject mapping; readings sent."""
    plan = Planner(fleet, fleet.gateways).plan(messages, READINGS_PER_MESSAGE, time.time(), None)
    nc = await nats_io.connect(_settings(cluster), "bench")
    js = nc.jetstream(timeout=30)
    chunk = 500
    for first in range(0, len(plan.messages), chunk):
        await asyncio.gather(
            *(
                js.publish(nats_io.subject_of(m.topic), m.payload)
                for m in plan.messages[first : first + chunk]
            )
        )
    await nc.close()
    return plan.readings


async def _owners(cluster: NatsCluster) -> dict[int, str]:
    nc = await nats_io.connect(_settings(cluster), "bench")
    try:
        leases = await nc.jetstream().key_value(nats_io.LEASES_BUCKET)
        owners = {}
        for partition in range(PARTITIONS):
            try:
                entry = await leases.get(f"p{partition}")
            except NotFoundError:
                continue
            if entry.value:
                owners[partition] = entry.value.decode()
        return owners
    finally:
        await nc.close()


def _balanced(cluster: NatsCluster, names: list[str]) -> bool:
    try:
        owners = asyncio.run(_owners(cluster))
    except nats.errors.Error:  # the bucket not made yet, a node still electing leaders
        return False
    shares = {name: sum(1 for o in owners.values() if o == name) for name in names}
    return len(owners) == PARTITIONS and max(shares.values()) - min(shares.values()) <= 1


def _cpu_s(processes: list[Process]) -> float:
    """User and system CPU seconds the processes have used so far."""
    total = 0
    for process in processes:
        assert process.popen is not None
        fields = Path(f"/proc/{process.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _count(influxdb: InfluxDB, database: str) -> int:
    return influxdb.count(database, "SELECT count(temp_c) FROM temperature")


def measure(
    directory: Path, cluster: NatsCluster, influxdb: InfluxDB, workers: int, messages: int
) -> Round:
    asyncio.run(_fresh(cluster))
    fleet = Fleet(gateways=48, probes=10)
    database = f"bench_{uuid.uuid4().hex[:8]}"
    influxdb.query("", f'CREATE DATABASE "{database}"')
    here = _made(directory / f"w{workers}")
    fleet_file, _ = fleet.write(here)
    stack = ClusterStack(here, cluster, influxdb, database, fleet=fleet_file)
    names = [f"w{n}" for n in range(workers)]
    processes = [stack.worker(name, **QUIET) for name in names]
    try:
        for process in processes:
            process.start()
        wait_until(lambda: _balanced(cluster, names), 120, "the workers to share the partitions")
        started, cpu_then = time.monotonic(), _cpu_s(processes)
        sent = asyncio.run(_backlog(cluster, fleet, messages))
        wait_until(lambda: _count(influxdb, database) >= sent, 900, "the backlog stored", POLL_S)
        seconds = time.monotonic() - started
        cpu = _cpu_s(processes) - cpu_then
    finally:
        stack.stop()
    return Round(
        workers=workers,
        readings=sent,
        seconds=round(seconds, 2),
        readings_per_s=round(sent / seconds),
        cpu_s=round(cpu, 2),
        readings_per_cpu_s=round(sent / cpu),
        lost=sent - _count(influxdb, database),
    )


def sitting(workers: list[int], messages: int) -> list[Round]:
    """One round for each number of `workers`, on one fresh cluster and InfluxDB."""
    with tempfile.TemporaryDirectory(prefix="coldchain-cluster-bench-") as temp:
        directory = Path(temp)
        influxdb = InfluxDB(_made(directory / "influxdb"))
        cluster = NatsCluster(_made(directory / "nats"), PARTITIONS)
        cluster.start()
        influxdb.start()
        try:
            return [measure(directory, cluster, influxdb, n, messages) for n in workers]
        finally:
            cluster.stop()
            influxdb.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=8000, help="backlog per round")
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    rounds = sitting([int(n) for n in args.workers.split(",")], args.messages)
    print("| workers | readings | seconds | readings/s | worker CPU s | readings per CPU-second |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rounds:
        print(
            f"| {r.workers} | {r.readings} | {r.seconds} | {r.readings_per_s} | {r.cpu_s} | "
            f"{r.readings_per_cpu_s} |"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.results / f"cluster-{stamp}.json"
    out.write_text(json.dumps({"cpus": os.cpu_count(), "rounds": [asdict(r) for r in rounds]}))
    print(f"results in {out}")


def _made(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory


if __name__ == "__main__":
    main()
