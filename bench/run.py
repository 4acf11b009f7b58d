"""The benchmark suite: ours against a minimal MQTT-to-InfluxDB loop and Node-RED.

One command runs every item of docs/performance.md and rewrites it:

    make bench                      # installs the peers, then runs this
    .venv/bin/python -m bench.run   # the same, once the peers are installed

Every sitting starts with a calibration (bench/calibration.py: a fixed Python
micro-benchmark, the load generator alone, InfluxDB alone), compared with the
sitting the document showed before. Each round runs every system on every
measurement, alternating (the first system rotates from round to round);
medians and median ratios over the rounds are reported. Raw results go to
bench/results/. `--smoke` runs the machinery at a tiny scale into a temporary
file (bench/test_smoke.py does that: `make bench-smoke`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench.cluster
from bench import calibration, report, suite
from bench.systems import SYSTEMS, NodeRed, System
from coldchain_devstack import REPO
from coldchain_devstack.servers import InfluxDB, PostgreSQL

#: The first steps; a system that passes the last one steps on until it fails
#: (bench/suite.py `knees`), up to the generator's own rate.
RATES = [2500.0, 5000.0, 10_000.0, 15_000.0, 20_000.0]
#: Item 3: seconds of load and gateways (x 10 probes). An excursion starts every half
#: second, each opening two alerts: 60 s give about 230 first raises a round, so that
#: the p99 is not simply the worst one.
ALERT = (60.0, 100)
ALERT_SMOKE = (3.5, 10)
#: Item 7: ingest workers on a three-node NATS cluster, and the backlog of messages of
#: 50 readings each round drains (bench/cluster.py; about 4 minutes).
CLUSTER_WORKERS = [1, 2, 3]
CLUSTER_MESSAGES = 8000


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rates", default=",".join(f"{r:.0f}" for r in RATES))
    parser.add_argument("--step-s", type=float, default=10.0, help="seconds of load per step")
    parser.add_argument("--refine", type=int, default=2, help="bisections below a failed step")
    parser.add_argument(
        "--only-rates",
        action="store_true",
        help="step only through --rates, not on until every system fails (for quick looks)",
    )
    parser.add_argument("--systems", default="ours,loop,node-red")
    parser.add_argument(
        "--skip", default="", help="items to skip: gateway,compliance,memory,cluster,..."
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--note", default="", help="a sentence printed at the top of the doc")
    parser.add_argument("--smoke", action="store_true", help="tiny scale, for the smoke test")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument(
        "--from-results",
        type=Path,
        help="only rewrite the document from a results file (after editing bench/analysis.md)",
    )
    args = parser.parse_args(argv)
    args.alert = ALERT_SMOKE if args.smoke else ALERT
    if args.smoke:
        args.rounds, args.rates, args.step_s, args.refine = 1, "200", 1.0, 0
        smoke_skips = {"gateway", "compliance", "memory", "cluster"}
        args.skip = ",".join(sorted({*args.skip.split(","), *smoke_skips} - {""}))
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.from_results:
        results = json.loads(args.from_results.read_text())
        args.out.write_text(report.markdown(results))
        print(f"wrote {args.out} from {args.from_results}")
        return results
    began = time.time()
    kinds = [SYSTEMS[name] for name in args.systems.split(",") if name]
    if NodeRed in kinds and not NodeRed.installed():
        raise SystemExit(
            "Node-RED is not installed: run `make bench` (npm ci in bench/peers/node-red)"
        )
    skip = set(args.skip.split(","))
    rates = [float(r) for r in args.rates.split(",")]
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(
            [".venv/bin/python -m bench.run", *(sys.argv[1:] if argv is None else argv)]
        ),
        "machine": report.machine(),
        "settings": report.settings(),
        "systems": [kind.name for kind in kinds],
        "step_s": args.step_s,
        "alert_s": args.alert[0],
        "rounds_run": args.rounds,
        "note": args.note,
        "rounds": [],
        "earlier": earlier_sitting(args.out),
    }
    with tempfile.TemporaryDirectory(prefix="coldchain-bench-") as tmp:
        influxdb = InfluxDB(Path(tmp) / "influxdb")
        influxdb.start()
        # The alerts service stores into PostgreSQL, as in compose.yaml, with fsync on.
        postgresql = PostgreSQL(durable=True) if "alerts" not in skip else None
        try:
            if postgresql is not None:
                postgresql.start()
            session = suite.Session(
                Path(tmp), influxdb, postgresql, step_s=args.step_s, keep_logs=args.keep_logs
            )
            results["calibration"] = calibrate(session, args.smoke)
            generator = results["calibration"]["generator"]["acked_per_s"]
            ceiling = None if args.smoke or args.only_rates else generator
            for number in range(args.rounds):
                order = kinds[number % len(kinds) :] + kinds[: number % len(kinds)]
                print(f"round {number + 1} of {args.rounds}: {', '.join(k.name for k in order)}")
                results["rounds"].append(_round(session, order, rates, ceiling, args, skip))
        finally:
            influxdb.stop()
            if postgresql is not None:
                postgresql.stop()
    if "gateway" not in skip:
        results["gateway_backlog"] = gateway_backlog()
    if "compliance" not in skip:
        results["compliance"] = compliance()
    if "cluster" not in skip:
        results["cluster"] = cluster_workers()
    results["runtime_s"] = time.time() - began
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results_file = args.results / f"{'smoke-' if args.smoke else ''}{stamp}.json"
    try:
        results["results_file"] = str(results_file.relative_to(REPO))
    except ValueError:
        results["results_file"] = str(results_file)
    results_file.write_text(json.dumps(_jsonable(results), indent=1) + "\n")
    args.out.write_text(report.markdown(results))
    print(f"wrote {args.out} and {results_file} in {results['runtime_s'] / 60:.1f} min")
    return results


def calibrate(session: suite.Session, smoke: bool) -> dict[str, Any]:
    """The calibration the sitting starts with (bench/calibration.py); smaller in a smoke run."""
    print("calibration", flush=True)
    return {
        **_micro_benchmarks(smoke),
        "generator": suite.generator_ceiling(session, 2000 if smoke else 300_000),
        "influxdb": calibration.influx_ceiling(session.influxdb, 10_000 if smoke else 300_000),
    }


def _micro_benchmarks(smoke: bool) -> dict[str, Any]:
    """The calibration's Python and memory micro-benchmarks; smaller in a smoke run."""
    return {
        "python": calibration.python_benchmark(rounds=2000 if smoke else calibration.ROUNDS),
        "memory": calibration.memory_benchmark(size=20_000 if smoke else calibration.MEMORY_SIZE),
    }


def earlier_sitting(document: Path) -> dict[str, Any] | None:
    """The results of the sitting `document` shows now (before this one rewrites it): when,
    which file and its calibration; None if there is none to compare with."""
    if not document.exists():
        return None
    found = re.search(r"raw results in `([^`]+\.json)`", document.read_text())
    if found is None or not (REPO / found.group(1)).exists():
        return None
    earlier = json.loads((REPO / found.group(1)).read_text())
    # Sittings before the calibration measured only the generator.
    measured = earlier.get("calibration") or {"generator": earlier.get("generator")}
    return {"date": earlier["date"], "results_file": found.group(1), "calibration": measured}


def _round(
    session: suite.Session,
    order: list[type[System]],
    rates: list[float],
    ceiling: float | None,
    args: argparse.Namespace,
    skip: set[str],
) -> dict[str, Any]:
    # The machine's speed again, recorded beside the round: a sitting's rounds have
    # differed by a third in CPU per message (bench/analysis.md).
    round_: dict[str, Any] = {"calibration": _micro_benchmarks(args.smoke)}
    if "steps" not in skip:
        print(" 1. single-reading messages, step load", flush=True)
        round_["knees"] = suite.knees(session, order, rates, args.refine, ceiling)
    if "batches" not in skip:
        print(" 2. gateway batches", flush=True)
        messages = 40 if args.smoke else 6000
        round_["batches"] = [suite.batches(session, kind, messages) for kind in order]
    if "alerts" not in skip:
        print(" 3. alert latency", flush=True)
        seconds, gateways = args.alert
        round_["alerts"] = [suite.alert_latency(session, kind, seconds, gateways) for kind in order]
    if "memory" not in skip:
        print(" 4. memory", flush=True)
        gateways = 20 if args.smoke else 1000
        round_["memory"] = [suite.memory(session, kind, gateways) for kind in order]
    return round_


def gateway_backlog() -> dict[str, Any]:
    print("5. gateway backlog (bench/gateway_backlog.py --runs 3)", flush=True)
    output = _script("gateway_backlog.py", "--runs", "3")
    runs = re.search(r"\(runs: ([^)]+)\)", output)
    peak = re.search(r"peak RSS ([\d.]+) MB", output)
    median = re.search(r"median ([\d.]+) s", output)
    assert runs and peak and median, output
    return {
        "median_s": float(median.group(1)),
        "runs_s": [float(t) for t in runs.group(1).split(", ")],
        "peak_mb": float(peak.group(1)),
        "output": output,
    }


def compliance() -> dict[str, Any]:
    print("6. compliance query (bench/compliance_query.py)", flush=True)
    output = _script("compliance_query.py")
    table = re.search(r"^  Daily compliance\b.*? / .*?([\d.]+) s$", output, re.M)
    every = re.search(r"^  every query, one after another\s+([\d.]+) s$", output, re.M)
    agree = re.search(r"daily_stats: (\w+)", output)
    assert table and every, output
    return {
        "table_s": float(table.group(1)),
        "dashboard_s": float(every.group(1)),
        "agree": agree.group(1) if agree else "unknown",
        "output": output,
    }


def cluster_workers() -> list[dict[str, Any]]:
    print(f"7. workers on the NATS cluster (bench/cluster.py, {CLUSTER_WORKERS})", flush=True)
    rounds = bench.cluster.sitting(CLUSTER_WORKERS, CLUSTER_MESSAGES)
    for r in rounds:
        print(
            f"   {r.workers} worker(s): {r.readings_per_s} readings/s, "
            f"{r.readings_per_cpu_s} per worker CPU-second, {r.lost} lost",
            flush=True,
        )
    return [dataclasses.asdict(r) for r in rounds]


def _script(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / name), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=1800,
    )
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        raise RuntimeError(f"bench/{name} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _jsonable(value: Any) -> Any:
    """Strict JSON: an infinite latency (never stored) becomes null."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value == float("inf"):
        return None
    return value


if __name__ == "__main__":
    main()
