"""`coldchain-gateway`: run one gateway from its settings (COLDCHAIN_GATEWAY_*)."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from coldchain import topics
from coldchain.contract import ExportedMessage
from coldchain_gateway import enroll as enrollment
from coldchain_gateway.clock import Clock, JumpGuard, LiveClock, ReplayClock
from coldchain_gateway.forwarder import Forwarder
from coldchain_gateway.onewire import OneWireSource
from coldchain_gateway.outbox import Outbox
from coldchain_gateway.settings import GatewaySettings
from coldchain_gateway.sources import SourceOptions, SourceUnavailable, plugin
from coldchain_gateway.uplink import Uplink
from coldchain_io.logs import configure_logging

app = typer.Typer(add_completion=False, help=__doc__)
outbox_app = typer.Typer(add_completion=False, help="The gateway's outbox on its disk.")
app.add_typer(outbox_app, name="outbox")
EnvFile = Annotated[
    Path | None,
    typer.Option(
        help="A .env file with COLDCHAIN_GATEWAY_* settings.", exists=True, dir_okay=False
    ),
]


@app.callback(invoke_without_command=True)
def default(ctx: typer.Context, env_file: EnvFile = None) -> None:
    """Without a command: `run`, so `coldchain-gateway --env-file FILE` runs the gateway."""
    if ctx.invoked_subcommand is None:
        run(env_file)


@app.command()
def enroll(
    bundle: Annotated[Path, typer.Argument(help="The bundle the alerts service wrote.")],
    env_file: Annotated[
        Path, typer.Option(help="Where to write the gateway's settings (mode 600).")
    ] = Path("/etc/coldchain/gateway.env"),
    ca_dir: Annotated[
        Path, typer.Option(help="Where to write the broker's CA certificate.")
    ] = Path("/etc/coldchain"),
    force: Annotated[bool, typer.Option(help="Replace an existing enrollment.")] = False,
) -> None:
    """Install a provisioning bundle: the settings into an env file, the CA certificate."""
    try:
        written = enrollment.install(enrollment.read(bundle), env_file, ca_dir, force)
    except enrollment.EnrollError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"run the gateway with: coldchain-gateway --env-file {env_file}")


@app.command()
def run(env_file: EnvFile = None) -> None:
    """Sample, store in the outbox, publish, and forget what ingest confirmed durable."""
    settings = GatewaySettings(_env_file=env_file)
    configure_logging(settings.log_format)
    outbox = Outbox(settings.outbox, settings.outbox_budget_readings)
    guard = JumpGuard(settings.clock_jump_tolerance_s)
    if settings.source != "ds18b20":
        forwarder = _plugged(settings, outbox, guard)
    else:
        source = OneWireSource(settings.onewire_probes, root=settings.onewire_root)
        clock = LiveClock(settings.interval_s, outbox.ticks(), guard)
        forwarder = Forwarder(settings, source, clock, outbox, Uplink(settings))

    def stop(signum: int, frame: FrameType | None) -> None:
        forwarder.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        forwarder.run()
    finally:
        outbox.close()


@outbox_app.command("export")
def outbox_export(
    file: Annotated[Path, typer.Argument(help="Where to write the messages (JSON Lines).")],
    env_file: EnvFile = None,
) -> None:
    """Write every message ingest has not confirmed, what waits unsent numbered first, as
    the gateway publishes them: for `coldchain-ingest import-outbox` once the gateway is
    retired. Stop the gateway first; the outbox keeps the messages."""
    settings = GatewaySettings(_env_file=env_file)
    if not settings.outbox.exists():
        typer.echo(f"error: no outbox at {settings.outbox} (COLDCHAIN_GATEWAY_OUTBOX)", err=True)
        raise typer.Exit(2)
    if file.exists():
        typer.echo(f"error: {file} exists; name a new file", err=True)
        raise typer.Exit(2)
    outbox = Outbox(settings.outbox)
    try:
        outbox.pack(settings.id, datetime.now(UTC))
        messages = outbox.unconfirmed(0, outbox.backlog().messages)
    finally:
        outbox.close()
    topic = topics.telemetry(settings.site, settings.id)
    with file.open("x", encoding="utf-8") as out:
        for _, payload in messages:
            line = ExportedMessage(topic=topic, payload=payload.decode("utf-8"))
            out.write(line.model_dump_json() + "\n")
    first, last = (messages[0][0], messages[-1][0]) if messages else (0, 0)
    typer.echo(f"wrote {len(messages)} messages (seq {first} to {last}) of {topic} to {file}")


def _plugged(settings: GatewaySettings, outbox: Outbox, guard: JumpGuard) -> Forwarder:
    """A gateway whose probes come from an installed source plugin (`sources.plugin`), such
    as the simulator's (`coldchain-sim`, installed by the demo and compose.yaml), with the
    clock errors and dead zones the plugin models."""
    try:
        plug = plugin(settings.source)
    except SourceUnavailable as exc:
        raise typer.BadParameter(
            f"COLDCHAIN_GATEWAY_SOURCE={settings.source}: {exc}. Install the package that "
            "offers it, or set the source of this gateway's probes (ds18b20)"
        ) from exc
    try:
        config = settings.sim_scenario.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(
            f"COLDCHAIN_GATEWAY_SIM_SCENARIO={settings.sim_scenario}: cannot be read ({exc}); "
            "give the scenario file's full path"
        ) from exc
    replay = settings.clock == "replay"
    plugged = plug(
        SourceOptions(
            gateway_id=settings.id,
            config=config,
            interval_s=settings.interval_s,
            speed=1.0 if replay else settings.speed,
            saved_state=outbox.source_state(),
        )
    )
    clock: Clock
    if replay:
        assert settings.replay_start is not None
        clock = ReplayClock(
            settings.replay_start,
            settings.interval_s,
            settings.speed,
            outbox.ticks(),
            guard,
            offset_s=plugged.clock_offset_s,
        )
    else:

        def wall() -> datetime:
            now = datetime.now(UTC)
            return now + timedelta(seconds=plugged.clock_offset_s(now))

        clock = LiveClock(settings.interval_s, outbox.ticks(), guard, wall)
    return Forwarder(
        settings,
        plugged.source,
        clock,
        outbox,
        Uplink(settings),
        coverage=plugged.network_available,
    )


def main() -> None:
    app()
