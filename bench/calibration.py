"""What a sitting's machine can do, measured before the systems run, so that two sittings
can be compared.

Every sitting starts with four measurements, reported beside its figures:

- a fixed single-core Python micro-benchmark (`python_benchmark`): the same work
  every time, the best of several runs, so that a machine or a sitting that runs
  Python slower shows up as a lower score;
- a memory-bound one (`memory_benchmark`): random reads of a list too large for the
  cache, which slows when the host's other tenants use the memory, where the first
  one (its work fits in the cache) may not;
- the load generator alone against Mosquitto (bench/suite.py `generator_ceiling`);
- InfluxDB's own ceiling (`influx_ceiling`): pre-built bodies of points written one
  after another, as ingest writes them, which bounds what any system stores.

`drift` compares a sitting's calibration with an earlier one's: a sitting whose
machine ran more than DRIFT apart is flagged in the report, and its absolute
numbers are not comparable with the earlier ones (the ratios between the systems
of one sitting still are).
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime
from typing import Any

from bench.workload import Fleet, stamp, telemetry, topic
from coldchain_devstack.servers import InfluxDB

#: A calibration further apart than this from the earlier sitting's is flagged.
DRIFT = 0.15
#: Rounds of the micro-benchmark's work in one run, and runs (the best counts).
ROUNDS = 20_000
RUNS = 5
#: Floats the memory micro-benchmark reads in a random order.
MEMORY_SIZE = 2_000_000

_PAYLOAD = telemetry("gw-00001", 7, [("gw-00001.p03", stamp(1_790_000_000_123_456), 3.4)])


def _work(rounds: int) -> int:
    """The micro-benchmark's fixed work: what a message costs an MQTT-to-InfluxDB loop in
    plain Python (JSON, a time, a dict, a line of text), with no I/O."""
    seen: dict[str, float] = {}
    total = 0
    for i in range(rounds):
        message = json.loads(_PAYLOAD)
        reading = message["readings"][0]
        moment = datetime.fromisoformat(reading["ts"])
        sensor = f"{reading['sensor']}.{i % 50}"
        seen[sensor] = max(seen.get(sensor, -100.0), reading["temp_c"])
        line = f"temperature,{topic(message['gateway'])} temp_c={reading['temp_c']!r} {moment}"
        total += len(line) + len(sorted(seen)[:3])
    return total


def python_benchmark(rounds: int = ROUNDS, runs: int = RUNS) -> dict[str, Any]:
    """Rounds of `_work` per second on one core: the best of `runs` runs."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        _work(rounds)
        times.append(time.perf_counter() - began)
    score = rounds / min(times)
    print(f"  Python micro-benchmark: {score:,.0f} rounds/s (best of {runs})", flush=True)
    return {"rounds": rounds, "runs_s": times, "rounds_per_s": score}


def memory_benchmark(size: int = MEMORY_SIZE, runs: int = RUNS) -> dict[str, Any]:
    """Reads/s of `size` floats of a list in a fixed random order, the best of `runs`:
    each read is likely a cache miss (a working set of about 100 MB), so this moves with
    the memory's speed, which the host's other tenants share, where `python_benchmark`
    (a working set that fits in the cache) does not."""
    data = [float(i) for i in range(size)]
    order = list(range(size))
    random.Random(7).shuffle(order)
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        total = 0.0
        for i in order:
            total += data[i]
        times.append(time.perf_counter() - began)
    score = size / min(times)
    print(f"  memory micro-benchmark: {score:,.0f} random reads/s (best of {runs})", flush=True)
    return {"size": size, "runs_s": times, "reads_per_s": score}


def influx_ceiling(
    influxdb: InfluxDB, points: int = 300_000, per_write: int = 5000
) -> dict[str, Any]:
    """Points/s InfluxDB stores from pre-built bodies of `per_write` points, one write at
    a time, into a database of its own (the series of the batch item's fleet)."""
    fleet = Fleet(gateways=20, probes=10)
    base_us = int(time.time() * 1e6)
    lines = [
        f"temperature,site=bench,gateway={fleet.gateway(i % fleet.gateways)},"
        f"sensor={fleet.sensor(i % fleet.gateways, (i // fleet.gateways) % fleet.probes)} "
        f"temp_c=3.5,seq={i + 1}i {(base_us + i) * 1000}"
        for i in range(points)
    ]
    bodies = ["\n".join(lines[at : at + per_write]) for at in range(0, points, per_write)]
    database = "bench_ceiling"
    influxdb.query(database, f'CREATE DATABASE "{database}"')
    try:
        began = time.perf_counter()
        for body in bodies:
            influxdb.write(database, body)
        seconds = time.perf_counter() - began
    finally:
        influxdb.query(database, f'DROP DATABASE "{database}"')
    rate = points / seconds
    print(f"  InfluxDB alone: {rate:,.0f} points/s in writes of {per_write}", flush=True)
    return {"points": points, "per_write": per_write, "points_per_s": rate}


def drift(now: dict[str, Any], before: dict[str, Any] | None) -> dict[str, float]:
    """Each calibration figure of this sitting against the earlier one's (1.0: the same);
    only the figures both sittings measured."""
    if not before:
        return {}
    figures = {
        "python": ("python", "rounds_per_s"),
        "memory": ("memory", "reads_per_s"),
        "generator": ("generator", "acked_per_s"),
        "influxdb": ("influxdb", "points_per_s"),
    }
    out = {}
    for name, (item, key) in figures.items():
        a, b = (now.get(item) or {}).get(key), (before.get(item) or {}).get(key)
        if a and b:
            out[name] = a / b
    return out


def flagged(ratios: dict[str, float]) -> list[str]:
    """The figures more than DRIFT apart from the earlier sitting's."""
    return [name for name, ratio in ratios.items() if abs(ratio - 1) > DRIFT]
