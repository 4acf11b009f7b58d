"""`coldchain-ingest`: validate telemetry, store it in InfluxDB, evaluate rules.

`coldchain-rollup` computes past days into the daily compliance rollup (rollup.py)."""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, NoReturn
from wsgiref.simple_server import WSGIServer

import typer
from apscheduler.schedulers.background import BackgroundScheduler
from pydantic import ValidationError

from coldchain import topics
from coldchain.contract import ExportedMessage, FleetVersion
from coldchain.engine import RuleEngine
from coldchain.fleet import Fleet
from coldchain.registry import FleetHistory, Version
from coldchain.rollup import local_date
from coldchain_ingest import influxsetup, metrics
from coldchain_ingest.broker import Broker
from coldchain_ingest.deadletters import DeadLetters
from coldchain_ingest.errors import (
    InfluxRejected,
    InfluxUnavailable,
    PartitionLost,
    RetentionRefused,
)
from coldchain_ingest.health import Check, operations_app, serve
from coldchain_ingest.imports import ImportQueue, Result
from coldchain_ingest.influx import Influx
from coldchain_ingest.outbox import AlertOutbox
from coldchain_ingest.pipeline import Pipeline
from coldchain_ingest.rollup import (
    ROLLUP_TIMEOUT_S,
    DayWriter,
    PendingDays,
    RollupJob,
    watched_sensors,
)
from coldchain_ingest.settings import IngestSettings
from coldchain_ingest.state import StateStore
from coldchain_io import fleetfile
from coldchain_io.logs import configure_logging

if TYPE_CHECKING:
    from coldchain_ingest.partitions import Worker

app = typer.Typer(add_completion=False, help=__doc__)
rollup_app = typer.Typer(
    add_completion=False, help="`coldchain-rollup`: compute past days into compliance_daily."
)
dead_letters_app = typer.Typer(
    add_completion=False,
    help="What InfluxDB refused, kept until it takes it (docs/operations.md).",
)
app.add_typer(dead_letters_app, name="dead-letters")
influx_app = typer.Typer(
    add_completion=False,
    help="InfluxDB's database and retention policies (docs/influxdb-schema.md).",
)
app.add_typer(influx_app, name="influx")
log = logging.getLogger("coldchain_ingest")
#: How often the service looks for refused letters due to be tried again.
DEAD_LETTER_CHECK_S = 5.0
#: How often the service looks for messages of exported outboxes (`import-outbox`).
IMPORT_CHECK_S = 1.0
#: Objects allocated, less those freed, before the interpreter looks for unreachable
#: cycles among the young ones (Python's default: 700). A batch of a thousand messages
#: makes tens of thousands, nearly all freed by their last reference going, none by the
#: collector; at 700 each batch's objects waiting for their write were promoted to the
#: old generation, which was scanned again and again in vain (bench/analysis.md).
GC_YOUNG_THRESHOLD = 50_000

EnvFile = Annotated[
    Path | None,
    typer.Option(help="A .env file with COLDCHAIN_INGEST_* settings.", exists=True, dir_okay=False),
]


@app.callback(invoke_without_command=True)
def default(ctx: typer.Context, env_file: EnvFile = None) -> None:
    """Without a command: `run`, so `coldchain-ingest --env-file FILE` starts the service."""
    if ctx.invoked_subcommand is None:
        run(env_file)


@app.command()
def run(env_file: EnvFile = None) -> None:
    """Run the ingest service until SIGTERM or Ctrl-C."""
    settings = _settings(env_file)
    configure_logging(settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if settings.transport == "nats":
        _run_worker(settings)
        return
    fleet = fleetfile.load(settings.fleet)
    influx = _influx(settings)
    stopping = threading.Event()
    outbox = AlertOutbox(settings.state, settings.alert_redeliver_after_s)
    dead_letters = DeadLetters(settings.state)
    imports = ImportQueue(settings.state)
    metrics.ALERT_EVENTS_UNCONFIRMED.set_function(lambda: len(outbox))
    metrics.DEAD_LETTERS.set_function(lambda: len(dead_letters))
    broker = Broker(settings, on_receipt=outbox.receipt, on_connected=outbox.reconnected)
    store = StateStore(settings.state)
    history = FleetHistory(fleet, _known_versions(store))
    engine = RuleEngine(history, RuleEngine.restore(datetime.now(UTC), store.load()))
    pending = PendingDays(settings.state)
    rollup_influx = _influx(settings, timeout_s=ROLLUP_TIMEOUT_S)
    rollup = RollupJob(history, DayWriter(rollup_influx, history), pending, settings.so_far_runs)
    pipeline = Pipeline(
        settings, influx, broker, engine, store, outbox, dead_letters, rollup.note, imports
    )
    scheduler = BackgroundScheduler(timezone=UTC)
    _every(scheduler, 1, pipeline.redeliver_alerts)
    _every(scheduler, IMPORT_CHECK_S, pipeline.take_imports)
    _every(scheduler, DEAD_LETTER_CHECK_S, lambda: pipeline.replay_refused(datetime.now(UTC)))
    _every(scheduler, settings.silence_check_s, lambda: pipeline.check_silence(datetime.now(UTC)))
    _every(scheduler, settings.rollup_interval_s, lambda: rollup.run(datetime.now(UTC)))

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        pipeline.stop()
        rollup.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if settings.influx_create_db:
        _set_up(influx, settings.retention_days, stopping)
    # Before /metrics answers: who waits for it to publish (as the tests do) should not
    # find ingest subscribing later than it did before this step.
    _settle_heap()
    operations = (
        _serve_operations(settings, broker, influx, dead_letters, pipeline)
        if settings.metrics_port
        else None
    )
    # Silence counts from here, not from before InfluxDB was set up (at `make demo`'s
    # first start, influxd starts beside ingest): ingest hears nothing before it listens.
    engine.state.started_at = datetime.now(UTC)
    broker.start()
    scheduler.start()
    try:
        pipeline.run()
    finally:
        if operations is not None:
            operations.shutdown()
        scheduler.shutdown(wait=True)
        broker.stop()
        influx.close()
        rollup_influx.close()
        store.close()
        pending.close()
        outbox.close()
        dead_letters.close()
        imports.close()


def _settle_heap() -> None:
    """Keep the cycle collector off what lives as long as the service (the fleet, its
    index, the rule state, the modules), and have it look at young objects less often:
    at 10 000 single-reading messages a second it took about a tenth of the CPU and
    found nothing."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def _run_worker(settings: IngestSettings) -> None:
    """A worker of the NATS cluster: a pipeline for each partition it owns (partitions.py)."""
    # Here, not at the top: on Mosquitto (the default) nats-py would cost 5 MB of RSS.
    from coldchain_ingest.partitions import Worker

    influx = _influx(settings)
    dead_letters = DeadLetters(settings.state)
    metrics.DEAD_LETTERS.set_function(lambda: len(dead_letters))
    history = FleetHistory(fleetfile.load(settings.fleet))
    pending = PendingDays(settings.state)
    rollup_influx = _influx(settings, timeout_s=ROLLUP_TIMEOUT_S)
    rollup = RollupJob(history, DayWriter(rollup_influx, history), pending, settings.so_far_runs)
    worker = Worker(settings, history, influx, dead_letters, rollup.note)
    scheduler = BackgroundScheduler(timezone=UTC)

    def check_silence() -> None:
        for pipeline in worker.pipelines():
            try:
                pipeline.check_silence(datetime.now(UTC))
            except PartitionLost as exc:  # its next owner checks it
                log.info("silence not checked: %s", exc)

    def replay_refused() -> None:
        # Any pipeline writes the worker's refused letters: they are stored, not judged.
        for pipeline in worker.pipelines()[:1]:
            try:
                pipeline.replay_refused(datetime.now(UTC))
            except PartitionLost as exc:  # the letters wait for the next run
                log.info("refused letters not replayed: %s", exc)

    _every(scheduler, settings.silence_check_s, check_silence)
    _every(scheduler, DEAD_LETTER_CHECK_S, replay_refused)
    _every(scheduler, settings.rollup_interval_s, lambda: rollup.run(datetime.now(UTC)))
    if settings.influx_create_db:
        _set_up(influx, settings.retention_days, threading.Event())
    _settle_heap()  # as `run` does, before /metrics answers
    operations = (
        serve(
            settings.metrics_host,
            settings.metrics_port,
            operations_app(_worker_checks(settings, worker, influx, dead_letters)),
        )
        if settings.metrics_port
        else None
    )
    scheduler.start()
    try:
        worker.run()
    finally:
        ending_at = time.monotonic()
        if operations is not None:
            operations.shutdown()
        rollup.stop()
        scheduler.shutdown(wait=True)  # a rollup under way ends after its day
        influx.close()
        rollup_influx.close()
        pending.close()
        dead_letters.close()
        log.info("stopped; the scheduled jobs ended in %.1f s", time.monotonic() - ending_at)


def _worker_checks(
    settings: IngestSettings, worker: Worker, influx: Influx, dead_letters: DeadLetters
) -> list[Check]:
    return [
        Check(
            "storing",
            lambda: not any(p.stalled(time.monotonic()) for p in worker.pipelines()),
            f"messages have waited over {settings.stalled_after_s:g} s with none stored: "
            f"InfluxDB at {settings.influx_url} answers too slowly or not at all",
        ),
        Check(
            "broker",
            lambda: worker.connected,
            f"not connected to any NATS server of {', '.join(settings.nats_servers)}",
        ),
        Check("influxdb", influx.ping, f"InfluxDB at {settings.influx_url} does not answer /ping"),
        Check(
            "stored",
            lambda: len(dead_letters) == 0,
            "InfluxDB refused readings or records; they wait in the dead-letter store "
            "(`coldchain-ingest dead-letters list`, docs/operations.md)",
        ),
    ]


@influx_app.command("setup")
def influx_setup(
    shorten: Annotated[
        bool,
        typer.Option(
            help="Shorten a retention policy even though it deletes the records older "
            "than COLDCHAIN_INGEST_RETENTION_DAYS for good."
        ),
    ] = False,
    env_file: EnvFile = None,
) -> None:
    """Create the database and set its retention policies to COLDCHAIN_INGEST_RETENTION_DAYS,
    with an admin account (COLDCHAIN_INGEST_INFLUX_USERNAME): once, or at every deploy."""
    settings = _settings(env_file)
    influx = _influx(settings)
    try:
        ran = influxsetup.set_up(influx, settings.retention_days, shorten)
    except (InfluxUnavailable, InfluxRejected, RetentionRefused) as exc:
        _fail(f"{exc}{_admin_hint(influx)}")
    finally:
        influx.close()
    for statement in ran:
        typer.echo(statement)
    typer.echo(
        f"database {settings.influx_db}: records kept {settings.retention_days} days "
        f"({len(ran)} changes)",
        err=True,
    )


@dead_letters_app.command("list")
def dead_letters_list(env_file: EnvFile = None) -> None:
    """Show what InfluxDB refused and why; exits 1 when there is any."""
    settings = IngestSettings(_env_file=env_file)
    letters = DeadLetters(settings.state)
    try:
        kept = letters.all()
    finally:
        letters.close()
    for letter in kept:
        what = letter.topic or "alert and excursion records"
        typer.echo(
            f"{letter.id}\t{what}\treceived {letter.received_at.isoformat()}\t"
            f"refused {letter.refusals}x, last {letter.refused_at.isoformat()}: {letter.reason}"
        )
    typer.echo(f"{len(kept)} kept in {settings.state}", err=True)
    if kept:
        raise typer.Exit(1)


@dead_letters_app.command("retry")
def dead_letters_retry(env_file: EnvFile = None) -> None:
    """Have the running service try every kept letter again now (after fixing the cause)."""
    settings = IngestSettings(_env_file=env_file)
    letters = DeadLetters(settings.state)
    try:
        count = letters.retry_now()
    finally:
        letters.close()
    typer.echo(f"{count} letters due now; the service tries them within {DEAD_LETTER_CHECK_S} s")


@app.command("import-outbox")
def import_outbox(
    file: Annotated[
        Path,
        typer.Argument(
            help="What `coldchain-gateway outbox export` wrote.", exists=True, dir_okay=False
        ),
    ],
    wait_s: Annotated[
        float, typer.Option(help="How long to wait for the running service to take it.")
    ] = 120.0,
    env_file: EnvFile = None,
) -> None:
    """Store what a retired gateway had buffered: the running service takes the file's
    messages through the same checks and rules as live ones, stores what the gateway took
    up to its retirement and refuses (and counts) what it took after. Safe to repeat:
    what is stored is not stored twice. Exits 1 if the service did not take it in time."""
    settings = _settings(env_file)
    site, gateway, messages = _exported(file)
    store = StateStore(settings.state)
    try:
        retired_at = store.retired().get((site, gateway))
    finally:
        store.close()
    if retired_at is None:
        _fail(
            f"ingest knows no retirement of gateway {site}/{gateway}: a gateway in service "
            "delivers its outbox itself. Retire it (coldchain-alerts gateway retire "
            f"{site} {gateway} --reason ...), wait for ingest's log line 'gateway "
            f"{site}/{gateway} retired at', then import again"
        )
    queue = ImportQueue(settings.state)
    batch = uuid.uuid4().hex
    try:
        queue.add(batch, messages)
        typer.echo(
            f"{len(messages)} messages of {site}/{gateway} (retired at "
            f"{retired_at.isoformat()}) wait for the ingest service",
            err=True,
        )
        results = _answered(queue, batch, wait_s)
        queue.forget(batch)
    finally:
        queue.close()
    _report(results, retired_at, wait_s)


def _exported(file: Path) -> tuple[str, str, list[tuple[int, str, bytes]]]:
    """The file's gateway and its messages (line, topic, payload); exits on a bad line."""
    messages: list[tuple[int, str, bytes]] = []
    senders = set()
    for number, line in enumerate(file.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            message = ExportedMessage.model_validate_json(line)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            _fail(f"{file}:{number}: not a line of an exported outbox: {reason}")
        ids = topics.parse_telemetry(message.topic)
        if ids is None:
            _fail(f"{file}:{number}: {message.topic!r} is not a telemetry topic")
        senders.add(ids)
        messages.append((number, message.topic, message.payload.encode()))
    if len(senders) != 1:
        found = ", ".join(sorted("/".join(ids) for ids in senders)) or "none"
        _fail(f"{file}: an exported outbox holds one gateway's messages; found {found}")
    ((site, gateway),) = senders
    return site, gateway, messages


def _answered(queue: ImportQueue, batch: str, wait_s: float) -> list[Result]:
    """The batch's results once each has an outcome, or as they are after `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        results = queue.results(batch)
        if all(r.outcome is not None for r in results) or time.monotonic() > deadline:
            return results
        time.sleep(0.2)


def _report(results: list[Result], retired_at: datetime, wait_s: float) -> None:
    answered = [r for r in results if r.outcome is not None]
    stored = [r for r in answered if r.outcome == "stored"]
    before = [r for r in answered if r.outcome == "stored before"]
    refused = sum(r.refused for r in answered)
    typer.echo(f"stored: {sum(r.readings for r in stored)} readings in {len(stored)} messages")
    if before:
        typer.echo(
            f"stored before: {sum(r.readings for r in before)} readings in {len(before)} "
            "messages (written again as they were, not twice)"
        )
    typer.echo(
        f"refused: {refused} readings and events taken after the retirement at "
        f"{retired_at.isoformat()}"
    )
    for result in answered:
        if result.outcome not in ("stored", "stored before"):
            typer.echo(f"line {result.line}: {result.outcome}")
    if len(answered) < len(results):
        typer.echo(
            f"error: the ingest service took {len(answered)} of {len(results)} messages within "
            f"{wait_s:g} s: is it running? The others stay queued and are taken when it runs",
            err=True,
        )
        raise typer.Exit(1)


@rollup_app.command()
def rollup(
    from_day: Annotated[str, typer.Option("--from", help="First local day (YYYY-MM-DD).")],
    to_day: Annotated[
        str | None,
        typer.Option("--to", help="Local day (YYYY-MM-DD) to stop before. Default: today."),
    ] = None,
    sensor: Annotated[
        list[str] | None,
        typer.Option(help="Only this temperature sensor; repeat for several. Default: all."),
    ] = None,
    env_file: EnvFile = None,
) -> None:
    """Compute the compliance_daily points of local days [--from, --to) from the readings
    in InfluxDB: for readings stored before ingest computed days itself. Safe to repeat.
    Days are judged by the registry's fleet versions ingest has taken (its state file)."""
    settings = IngestSettings(_env_file=env_file)
    history = FleetHistory(fleetfile.load(settings.fleet), _stored_versions(settings.state))
    watched = watched_sensors(history.latest)
    unknown = sorted(set(sensor or []) - set(watched))
    if unknown:
        _fail(f"no temperature sensor {', '.join(unknown)} in the newest fleet version")
    first = _day(from_day, "--from")
    influx = _influx(settings, timeout_s=ROLLUP_TIMEOUT_S)
    writer = DayWriter(influx, history)
    try:
        for one in [watched[s] for s in sensor] if sensor else watched.values():
            today = local_date(datetime.now(UTC), one.site.timezone)
            end = _day(to_day, "--to") if to_day else today
            days = [first + timedelta(days=n) for n in range((end - first).days)]
            for day in days:
                writer.write(one, day, day)
            typer.echo(f"{one.sensor.id}: {len(days)} days from {first}")
    except (InfluxUnavailable, InfluxRejected) as exc:
        _fail(str(exc))
    finally:
        influx.close()


def _stored_versions(state: Path) -> list[Version]:
    """The fleet versions in ingest's state file, without making one where there is none."""
    if not state.exists():
        return []
    store = StateStore(state)
    try:
        return _known_versions(store)
    finally:
        store.close()


def _known_versions(store: StateStore) -> list[Version]:
    """The registry's fleet versions ingest took before it stopped."""
    versions = []
    for body in store.fleet_versions():
        message = FleetVersion.model_validate_json(body)
        versions.append(
            Version(message.version, message.valid_from, Fleet.from_data(message.fleet))
        )
    return versions


def _every(scheduler: BackgroundScheduler, seconds: float, job: Callable[[], object]) -> None:
    """Run `job` every `seconds`; a run that overlaps the next is not started twice."""
    scheduler.add_job(job, "interval", seconds=seconds, max_instances=1, coalesce=True)


def _influx(settings: IngestSettings, timeout_s: float | None = None) -> Influx:
    return settings.influx(Influx, timeout_s or settings.influx_timeout_s)


def _serve_operations(
    settings: IngestSettings,
    broker: Broker,
    influx: Influx,
    dead_letters: DeadLetters,
    pipeline: Pipeline,
) -> WSGIServer:
    checks = [
        Check(
            "storing",
            lambda: not pipeline.stalled(time.monotonic()),
            f"messages have waited over {settings.stalled_after_s:g} s with none stored: "
            f"InfluxDB at {settings.influx_url} answers too slowly or not at all "
            "(COLDCHAIN_INGEST_INFLUX_TIMEOUT_S), or the state file refuses writes "
            "(the log says which)",
        ),
        Check(
            "broker",
            lambda: broker.connected,
            f"not connected to the MQTT broker at {settings.mqtt_host}:{settings.mqtt_port}",
        ),
        Check("influxdb", influx.ping, f"InfluxDB at {settings.influx_url} does not answer /ping"),
        Check(
            "stored",
            lambda: len(dead_letters) == 0,
            "InfluxDB refused readings or records; they wait in the dead-letter store "
            "(`coldchain-ingest dead-letters list`, docs/operations.md)",
        ),
        Check(
            "influxdb_account",
            lambda: influx.refused is None,
            f"InfluxDB refuses our account on database {settings.influx_db}: check "
            "COLDCHAIN_INGEST_INFLUX_USERNAME and _PASSWORD (or _TOKEN) and the account's "
            "right (ALL) on the database",
        ),
    ]
    return serve(settings.metrics_host, settings.metrics_port, operations_app(checks))


def _set_up(influx: Influx, retention_days: int, stopping: threading.Event) -> None:
    pause = 0.2
    while not stopping.is_set():
        try:
            influxsetup.set_up(influx, retention_days)
            return
        except RetentionRefused as exc:
            _fail(str(exc))
        except (InfluxUnavailable, InfluxRejected) as exc:
            log.warning("%s%s; retrying in %.1f s", exc, _admin_hint(influx), pause)
        stopping.wait(pause)
        pause = min(pause * 2, 5.0)


def _admin_hint(influx: Influx) -> str:
    if not influx.refused:
        return ""
    return (
        "; only an admin account may create databases and retention policies: run "
        "`coldchain-ingest influx setup` with one, and COLDCHAIN_INGEST_INFLUX_CREATE_DB=false"
    )


def _settings(env_file: Path | None) -> IngestSettings:
    """The settings, or exit with what is wrong with them (a variable and the reason)."""
    try:
        return IngestSettings(_env_file=env_file)
    except ValidationError as exc:
        problems = [
            f"COLDCHAIN_INGEST_{'_'.join(str(part) for part in error['loc']).upper()}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        ]
        _fail("; ".join(problems))


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{option} {text!r} is not a date; write YYYY-MM-DD")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def main() -> None:
    app()


def rollup_main() -> None:
    rollup_app()
