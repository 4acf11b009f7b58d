"""The bench's measurements, one function per item of docs/performance.md.

Each run starts the system under test afresh against its own Mosquitto and a
fresh InfluxDB database (one InfluxDB server serves the whole session), sends
a plan from bench/load.py, waits for it to drain, and counts in InfluxDB what
was stored: a reading is unique by sensor and time, so per sensor, `lost` is
what is missing and `duplicated` what is there beyond what was sent.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.load import Publisher
from bench.observe import (
    MILESTONES,
    AlertStore,
    AlertTimes,
    Counter,
    Subscriber,
    alerts_published,
    durable_times,
    utc_seconds,
)
from bench.systems import Ours, Setup, System
from bench.workload import SITE, Fleet, Plan, Planner
from coldchain_devstack.servers import InfluxDB, Mosquitto, PostgreSQL, wait_until

#: Publish-to-durable p99 a step must stay under, seconds.
KNEE_P99_S = 1.0
#: A step's backlog grows if its last quarter waits this much longer than its first.
GROWTH_S = 0.5


@dataclass
class Session:
    """What every run of one bench session shares."""

    directory: Path
    influxdb: InfluxDB
    #: The alerts service's database server, for runs with alerts.
    postgresql: PostgreSQL | None = None
    step_s: float = 10.0
    drain_s: float = 60.0
    connections: int = 50
    keep_logs: bool = False


@dataclass
class Counted:
    sent: int
    stored: int
    lost: int
    duplicated: int


@dataclass
class StepResult:
    system: str
    rate: float
    offered: float
    counted: Counted
    p50_s: float
    p99_s: float
    durable_p99_s: float | None
    growing: bool
    passed: bool
    #: CPU time (every thread) of the system's process per message sent, from the first
    #: send until the step drained, µs: user (the interpreter and the C it calls) and
    #: user + system (with the kernel's work for its sockets and files).
    user_us_per_message: float | None = None
    cpu_us_per_message: float | None = None


@dataclass
class Run:
    """One system started for one measurement."""

    system: System
    setup: Setup
    publisher: Publisher
    planner: Planner
    counter: Counter
    marks: Subscriber | None
    extras: dict[str, Any] = field(default_factory=dict)


@contextmanager
def started(
    session: Session, kind: type[System], fleet: Fleet, with_alerts: bool = False
) -> Iterator[Run]:
    directory = Path(tempfile.mkdtemp(prefix=f"{kind.__name__.lower()}-", dir=session.directory))
    mosquitto = Mosquitto(directory)
    mosquitto.start()
    database = f"bench_{uuid.uuid4().hex[:10]}"
    session.influxdb.query(database, f'CREATE DATABASE "{database}"')
    fleet_file, limits_file = fleet.write(directory)
    alerts_url = None
    if with_alerts:
        if session.postgresql is None:
            raise RuntimeError("a run with alerts needs the session's PostgreSQL")
        alerts_url = session.postgresql.create_database()
    setup = Setup(
        directory,
        mosquitto,
        session.influxdb,
        database,
        fleet,
        fleet_file,
        limits_file,
        alerts_url,
    )
    system = kind(setup)
    publisher: Publisher | None = None
    marks: Subscriber | None = None
    counter: Counter | None = None
    failed = True
    try:
        marks = Subscriber(mosquitto.port, f"coldchain/v1/{SITE}/+/durable") if kind.marks else None
        system.start()
        publisher = Publisher(mosquitto.port, [f"load-{c}" for c in range(session.connections)])
        counter = Counter(session.influxdb, database).start()
        run = Run(system, setup, publisher, Planner(fleet, session.connections), counter, marks)
        _warm_up(run)
        yield run
        failed = False
    finally:
        for closing in (counter, publisher, marks):
            if closing is not None:
                closing.close()
        system.stop()
        mosquitto.stop()
        session.influxdb.query(database, f'DROP DATABASE "{database}"')
        if failed or session.keep_logs:
            # Out of the session's directory, which goes when the suite ends.
            kept = Path(tempfile.mkdtemp(prefix="coldchain-bench-logs-")) / directory.name
            shutil.move(directory, kept)
            print(f"    logs kept in {kept}")
        else:
            shutil.rmtree(directory, ignore_errors=True)


def _warm_up(run: Run) -> None:
    """One message per gateway, awaited: the system is subscribed and its caches are warm."""
    fleet = run.setup.fleet
    plan = run.planner.plan(fleet.gateways, 1, time.time() - 2.0, None)
    run.publisher.send(run.publisher.encode(plan.messages), None)
    wait_until(lambda: run.counter.count() >= plan.readings, 60, f"{run.system.name} warm-up")
    run.extras["warm"] = plan


def _start_after_encoding(messages: int) -> float:
    """When to start sending, so that planning and encoding `messages` are done by then.

    Stamps are the planned send times: a late start would send a burst to catch up.
    """
    return time.time() + 1.0 + messages * 30e-6


def _drain(run: Run, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        samples = run.counter.samples
        if samples and samples[-1][1] >= expected:
            break
        time.sleep(0.05)
    if run.marks is not None:
        time.sleep(0.5)  # the mark follows the write


def count(run: Run, plans: list[Plan]) -> Counted:
    expected: dict[str, int] = {}
    for plan in plans:
        for sensor, n in plan.per_sensor.items():
            expected[sensor] = expected.get(sensor, 0) + n
    series = run.setup.influxdb.query(
        run.setup.database, "SELECT count(temp_c) FROM temperature GROUP BY sensor"
    )
    got = {s["tags"]["sensor"]: int(s["values"][0][1]) for s in series}
    lost = sum(max(0, n - got.get(sensor, 0)) for sensor, n in expected.items())
    duplicated = sum(max(0, n - expected.get(sensor, 0)) for sensor, n in got.items())
    return Counted(sum(expected.values()), sum(got.values()), lost, duplicated)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.inf
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _latencies(done: list[float | None], sent_at: list[float]) -> list[float]:
    return [math.inf if d is None else d - s for d, s in zip(done, sent_at, strict=True)]


# --- (1) single-reading messages, step load ---------------------------------------------


def step(session: Session, kind: type[System], rate: float) -> StepResult:
    """`rate` single-reading messages/s (QoS 1) for `session.step_s`."""
    fleet = Fleet(gateways=50, probes=20)
    with started(session, kind, fleet) as run:
        warm: Plan = run.extras["warm"]
        count_ = int(rate * session.step_s)
        start = _start_after_encoding(count_)
        plan = run.planner.plan(count_, 1, start, rate)
        packets = run.publisher.encode(plan.messages)
        user_before, system_before = cpu_seconds(run.system.pid)
        sent = run.publisher.send(packets, rate, start_at=start)
        _drain(run, warm.readings + plan.readings, session.drain_s)
        user, system = cpu_seconds(run.system.pid)
        user_us = (user - user_before) / count_ * 1e6
        cpu_us = user_us + (system - system_before) / count_ * 1e6
        run.counter.close()
        stored_at = run.counter.stored_times(warm.readings + plan.readings)[warm.readings :]
        latencies = _latencies(stored_at, sent.sent_at)
        durable_p99 = None
        if run.marks is not None:
            durable = _latencies(durable_times(run.marks, plan.ids), sent.sent_at)
            durable_p99 = percentile(durable, 0.99)
            latencies = [max(a, b) for a, b in zip(latencies, durable, strict=True)]
        quarter = max(1, len(latencies) // 4)
        growing = (
            statistics.median(latencies[-quarter:])
            > statistics.median(latencies[:quarter]) + GROWTH_S
        )
        p99 = percentile(latencies, 0.99)
        counted = count(run, [warm, plan])
        return StepResult(
            kind.name,
            rate,
            sent.rate,
            counted,
            percentile(latencies, 0.5),
            p99,
            durable_p99,
            growing,
            p99 < KNEE_P99_S and not growing and counted.lost == 0,
            user_us,
            cpu_us,
        )


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU time of process `pid` and all its threads so far, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # utime and stime are fields 14 and 15 of proc(5); 3 is the first after the name.
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def knees(
    session: Session,
    order: list[type[System]],
    rates: list[float],
    refine: int,
    ceiling: float | None = None,
) -> list[dict[str, Any]]:
    """Step every system up through `rates`, alternating, until each fails a step; then
    bisect `refine` times between its last pass and its first failure (to 250/s).

    With `ceiling` (the generator's own rate), a system that passes the last of `rates`
    steps on by RATE_GROWTH until it fails, so that every knee is found, up to `ceiling`.
    """
    best = {kind: 0.0 for kind in order}
    failed: dict[type[System], float | None] = {kind: None for kind in order}
    steps: dict[type[System], list[StepResult]] = {kind: [] for kind in order}

    def run(kind: type[System], rate: float) -> None:
        result = _report(step(session, kind, rate))
        steps[kind].append(result)
        if result.passed:
            best[kind] = rate
        else:
            failed[kind] = rate

    for rate in _step_rates(rates, ceiling):
        standing = [kind for kind in order if failed[kind] is None]
        if not standing:
            break
        for kind in standing:
            run(kind, rate)
    for _ in range(refine):
        for kind in order:
            top = failed[kind]
            if top is None:
                continue
            middle = round((best[kind] + top) / 2 / 250) * 250
            if middle not in (best[kind], top) and middle > 0:
                run(kind, middle)
    return [
        {
            "system": kind.name,
            "knee": best[kind],
            "reached_top": failed[kind] is None,
            "steps": [asdict(s) for s in steps[kind]],
        }
        for kind in order
    ]


#: Above the listed rates, each step is this much higher than the one before.
RATE_GROWTH = 1.5


def _step_rates(rates: list[float], ceiling: float | None) -> Iterator[float]:
    yield from rates
    if ceiling is None or not rates:
        return
    rate = rates[-1]
    while (rate := round(rate * RATE_GROWTH / 1000) * 1000) <= ceiling:
        yield rate


def _report(result: StepResult) -> StepResult:
    c = result.counted
    print(
        f"  {result.system:<17} {result.rate:>7.0f}/s  p50 {result.p50_s:6.3f} s  "
        f"p99 {result.p99_s:6.3f} s  stored {c.stored}/{c.sent}  lost {c.lost}  "
        f"dup {c.duplicated}  CPU {result.user_us_per_message or 0:5.1f} user "
        f"{result.cpu_us_per_message or 0:5.1f} all µs/msg  "
        f"{'ok' if result.passed else 'FAIL'}"
        f"{'  growing' if result.growing else ''}",
        flush=True,
    )
    return result


# --- (2) gateway batches ---------------------------------------------------------------


def batches(session: Session, kind: type[System], messages: int = 6000) -> dict[str, Any]:
    """`messages` of 50 readings each, sent at once: readings/s until all durable."""
    fleet = Fleet(gateways=20, probes=10)
    with started(session, kind, fleet) as run:
        warm: Plan = run.extras["warm"]
        plan = run.planner.plan(messages, 50, time.time(), None)
        packets = run.publisher.encode(plan.messages)
        sent = run.publisher.send(packets, None)
        _drain(run, warm.readings + plan.readings, session.drain_s)
        run.counter.close()
        stored = run.counter.stored_times(warm.readings + plan.readings)
        done = [t for t in stored if t is not None]
        finished = max(done) if len(done) == len(stored) else math.inf
        if run.marks is not None:
            durable = durable_times(run.marks, plan.ids)
            finished = max(finished, *(math.inf if t is None else t for t in durable))
        counted = count(run, [warm, plan])
        rate = plan.readings / (finished - sent.began)
        print(
            f"  {kind.name:<17} {rate:>9.0f} readings/s  stored {counted.stored}/{counted.sent}"
            f"  lost {counted.lost}  dup {counted.duplicated}",
            flush=True,
        )
        return {"system": kind.name, "readings_per_s": rate, "counted": asdict(counted)}


# --- (3) alert latency -----------------------------------------------------------------


def alert_stages(run: Run, alerts: Subscriber, store: AlertStore | None) -> dict[str, AlertTimes]:
    """Each milestone of an alert, in order.

    The e-mail is sent for the first raise of each alert; the same condition raised
    again while its alert is open updates that alert and is not e-mailed again, so
    the last stage covers first raises only.
    """
    stages = {"published on _alerts": alerts_published(alerts)}
    if store is not None:
        stages["stored by the alerts service"] = _by_key(store.stop(), stages)
        mail = run.system.mail if isinstance(run.system, Ours) else None
        if mail is not None:
            arrived = mail.arrivals()
            stages["e-mail received (first raises)"] = {
                (key, "raised"): arrived[alert_id]
                for alert_id, key in store.first_key.items()
                if alert_id in arrived
            }
    return stages


def _by_key(stored: AlertTimes, stages: dict[str, AlertTimes]) -> AlertTimes:
    return {k: v for k, v in stored.items() if k in stages["published on _alerts"]}


def alert_latency(
    session: Session, kind: type[System], seconds: float = 20.0, gateways: int = 100
) -> dict[str, Any]:
    """`gateways` x 10 probes (1000 by default) at one reading a second each; every half
    second another probe goes above its limit for two readings.

    Latency is from the reading's own timestamp (the alert event's `at`, the planned
    send time) to each milestone, and from when the generator actually handed that
    reading's message to the broker (`from_sent_*`): the generator sends in ticks of
    `TICK_S`, so a reading goes out up to a tick (and any wait for a core) after its
    stamp. The send is before the reading's arrival at the system under test, so the
    second measure still counts the broker's hop.
    """
    fleet = Fleet(gateways=gateways, probes=10)
    with started(session, kind, fleet, with_alerts=kind is Ours) as run:
        alerts, store = _watch_alerts(run)
        sent = send_excursions(run, seconds)
        alerts.close()
        stages = alert_stages(run, alerts, store)
        at = _event_times(alerts)
        result: dict[str, Any] = {"system": kind.name, "events": len(at), "stages": {}}
        first_raises = {(key, "raised") for key in store.first_key.values()} if store else set()
        for stage, times in stages.items():
            wanted = [k for k in at if k in first_raises] if stage.startswith("e-mail") else at
            latencies = [times[k] - at[k] if k in times else math.inf for k in wanted]
            from_sent = [
                times[k] - sent[_micros(at[k])] if k in times else math.inf for k in wanted
            ]
            numbers = result["stages"][stage] = {
                "p50_s": percentile(latencies, 0.5),
                "p99_s": percentile(latencies, 0.99),
                "from_sent_p50_s": percentile(from_sent, 0.5),
                "from_sent_p99_s": percentile(from_sent, 0.99),
                "missing": sum(1 for k in wanted if k not in times),
            }
            print(
                f"  {kind.name:<17} {stage:<30} p50 {numbers['p50_s']:.3f} s  "
                f"p99 {numbers['p99_s']:.3f} s; from the send p50 "
                f"{numbers['from_sent_p50_s']:.3f} s  p99 {numbers['from_sent_p99_s']:.3f} s  "
                f"({len(at)} events)",
                flush=True,
            )
        return result


def _watch_alerts(run: Run) -> tuple[Subscriber, AlertStore | None]:
    """The alert events on `_alerts` as they arrive, and the alerts service's audit log."""
    alerts = Subscriber(run.setup.mosquitto.port, "coldchain/v1/_alerts/#")
    url = run.setup.alerts_url
    store = AlertStore(url) if isinstance(run.system, Ours) and url else None
    return alerts, store


def send_excursions(run: Run, seconds: float) -> dict[int, float]:
    """Every probe of the run's fleet at one reading a second for `seconds`; every half
    second another probe goes above its limit for two readings. Returns 2 s after the
    last one was sent, with when each reading went to the broker (time.time()) by its
    stamp in µs since the epoch (one reading a message, each stamped apart)."""
    fleet = run.setup.fleet
    rate = float(fleet.sensors)
    count_ = int(rate * seconds)
    sensors = fleet.sensors
    excursion = set()
    # A probe's readings are `sensors` messages apart; an excursion is two of them.
    for first in range(sensors, count_ - 2 * sensors, sensors // 2 - 1):
        excursion |= {first, first + sensors}
    start = _start_after_encoding(count_)
    plan = run.planner.plan(count_, 1, start, rate, frozenset(excursion))
    sent = run.publisher.send(run.publisher.encode(plan.messages), rate, start_at=start)
    time.sleep(2.0)
    return dict(zip(plan.stamps_us, sent.sent_at, strict=True))


def _micros(seconds: float) -> int:
    """A reading time (s since the epoch, from its RFC 3339 stamp) in whole µs."""
    return round(seconds * 1e6)


def _event_times(alerts: Subscriber) -> dict[tuple[str, str], float]:
    """The reading time of each raise and clearing (updates are no milestone of an alert:
    the alerts service records no step for them)."""
    at = {}
    for _, _, payload in alerts.received:
        event = json.loads(payload)
        if event["state"] in MILESTONES:
            key = (event.get("key", event["sensor"]), event["state"])
            at.setdefault(key, utc_seconds(event["at"]))
    return at


# --- (4) memory ------------------------------------------------------------------------


def memory(session: Session, kind: type[System], gateways: int = 1000) -> dict[str, Any]:
    """RSS with `gateways` x 10 probes (10 000 by default), each of which reported 3 readings."""
    fleet = Fleet(gateways=gateways, probes=10)
    with started(session, kind, fleet) as run:
        warm: Plan = run.extras["warm"]
        plan = run.planner.plan(2 * fleet.gateways, fleet.probes, time.time(), None)
        run.publisher.send(run.publisher.encode(plan.messages), None)
        _drain(run, warm.readings + plan.readings, session.drain_s)
        time.sleep(2.0)
        rss, peak = _memory_mb(run.system.pid)
        counted = count(run, [warm, plan])
        print(f"  {kind.name:<17} RSS {rss:6.1f} MB  peak {peak:6.1f} MB", flush=True)
        return {"system": kind.name, "rss_mb": rss, "peak_mb": peak, "counted": asdict(counted)}


def _memory_mb(pid: int) -> tuple[float, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


# --- the generator alone ---------------------------------------------------------------


def generator_ceiling(session: Session, messages: int = 300_000) -> dict[str, Any]:
    """The load generator against the broker alone: QoS 1 messages/s acknowledged."""
    fleet = Fleet(gateways=50, probes=20)
    directory = Path(tempfile.mkdtemp(prefix="generator-", dir=session.directory))
    mosquitto = Mosquitto(directory)
    mosquitto.start()
    try:
        publisher = Publisher(mosquitto.port, [f"load-{c}" for c in range(session.connections)])
        plan = Planner(fleet, session.connections).plan(messages, 1, time.time(), None)
        sent = publisher.send(publisher.encode(plan.messages), None)
        acked_by = time.time()
        publisher.close()
    finally:
        mosquitto.stop()
        shutil.rmtree(directory, ignore_errors=True)
    rate = sent.acked / (acked_by - sent.began)
    print(f"  generator alone: {rate:,.0f} messages/s acknowledged by the broker", flush=True)
    return {"messages": messages, "acked": sent.acked, "acked_per_s": rate}
