"""`coldchain-ingest`: validate telemetry, store it in InfluxDB, evaluate rules."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Annotated
from wsgiref.simple_server import WSGIServer

import typer
from apscheduler.schedulers.background import BackgroundScheduler

from coldchain.engine import RuleEngine
from coldchain.fleet import Fleet
from coldchain.logs import configure_logging
from coldchain_ingest.broker import Broker
from coldchain_ingest.errors import InfluxUnavailable
from coldchain_ingest.health import Check, operations_app, serve
from coldchain_ingest.influx import Influx
from coldchain_ingest.pipeline import Pipeline
from coldchain_ingest.settings import IngestSettings
from coldchain_ingest.state import StateStore

app = typer.Typer(add_completion=False, help=__doc__)
log = logging.getLogger("coldchain_ingest")


@app.command()
def run(
    env_file: Annotated[
        Path | None,
        typer.Option(
            help="A .env file with COLDCHAIN_INGEST_* settings.", exists=True, dir_okay=False
        ),
    ] = None,
) -> None:
    """Run the ingest service until SIGTERM or Ctrl-C."""
    settings = IngestSettings(_env_file=env_file)
    configure_logging(settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    fleet = Fleet.from_yaml(settings.fleet.read_text())
    influx = Influx(
        settings.influx_url,
        settings.influx_db,
        settings.influx_username,
        settings.influx_password,
        settings.influx_token,
    )
    stopping = threading.Event()
    broker = Broker(settings)
    store = StateStore(settings.state)
    engine = RuleEngine(fleet, RuleEngine.restore(datetime.now(UTC), store.load()))
    pipeline = Pipeline(settings, fleet, influx, broker, engine, store)
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        lambda: pipeline.check_silence(datetime.now(UTC)),
        "interval",
        seconds=settings.silence_check_s,
        max_instances=1,
        coalesce=True,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        pipeline.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if settings.influx_create_db:
        _create_database(influx, stopping)
    operations = _serve_operations(settings, broker, influx) if settings.metrics_port else None
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
        store.close()


def _serve_operations(settings: IngestSettings, broker: Broker, influx: Influx) -> WSGIServer:
    checks = [
        Check(
            "broker",
            lambda: broker.connected,
            f"not connected to the MQTT broker at {settings.mqtt_host}:{settings.mqtt_port}",
        ),
        Check("influxdb", influx.ping, f"InfluxDB at {settings.influx_url} does not answer /ping"),
    ]
    return serve(settings.metrics_host, settings.metrics_port, operations_app(checks))


def _create_database(influx: Influx, stopping: threading.Event) -> None:
    pause = 0.2
    while not stopping.is_set():
        try:
            influx.create_database()
            return
        except InfluxUnavailable as exc:
            log.warning("%s; retrying in %.1f s", exc, pause)
        stopping.wait(pause)
        pause = min(pause * 2, 5.0)


def main() -> None:
    app()
