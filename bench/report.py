"""What a bench session ran on, and docs/performance.md written from its results.

Every table in the document comes from one results object (also written as
JSON under bench/results/); the analysis of what bounds the numbers is kept by
people in bench/analysis.md and copied in verbatim.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import calibration
from bench.systems import NODE_RED_DIR
from coldchain_devstack import REPO
from coldchain_ingest.settings import IngestSettings

ANALYSIS = REPO / "bench" / "analysis.md"


def machine() -> dict[str, Any]:
    """CPU, memory, OS and the versions of everything the bench runs."""
    cpu = _first(Path("/proc/cpuinfo").read_text(), r"model name\s*:\s*(.+)")
    mem_kb = int(_first(Path("/proc/meminfo").read_text(), r"MemTotal:\s*(\d+)") or 0)
    os_release = Path("/etc/os-release").read_text() if Path("/etc/os-release").exists() else ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "os": _first(os_release, r'PRETTY_NAME="(.+)"'),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "mosquitto": _version(["mosquitto", "-h"], r"mosquitto version (\S+)"),
        "influxdb": _version(["influxd", "version"], r"InfluxDB v?(\S+)"),
        "node": _version(["node", "--version"], r"v(\S+)"),
        "node_red": _package_version(NODE_RED_DIR / "node_modules" / "node-red"),
        "node_red_contrib_influxdb": _package_version(
            NODE_RED_DIR / "node_modules" / "node-red-contrib-influxdb"
        ),
        "paho_mqtt": metadata.version("paho-mqtt"),
        "pydantic": metadata.version("pydantic"),
        "load_before": os.getloadavg(),
    }


def settings() -> dict[str, Any]:
    """The settings each system ran with (ours: the shipped defaults)."""
    ingest = IngestSettings.model_fields
    flow = json.loads((NODE_RED_DIR / "flow.json").read_text())
    join = next(node for node in flow if node["type"] == "join")
    return {
        "ingest": {
            name: ingest[name].default
            for name in ("batch_max_readings", "batch_max_wait_s", "receive_maximum")
        },
        "minimal_loop": {"batch_max_readings": 5000, "batch_max_wait_s": 0.05},
        "node_red": {"join_count": int(join["count"]), "join_timeout_s": float(join["timeout"])},
        "mosquitto": "persistence on, max_queued_messages 0, max_inflight_messages 0 "
        "(coldchain_devstack.localstack)",
        "influxdb": 'wal-fsync-delay "0s" (coldchain_devstack.localstack)',
    }


def _first(text: str, pattern: str) -> str | None:
    match = re.search(pattern, text)
    return match.group(1).strip() if match else None


def _version(argv: list[str], pattern: str) -> str | None:
    found = shutil.which(argv[0]) or shutil.which(argv[0], path="/usr/sbin:/usr/bin")
    if found is None:
        return None
    done = subprocess.run([found, *argv[1:]], capture_output=True, text=True, timeout=30)
    return _first(done.stdout + done.stderr, pattern)


def _package_version(directory: Path) -> str | None:
    package = directory / "package.json"
    return json.loads(package.read_text())["version"] if package.exists() else None


# --- the document ----------------------------------------------------------------------

OURS, LOOP, NODE_RED = "coldchain ingest", "minimal loop", "Node-RED"


def median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratios(results: dict[str, Any], item: str, key: str, peer: str, lower_is_better: bool) -> list:
    """Per round, ours against `peer` (how many times better ours is)."""
    out = []
    for round_ in results["rounds"]:
        ours = _by_system(round_.get(item, []), OURS)
        theirs = _by_system(round_.get(item, []), peer)
        if ours is None or theirs is None or not ours[key] or not theirs[key]:
            continue
        out.append(theirs[key] / ours[key] if lower_is_better else ours[key] / theirs[key])
    return out


def _by_system(entries: list[dict[str, Any]], system: str) -> dict[str, Any] | None:
    return next((e for e in entries if e["system"] == system), None)


def _values(results: dict[str, Any], item: str, system: str, key: str) -> list[float]:
    values = []
    for round_ in results["rounds"]:
        entry = _by_system(round_.get(item, []), system)
        if entry is not None and entry.get(key) is not None:
            values.append(entry[key])
    return values


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "not run"
    if value == float("inf"):
        return "never"
    text = f"{value:,.{digits}f}".replace(",", " ")
    return f"{text}{unit}"


def _ratio(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.2f}x (rounds: {', '.join(f'{v:.2f}' for v in values)})"


#: The step rate at which CPU per message is compared (one every system passes).
CPU_RATE = 10_000.0


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per item: the ratios of ours to the peers, the target, met or not, then
    medians of ours and the peers."""
    rows = []
    systems = results["systems"]

    def med(item: str, system: str, key: str) -> float | None:
        return median(_values(results, item, system, key)) if system in systems else None

    knee = {s: med("knees", s, "knee") for s in (OURS, LOOP, NODE_RED)}
    top = {s: any(_values(results, "knees", s, "reached_top")) for s in (OURS, LOOP, NODE_RED)}
    loop_ratio = ratios(results, "knees", "knee", LOOP, False)
    red_ratio = ratios(results, "knees", "knee", NODE_RED, False)
    met = bool(
        loop_ratio
        and statistics.median(loop_ratio) >= 1.2
        and (not red_ratio or statistics.median(red_ratio) >= 1.5)
    )
    rows.append(
        {
            "item": "1. knee, single-reading messages (QoS 1), readings/s",
            "vs_loop": _ratio(loop_ratio),
            "vs_node_red": _ratio(red_ratio),
            "target": ">= 1.2x loop, >= 1.5x Node-RED",
            "met": met if knee[OURS] is not None else None,
            "ours": ("at least " if top[OURS] else "") + _fmt(knee[OURS]),
            "loop": ("at least " if top[LOOP] else "") + _fmt(knee[LOOP]),
            "node_red": ("at least " if top[NODE_RED] else "") + _fmt(knee[NODE_RED]),
        }
    )
    user = median(_cpu_values(results, OURS, "user_us_per_message"))
    rows.append(
        {
            "item": f"1b. CPU per single-reading message at {CPU_RATE:.0f}/s, process CPU time "
            "of all threads, user / user + system, µs (ratio: peer's user / ours)",
            "vs_loop": _ratio(_cpu_ratios(results, LOOP)),
            "vs_node_red": _ratio(_cpu_ratios(results, NODE_RED)),
            "target": "user <= 18 µs",
            "met": None if user is None else user <= 18,
            "ours": _cpu(results, OURS),
            "loop": _cpu(results, LOOP),
            "node_red": _cpu(results, NODE_RED),
        }
    )
    batch = {s: med("batches", s, "readings_per_s") for s in (OURS, LOOP, NODE_RED)}
    ceiling = ((results.get("calibration") or {}).get("influxdb") or {}).get("points_per_s")
    of_ceiling = (
        f"; {batch[OURS] / ceiling:.2f}x InfluxDB alone ({_fmt(ceiling)} points/s)"
        if ceiling and batch[OURS]
        else ""
    )
    rows.append(
        {
            "item": "2. gateway batches (50 readings/message), readings/s durable",
            "vs_loop": _ratio(ratios(results, "batches", "readings_per_s", LOOP, False)),
            "vs_node_red": _ratio(ratios(results, "batches", "readings_per_s", NODE_RED, False)),
            "target": ">= 150 000",
            "met": None if batch[OURS] is None else batch[OURS] >= 150_000,
            "ours": _fmt(batch[OURS]) + of_ceiling,
            "loop": _fmt(batch[LOOP]),
            "node_red": _fmt(batch[NODE_RED]),
        }
    )
    stage = "stored and its e-mail received (ours, first raises)"
    # Sittings before the send was timed measured from the reading's own time only.
    sent = "from_sent_" if _alert_values(results, OURS, "from_sent_p99_s") else ""
    start = "from the reading's send" if sent else "reading time"
    p99s = {s: _alert_values(results, s, f"{sent}p99_s") for s in (OURS, LOOP, NODE_RED)}
    p99 = {s: median(p99s[s]) for s in (OURS, LOOP, NODE_RED)}
    p50 = {s: median(_alert_values(results, s, f"{sent}p50_s")) for s in (OURS, LOOP, NODE_RED)}
    stamped = _alert_values(results, OURS, "p99_s") if sent else []
    rows.append(
        {
            "item": f"3. alert latency at 1k readings/s, {start} to alert {stage} (peers: to "
            "their alert on MQTT); p50 / p99 (median of the rounds); ours: p99 of each round"
            + (", and from the reading's own time" if sent else ""),
            "vs_loop": "",
            "vs_node_red": "",
            "target": "p99 <= 0.100 s in every round",
            "met": None if not p99s[OURS] else max(p99s[OURS]) <= 0.1,
            "ours": f"{_fmt(p50[OURS], ' s', 3)} / {_fmt(p99[OURS], ' s', 3)}"
            + (f" (rounds: {', '.join(_fmt(v, '', 3) for v in p99s[OURS])})" if p99s[OURS] else "")
            + (
                f"; from the reading's time p99 {', '.join(_fmt(v, '', 3) for v in stamped)}"
                if stamped
                else ""
            ),
            "loop": f"{_fmt(p50[LOOP], ' s', 3)} / {_fmt(p99[LOOP], ' s', 3)}",
            "node_red": f"{_fmt(p50[NODE_RED], ' s', 3)} / {_fmt(p99[NODE_RED], ' s', 3)}",
        }
    )
    rss = {s: med("memory", s, "rss_mb") for s in (OURS, LOOP, NODE_RED)}
    rows.append(
        {
            "item": "4. memory (RSS) with 10 000 probes and their rule state, MB",
            "vs_loop": "",
            "vs_node_red": "",
            "target": "<= 100 MB",
            "met": None if rss[OURS] is None else rss[OURS] <= 100,
            "ours": _fmt(rss[OURS], "", 1),
            "loop": _fmt(rss[LOOP], "", 1),
            "node_red": _fmt(rss[NODE_RED], "", 1),
        }
    )
    gateway = results.get("gateway_backlog") or {}
    rows.append(
        {
            "item": "5. gateway backlog, 24 h of 8 probes flushed and durable, s",
            "vs_loop": "",
            "vs_node_red": "",
            "target": "<= 5 s",
            "met": None if gateway.get("median_s") is None else gateway["median_s"] <= 5,
            "ours": _fmt(gateway.get("median_s"), " s", 2),
            "loop": "-",
            "node_red": "-",
        }
    )
    compliance = results.get("compliance") or {}
    rows.append(
        {
            "item": "6. a year of one-minute data: the daily compliance table / every query "
            "of the Compliance dashboard, s",
            "vs_loop": "",
            "vs_node_red": "",
            "target": "< 1 s",
            "met": None if compliance.get("dashboard_s") is None else compliance["dashboard_s"] < 1,
            "ours": (
                f"{_fmt(compliance.get('table_s'), ' s', 3)} / "
                f"{_fmt(compliance.get('dashboard_s'), ' s', 3)}"
            ),
            "loop": "-",
            "node_red": "-",
        }
    )
    cluster = _cluster_ratios(results)
    rows.append(
        {
            "item": "7. ingest workers on the NATS cluster: readings per worker CPU-second, "
            "2 and 3 workers against 1",
            "vs_loop": "",
            "vs_node_red": "",
            "target": ">= 0.90x of one worker",
            "met": None if not cluster else min(cluster.values()) >= 0.9,
            "ours": ", ".join(f"{n} workers {r:.2f}x" for n, r in cluster.items()) or "-",
            "loop": "-",
            "node_red": "-",
        }
    )
    return rows


def _cluster_ratios(results: dict[str, Any]) -> dict[int, float]:
    """Readings per worker CPU-second of each larger number of workers, against one's."""
    rounds = results.get("cluster") or []
    one = next((r for r in rounds if r["workers"] == 1), None)
    if one is None:
        return {}
    return {
        r["workers"]: r["readings_per_cpu_s"] / one["readings_per_cpu_s"]
        for r in rounds
        if r["workers"] > 1
    }


def _cluster(results: dict[str, Any]) -> list[str]:
    rounds = results.get("cluster")
    if not rounds:
        return []
    ratios = _cluster_ratios(results)
    lines = [
        "## 7. Ingest workers on the NATS cluster",
        "",
        "Once a sitting, after the rounds: `bench.cluster.sitting` (alone: "
        "`.venv/bin/python -m bench.cluster`), a real "
        "three-node NATS cluster and an InfluxDB of their own on this machine, the workers "
        "of each row started on empty streams; once they share the 12 partitions, a backlog "
        "of messages of 50 readings is published into stream `TELEMETRY` at once and timed "
        "until its last reading is stored. Readings per CPU-second are the workers' user "
        "and system time together, the figure that would scale with cores; readings/s "
        "cannot grow past two workers on two cores, which the three NATS nodes and "
        "InfluxDB share (docs/scaling.md).",
        "",
        "| workers | readings | seconds | readings/s | worker CPU s | readings per CPU-second "
        "| against 1 worker | lost |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rounds:
        ratio = ratios.get(r["workers"])
        lines.append(
            f"| {r['workers']} | {_fmt(r['readings'])} | {r['seconds']} | "
            f"{_fmt(r['readings_per_s'])} | {r['cpu_s']} | {_fmt(r['readings_per_cpu_s'])} | "
            f"{'-' if ratio is None else f'{ratio:.2f}x'} | {r['lost']} |"
        )
    return [*lines, ""]


def _cpu_steps(
    results: dict[str, Any], system: str, key: str = "user_us_per_message"
) -> list[float | None]:
    """Per round, the system's CPU per message in its step at CPU_RATE (None: not run)."""
    values: list[float | None] = []
    for round_ in results["rounds"]:
        entry = _by_system(round_.get("knees", []), system)
        steps = [] if entry is None else entry["steps"]
        found = [s.get(key) for s in steps if s["rate"] == CPU_RATE]
        values.append(found[0] if found else None)
    return values


def _cpu_values(results: dict[str, Any], system: str, key: str) -> list[float]:
    return [v for v in _cpu_steps(results, system, key) if v is not None]


def _cpu_ratios(results: dict[str, Any], peer: str) -> list[float]:
    """Per round, how many times less user CPU per message ours used than `peer`."""
    pairs = zip(_cpu_steps(results, OURS), _cpu_steps(results, peer), strict=True)
    return [theirs / ours for ours, theirs in pairs if ours and theirs]


def _cpu(results: dict[str, Any], system: str) -> str:
    user = median(_cpu_values(results, system, "user_us_per_message"))
    every = median(_cpu_values(results, system, "cpu_us_per_message"))
    return f"{_fmt(user, '', 1)} / {_fmt(every, '', 1)}"


def _alert_values(results: dict[str, Any], system: str, key: str) -> list[float]:
    values = []
    for round_ in results["rounds"]:
        entry = _by_system(round_.get("alerts", []), system)
        if entry is None or not entry["stages"]:
            continue
        last = list(entry["stages"].values())[-1]
        if key in last:
            values.append(last[key])
    return values


def markdown(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["settings"]
    lines = [
        "# Performance",
        "",
        "<!-- Written by bench/run.py; edit bench/report.py or bench/analysis.md instead. -->",
        "",
        f"Measured {results['date']} by `{results['command']}` in {results['runtime_s'] / 60:.0f}"
        f" min; raw results in `{results['results_file']}`.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']} "
        f"(kernel {m['kernel']}); load average before the run "
        f"{', '.join(f'{x:.2f}' for x in m['load_before'])}. "
        f"Python {m['python']}, paho-mqtt {m['paho_mqtt']}, pydantic {m['pydantic']}, "
        f"Mosquitto {m['mosquitto']}, InfluxDB {m['influxdb']}, Node.js {m['node']}, "
        f"Node-RED {m['node_red']}, node-red-contrib-influxdb "
        f"{m['node_red_contrib_influxdb']}. Broker, database, load generator and the "
        "system under test share the machine.",
        "",
        f"Settings: ours {_kv(s['ingest'])} (the shipped defaults); minimal loop "
        f"{_kv(s['minimal_loop'])}; Node-RED {_kv(s['node_red'])}; Mosquitto {s['mosquitto']}; "
        f"InfluxDB {s['influxdb']}. Rounds: {results['rounds_run']}, systems alternating "
        f"within each round (the first system rotates), medians and median ratios reported.",
        "",
    ]
    if results.get("note"):
        lines += [f"**{results['note']}**", ""]
    if m["load_before"][0] > 1.5:
        # The 1-minute average: the 5- and 15-minute ones still hold what ran before.
        lines += [
            f"**The machine was busy when this run started (1-minute load average "
            f"{m['load_before'][0]:.1f}): if other work shared the two cores, the numbers are "
            "noisy; measure again on a quiet machine before quoting them.**",
            "",
        ]
    lines += [*_calibration(results), "## Summary", ""]
    lines += [
        "Ratios first: they compare systems run in the same sitting, alternating, and hold "
        "across machines and sittings better than the absolute numbers after them.",
        "",
        "| item | ours vs minimal loop (median ratio; rounds) | ours vs Node-RED | target | met "
        "| coldchain ingest | minimal loop | Node-RED |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in summary(results):
        lines.append(
            f"| {row['item']} | {row['vs_loop']} | {row['vs_node_red']} | {row['target']} | "
            f"{_met(row['met'])} | {row['ours']} | {row['loop']} | {row['node_red']} |"
        )
    lines += ["", *_steps(results), *_batches(results)]
    lines += [*_alerts(results), *_memory(results), *_gateway(results), *_compliance(results)]
    lines += _cluster(results)
    lines += [*_peers(), ""]
    if ANALYSIS.exists():
        lines += [ANALYSIS.read_text().rstrip(), ""]
    return "\n".join(lines)


def _met(met: bool | None) -> str:
    return "not run" if met is None else "yes" if met else "**no**"


def _kv(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


def _calibration(results: dict[str, Any]) -> list[str]:
    """The sitting's calibration beside the earlier sitting's, flagged if they differ."""
    measured = results.get("calibration")
    if not measured:
        return []
    earlier = results.get("earlier") or {}
    before = earlier.get("calibration")
    drift = calibration.drift(measured, before)
    lines = [
        "## Calibration",
        "",
        "Measured at the start of the sitting (bench/calibration.py), to tell how fast this "
        "machine ran this time: a fixed single-core Python micro-benchmark (the best of "
        f"{calibration.RUNS} runs), a memory-bound one (random reads of a list of "
        f"{calibration.MEMORY_SIZE:,} floats, too large for the cache), the load generator "
        "alone against Mosquitto with nobody "
        "subscribed (single-reading QoS 1 messages acknowledged by the broker), and "
        "InfluxDB alone (pre-built bodies of points written one after another).",
        "",
        f"| figure | this sitting | earlier sitting ({earlier.get('date', 'none')}) | ratio |",
        "| --- | --- | --- | --- |",
    ]
    figures = [
        ("Python micro-benchmark, rounds/s", "python", "rounds_per_s"),
        ("memory micro-benchmark, random reads/s", "memory", "reads_per_s"),
        ("load generator alone, messages/s", "generator", "acked_per_s"),
        ("InfluxDB alone, points/s", "influxdb", "points_per_s"),
    ]
    for label, item, key in figures:
        now = (measured.get(item) or {}).get(key)
        then = ((before or {}).get(item) or {}).get(key)
        ratio = f"{drift[item]:.2f}" if item in drift else "-"
        lines.append(f"| {label} | {_fmt(now)} | {_fmt(then) if then else '-'} | {ratio} |")
    lines.append("")
    off = calibration.flagged(drift)
    if off:
        lines += [
            f"**This sitting's calibration differs from the earlier sitting's by more than "
            f"{calibration.DRIFT:.0%} ({', '.join(off)}): the machine ran at another speed. "
            "Compare the ratios between the systems, not the absolute numbers, with that "
            f"sitting (`{earlier.get('results_file')}`).**",
            "",
        ]
    elif before is None:
        lines += ["No earlier sitting with a calibration to compare with.", ""]
    return lines


def _steps(results: dict[str, Any]) -> list[str]:
    lines = [
        "## 1. Single-reading messages, step load",
        "",
        f"Each step sends its rate for {results['step_s']:.0f} s (50 gateways x 20 probes, one "
        "connection per gateway group, QoS 1) after a warm-up. Latency is from the "
        "generator's send to the reading counted by InfluxDB (its count of points written, "
        "`SHOW STATS`, polled every 0.1 s, so up to 0.1 s is the poll), for ours the later of "
        "that and the gateway's durable mark. CPU µs/message is the "
        "CPU time (user, and user with system; every thread) of the system's process from "
        "the first send until the step drained, per message sent: far more repeatable under "
        "other load than the rates. A "
        f"step passes when p99 < {1.0:.0f} s, the backlog does not grow (last quarter's median "
        "latency within 0.5 s of the first's) and nothing is lost. Steps above a failed one "
        "are not run; a system that passes the highest listed rate steps on, 1.5 times "
        "higher each time, until it fails (up to the generator's own rate, when the knee "
        "is written 'at least'); between the last pass and the first failure the knee is "
        "bisected. "
        "Lost and duplicated readings are counted per sensor in InfluxDB for every step run.",
        "",
        "| round | system | rate/s | p50 s | p99 s | stored / sent | lost | duplicated "
        "| CPU µs/message, user / all | passed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for number, round_ in enumerate(results["rounds"], 1):
        for entry in round_.get("knees", []):
            for step in entry["steps"]:
                c = step["counted"]
                lines.append(
                    f"| {number} | {step['system']} | {step['rate']:.0f} | "
                    f"{_fmt(step['p50_s'], '', 3)} | {_fmt(step['p99_s'], '', 3)} | "
                    f"{c['stored']} / {c['sent']} | {c['lost']} "
                    f"| {c['duplicated']} | {_fmt(step.get('user_us_per_message'), '', 1)} / "
                    f"{_fmt(step.get('cpu_us_per_message'), '', 1)} "
                    f"| {'yes' if step['passed'] else 'no'}"
                    f"{' (backlog grows)' if step['growing'] else ''} |"
                )
    speeds = [r["calibration"] for r in results["rounds"] if "calibration" in r]
    if speeds:
        lines += [
            "",
            "The calibration's micro-benchmarks, run again before each round: "
            + "; ".join(
                f"round {n} {_fmt(c['python']['rounds_per_s'])} rounds/s, "
                f"{_fmt(c['memory']['reads_per_s'])} random reads/s"
                for n, c in enumerate(speeds, 1)
            )
            + ". A round whose machine ran slower costs every system more CPU per message.",
        ]
    lines.append("")
    return lines


def _batches(results: dict[str, Any]) -> list[str]:
    lines = [
        "## 2. Gateway batches",
        "",
        "6000 messages of 50 readings (20 gateways x 10 probes), published at once; readings/s "
        "from the first send until the last reading is stored (ours: and its durable mark).",
        "",
        "| round | system | readings/s | stored / sent | lost | duplicated |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for number, round_ in enumerate(results["rounds"], 1):
        for entry in round_.get("batches", []):
            c = entry["counted"]
            lines.append(
                f"| {number} | {entry['system']} | {_fmt(entry['readings_per_s'])} | "
                f"{c['stored']} / {c['sent']} | {c['lost']} | {c['duplicated']} |"
            )
    lines.append("")
    return lines


def _alerts(results: dict[str, Any]) -> list[str]:
    alert_s = results.get("alert_s", 20.0)  # results of runs before it was recorded: 20 s
    stamp = (
        "the reading's own timestamp (the alert event's `at`, stamped with the planned send time"
    )
    sent = bool(_alert_values(results, OURS, "from_sent_p99_s"))
    start = (
        "Latency runs to each milestone from when the generator handed the reading's message "
        "to the broker (before it arrives at the system under test, so the broker's hop is "
        f"counted), and, second, from {stamp}; the generator sends in 5 ms ticks, so a "
        "reading goes out up to a tick, and any wait for a core, after its stamp)."
        if sent
        else f"Latency runs from {stamp}) to each milestone."
    )
    head = "from the send: p50 s | p99 s | from the stamp: " if sent else ""
    lines = [
        "## 3. Alert latency",
        "",
        f"1000 probes (100 gateways x 10) at one reading a second for {alert_s:g} s; "
        "every half second another probe goes to 9 °C for two readings (limit 6 °C, no delay). "
        f"{start} Ours: the event on "
        "`coldchain/v1/_alerts/{site}`; the event "
        "stored by the alerts service (the time of its audit-log entry, stamped as the "
        "transaction that stores it begins, read from its "
        "database); and the alert's e-mail received by an SMTP server on loopback, for the "
        "first raise of each alert (a probe that fires again while its alert is open updates "
        "that alert and is not e-mailed again). The alerts service stores into PostgreSQL, as "
        "in `compose.yaml`, with fsync on, and runs with "
        "`ESCALATION_WINDOW_S=0` here: in production it waits 30 s on purpose, so that a flood "
        "of alarms goes out as one message. The peers only publish an alert message; they "
        "store and send nothing.",
        "",
        f"| round | system | milestone | events | {head}p50 s | p99 s | missing |",
        "| --- | --- | --- | --- | " + ("--- | --- | " if sent else "") + "--- | --- | --- |",
    ]
    for number, round_ in enumerate(results["rounds"], 1):
        for entry in round_.get("alerts", []):
            for stage, numbers in entry["stages"].items():
                quantiles = ["from_sent_p50_s", "from_sent_p99_s"] if sent else []
                quantiles += ["p50_s", "p99_s"]
                lines.append(
                    f"| {number} | {entry['system']} | {stage} | {entry['events']} | "
                    + " | ".join(_fmt(numbers[q], "", 3) for q in quantiles)
                    + f" | {numbers['missing']} |"
                )
    lines.append("")
    return lines


def _memory(results: dict[str, Any]) -> list[str]:
    lines = [
        "## 4. Memory",
        "",
        "A fleet of 10 000 probes (1000 gateways x 10); every probe reports three readings "
        "(messages of 10), then the resident set (VmRSS) and its peak (VmHWM) of the process "
        "are read. Ours holds the fleet, the rule state of every probe and asset and its "
        "SQLite state store; the loop a dict of limits; Node-RED the same in its context.",
        "",
        "| round | system | RSS MB | peak MB | lost | duplicated |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for number, round_ in enumerate(results["rounds"], 1):
        for entry in round_.get("memory", []):
            c = entry["counted"]
            lines.append(
                f"| {number} | {entry['system']} | {entry['rss_mb']:.1f} | {entry['peak_mb']:.1f}"
                f" | {c['lost']} | {c['duplicated']} |"
            )
    lines.append("")
    return lines


def _gateway(results: dict[str, Any]) -> list[str]:
    g = results.get("gateway_backlog")
    if not g:
        return []
    return [
        "## 5. Gateway backlog",
        "",
        "| what | result | target | command |",
        "| --- | --- | --- | --- |",
        "| 24 h backlog of 8 probes at one reading a minute (11 520 readings) confirmed "
        "durable after reconnecting, from process start | "
        f"median {g['median_s']:.2f} s over {len(g['runs_s'])} runs "
        f"({', '.join(f'{t:.2f}' for t in g['runs_s'])}) | 5 s | "
        "`.venv/bin/python bench/gateway_backlog.py --runs 3` |",
        f"| gateway peak memory (VmHWM) during that flush | {g['peak_mb']:.1f} MB | small, for a "
        "Raspberry Pi | same |",
        "",
        "The flush includes starting the Python process (about 0.5 s of imports), and the "
        "messages of up to 500 readings going through Mosquitto, ingest's validation, the rule "
        "engine and InfluxDB before the durable marks come back.",
        "",
    ]


def _compliance(results: dict[str, Any]) -> list[str]:
    c = results.get("compliance")
    if not c:
        return []
    return [
        "## 6. Compliance query",
        "",
        "`.venv/bin/python bench/compliance_query.py` (run as it is by the suite): a year of "
        "one-minute readings of one asset (with gaps and excursions), computed into the daily "
        "rollup `compliance_daily` by ingest's code, then every query of the Compliance "
        "dashboard for the whole year as Grafana sends it. The daily compliance table: median "
        f"{c['table_s']:.3f} s; every query one after another: {c['dashboard_s']:.3f} s; the "
        f"table's rows agree with the compliance code: {c['agree']}. The temperature panel "
        "reads the readings themselves, one aggregate per statement; everything else reads the "
        "rollup's 365 points (docs/compliance.md).",
        "",
        "```",
        c["output"].rstrip(),
        "```",
        "",
    ]


def _peers() -> list[str]:
    return [
        "## The peers",
        "",
        "- **Minimal loop** (`bench/peers/minimal_loop.py`): the fastest plain loop a competent "
        "engineer would write in an afternoon. paho-mqtt over MQTT 3.1.1, persistent session, "
        "QoS 1 subscription with manual acknowledgement, the network thread only queues; the "
        "main loop takes up to 5000 readings or 0.05 s after the first message (ingest's "
        "defaults), validates each payload with a flat pydantic model (types only), writes "
        "line protocol in one request, acknowledges after the write succeeded, and checks "
        "each reading against its sensor's maximum (alert on the way up, clear on the way "
        "down). No ranges or clock checks, no rule state on disk, no durable marks.",
        "- **Node-RED** (`bench/peers/node-red/`, `flow.json`): `mqtt in` (QoS 1, persistent "
        "session) -> `function` (the same threshold check; builds the points) -> `join` (500 "
        "messages or 0.2 s) -> `function` (flatten) -> `influxdb batch` "
        "(node-red-contrib-influxdb, InfluxDB 1.x client); alerts -> `mqtt out`. This is the "
        "batching flow a user who expects thousands of messages a second would build; the "
        "simplest flow, one `influxdb out` write per message, is not measured here (about "
        "2800 readings/s end to end on this kind of machine, per the project brief). "
        "Node-RED's MQTT client acknowledges a message when it arrives, before anything is "
        "written: a crash loses what it holds in memory (at most once into InfluxDB).",
        "",
    ]
