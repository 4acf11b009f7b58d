"""Where an alert's latency goes, stage by stage (issue 23, item 3 of the bench).

    .venv/bin/python -m bench.alert_stages [--seconds 60] [--runs 1]

Runs the bench's alert-latency load (bench/suite.py `send_excursions`: 1000 probes at
one reading a second, an excursion every half second) against ingest and the alerts
service on PostgreSQL with fsync on, as `make bench` does, with the timestamps of
bench/stage_probe (which wraps a few methods of the running services; their code is
unchanged). For every first raise it prints the p50 and p99, from the reading's own
time, of each stage:

- arrived at ingest (the broker's delivery to ingest),
- batch cut (its write to InfluxDB begins), written (the rules judge it),
- published by ingest (its publish on `_alerts` begins),
- received by the alerts service, committed (its storing transaction),
- escalation run queued, pass started (holds the site's lock, reads),
- handing over to SMTP, e-mail received (the bench's mail sink).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import suite
from bench.observe import AlertStore
from bench.systems import Ours
from bench.workload import Fleet
from coldchain_devstack.servers import InfluxDB, PostgreSQL

PROBE = Path(__file__).parent / "stage_probe"
#: What the probe logs once per storing transaction, escalation run, pass and notice.
_COUNTED = ("committed", "run-queued", "pass-started", "sending")
STAGES = (
    "arrived at ingest",
    "batch cut",
    "written to InfluxDB",
    "published by ingest",
    "received by alerts",
    "storing began",
    "committed",
    "run queued",
    "pass started",
    "handing to SMTP",
    "e-mail received",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--gateways", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="coldchain-stages-") as tmp:
        influxdb = InfluxDB(Path(tmp) / "influxdb")
        postgresql = PostgreSQL(durable=True)
        influxdb.start()
        postgresql.start()
        try:
            session = suite.Session(Path(tmp), influxdb, postgresql)
            for number in range(args.runs):
                log = Path(tmp) / f"stages-{number}.jsonl"
                print(f"run {number + 1}: {args.seconds:.0f} s", flush=True)
                report(measure(session, log, args.seconds, args.gateways))
        finally:
            influxdb.stop()
            postgresql.stop()


def measure(
    session: suite.Session, log: Path, seconds: float, gateways: int
) -> dict[str, list[float]]:
    """One run: each stage's latencies (s) of the first raises that reached every stage."""
    probe = {"PYTHONPATH": str(PROBE), "BENCH_STAGE_LOG": str(log)}
    before = {name: os.environ.get(name) for name in probe}
    os.environ.update(probe)
    try:
        with suite.started(session, Ours, Fleet(gateways=gateways, probes=10), True) as run:
            assert run.setup.alerts_url and isinstance(run.system, Ours) and run.system.mail
            store = AlertStore(run.setup.alerts_url)
            suite.send_excursions(run, seconds)
            store.stop()
            mail = run.system.mail.arrivals()
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value
    return latencies(_read(log), mail, store.first_key)


def _read(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def latencies(
    lines: list[dict[str, Any]],
    mail: dict[int, float],
    first_key: dict[int, str],
) -> dict[str, list[float]]:
    """Each stage's latency (s, from the reading's time) of every first raise that reached
    all of them, from the probe's `lines`, the mail sink's arrivals by alert id and each
    alert's key by id (AlertStore)."""
    times: dict[str, dict[str, float]] = defaultdict(dict)
    at: dict[str, float] = {}
    for line in lines:
        stage = line["stage"]
        if stage == "ingest" and line["state"] == "raised":
            key = line["key"]
            at.setdefault(key, line["at"])
            for name, field in (("arrived at ingest", "arrived"), ("batch cut", "cut")):
                if line[field] is not None:
                    times[name].setdefault(key, line[field])
            times["written to InfluxDB"].setdefault(key, line["written"])
        elif stage == "ingest-publish":
            for key in line["keys"]:
                times["published by ingest"].setdefault(key, line["t"])
        elif stage == "received" and line["state"] == "raised":
            times["received by alerts"].setdefault(line["key"], line["t"])
        elif stage == "committed":
            for key, state in line["keys"]:
                if state == "raised":
                    times["storing began"].setdefault(key, line["began"])
                    times["committed"].setdefault(key, line["t"])
    # The escalation's milestones are per site: the first of each after the commit.
    queued = [line["t"] for line in lines if line["stage"] == "run-queued"]
    passes = [line["t"] for line in lines if line["stage"] == "pass-started"]
    for line in lines:
        if line["stage"] == "sending":
            for alert_id in line["ids"]:
                key = first_key.get(alert_id)
                if key is not None:
                    times["handing to SMTP"].setdefault(key, line["t"])
    for alert_id, arrived in mail.items():
        if alert_id in first_key:
            times["e-mail received"][first_key[alert_id]] = arrived
    for key, committed in times["committed"].items():
        handed = times["handing to SMTP"].get(key)
        if handed is None:
            continue
        times["run queued"][key] = _first_after(queued, committed, handed)
        times["pass started"][key] = _first_after(passes, committed, handed)
    _storing(lines)
    told = [key for key in first_key.values() if all(key in times[s] for s in STAGES)]
    counts = {stage: sum(1 for line in lines if line["stage"] == stage) for stage in _COUNTED}
    print(
        f"  {len(told)} first raises went through every stage ({len(first_key)} opened); "
        + ", ".join(f"{n} {stage}" for stage, n in counts.items())
    )
    return {stage: [times[stage][key] - at[key] for key in told] for stage in STAGES}


def _storing(lines: list[dict[str, Any]]) -> None:
    """What the storing transactions spent: statements, time in them, the commit."""
    stored = [line for line in lines if line["stage"] == "committed"]
    if not stored:
        return
    total = [line["t"] - line["began"] for line in stored]
    database = [line["in_database"] for line in stored]
    commit = [line["t"] - line["commit"] for line in stored if line["commit"]]
    statements = sorted(line["statements"] for line in stored)
    print(
        f"  storing: {statements[len(statements) // 2]} statements (median); "
        f"whole p50 {_ms(total, 0.5)} p99 {_ms(total, 0.99)}; "
        f"in statements p50 {_ms(database, 0.5)} p99 {_ms(database, 0.99)}; "
        f"commit p50 {_ms(commit, 0.5)} p99 {_ms(commit, 0.99)}"
    )


def _first_after(moments: list[float], after: float, before: float) -> float:
    """The first of `moments` after `after` (no later than `before`), else `after`: a
    run that began before the commit and read it."""
    return next((t for t in sorted(moments) if after <= t <= before), after)


def report(stages: dict[str, list[float]]) -> None:
    """Each stage's latency from the reading's time, and its own part (from the stage
    before it, alert by alert), p50 and p99 in ms."""
    previous: list[float] | None = None
    print(f"  {'':<22} {'from the reading':>22}   {'this stage alone':>22}")
    for stage, values in stages.items():
        own = values if previous is None else [b - a for a, b in zip(previous, values, strict=True)]
        print(
            f"  {stage:<22} p50 {_ms(values, 0.5)} p99 {_ms(values, 0.99)}   "
            f"p50 {_ms(own, 0.5)} p99 {_ms(own, 0.99)}",
            flush=True,
        )
        previous = values
    arrived, mailed = stages[STAGES[0]], stages[STAGES[-1]]
    since = [m - a for a, m in zip(arrived, mailed, strict=True)]
    print(f"  {'arrival to e-mail':<22} p50 {_ms(since, 0.5)} p99 {_ms(since, 0.99)}")


def _ms(values: list[float], q: float) -> str:
    return f"{suite.percentile(values, q) * 1000:6.1f} ms"


if __name__ == "__main__":
    main()
