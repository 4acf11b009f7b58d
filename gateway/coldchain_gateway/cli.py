"""`coldchain-gateway`: run one gateway from its settings (COLDCHAIN_GATEWAY_*)."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from coldchain.logs import configure_logging
from coldchain_gateway.clock import Clock, JumpGuard, LiveClock, ReplayClock
from coldchain_gateway.forwarder import Forwarder
from coldchain_gateway.onewire import OneWireSource
from coldchain_gateway.outbox import Outbox
from coldchain_gateway.settings import GatewaySettings
from coldchain_gateway.uplink import Uplink

app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def run(
    env_file: Annotated[
        Path | None,
        typer.Option(
            help="A .env file with COLDCHAIN_GATEWAY_* settings.", exists=True, dir_okay=False
        ),
    ] = None,
) -> None:
    """Sample, store in the outbox, publish, and forget what ingest confirmed durable."""
    settings = GatewaySettings(_env_file=env_file)
    configure_logging(settings.log_format)
    outbox = Outbox(settings.outbox, settings.outbox_budget_readings)
    guard = JumpGuard(settings.clock_jump_tolerance_s)
    if settings.source == "sim":
        forwarder = _simulated(settings, outbox, guard)
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


def _simulated(settings: GatewaySettings, outbox: Outbox, guard: JumpGuard) -> Forwarder:
    """A gateway whose probes, clock errors and dead zones come from the simulator.

    The simulator is an extra of this package (`coldchain-gateway[sim]`, what the demo
    and compose.yaml install): a gateway in a van reads real probes and does without it.
    """
    try:
        from coldchain_gateway.sim import Scenario, SimSource, resume
    except ImportError as exc:
        raise typer.BadParameter(
            f"COLDCHAIN_GATEWAY_SOURCE=sim needs the simulator ({exc}): install "
            "coldchain-gateway[sim], or set the source of this gateway's probes"
        ) from exc
    scenario = Scenario.from_yaml(settings.sim_scenario.read_text())
    firmware, last = resume(scenario.gateway(settings.id), scenario.seed, outbox.source_state())
    clock: Clock
    if settings.clock == "replay":
        assert settings.replay_start is not None
        clock = ReplayClock(
            settings.replay_start,
            settings.interval_s,
            settings.speed,
            outbox.ticks(),
            guard,
            offset_s=firmware.clock_offset_s,
        )
        source = SimSource(firmware, 1.0, settings.interval_s, last)
    else:

        def wall() -> datetime:
            now = datetime.now(UTC)
            return now + timedelta(seconds=firmware.clock_offset_s(now))

        clock = LiveClock(settings.interval_s, outbox.ticks(), guard, wall)
        source = SimSource(firmware, settings.speed, settings.interval_s, last)
    return Forwarder(
        settings, source, clock, outbox, Uplink(settings), coverage=firmware.network_available
    )


def main() -> None:
    app()
