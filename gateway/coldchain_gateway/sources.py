"""Where readings come from. A source turns "sample now, at time ts" into readings.

DS18B20 probes over 1-Wire (`onewire.py`) and RuuviTags (`ruuvi.py`) are built in.
Other packages plug sources in without the gateway knowing them: an entry point in
the group `coldchain_gateway.sources` names a `SourcePlugin`, and
`COLDCHAIN_GATEWAY_SOURCE` picks it by that name. The simulated firmware
(`coldchain-sim`, entry point `sim`) is one; a gateway in a van does without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Protocol

from coldchain.contract import Event, Position, Reading
from coldchain_gateway.errors import GatewayError


@dataclass(frozen=True)
class Sample:
    readings: list[Reading]
    events: list[Event] = field(default_factory=list)
    position: Position | None = None
    battery_v: float | None = None
    state: str | None = None
    """What the source needs to continue where it was after a restart (text), kept in the
    outbox with the sample; None for a source that reads real probes."""


class Source(Protocol):
    def sample(self, ts: datetime) -> Sample:
        """Read every probe now; `ts` (UTC) is the time the readings carry."""
        ...


#: The entry-point group in which installed packages offer sources to the gateway.
PLUGINS = "coldchain_gateway.sources"


@dataclass(frozen=True)
class SourceOptions:
    """What a plugged source is told of the gateway it samples for."""

    gateway_id: str
    config: str
    """The text of the source's own configuration file (`COLDCHAIN_GATEWAY_SIM_SCENARIO`)."""
    interval_s: float
    speed: float
    """Seconds of the modelled world per second of reading time, for a source that
    models one (the demo's physics run 60 times faster than its clock)."""
    saved_state: str | None
    """The state of the source's last sample kept in the outbox (`Sample.state`)."""


@dataclass(frozen=True)
class Plugged:
    """A plugged source for one gateway, and what it models of the gateway's world."""

    source: Source
    clock_offset_s: Callable[[datetime], float] = lambda ts: 0.0
    """How far the gateway's own clock is off at a time, in seconds."""
    network_available: Callable[[datetime], bool] = lambda ts: True
    """Whether the gateway can reach the broker at a time (a modelled dead zone)."""


class SourcePlugin(Protocol):
    def __call__(self, options: SourceOptions) -> Plugged:
        """The source for the gateway `options` describes."""
        ...


class SourceUnavailable(GatewayError):
    """No installed package offers the source a gateway is set to read."""


def plugin(name: str) -> SourcePlugin:
    """The installed source plugin `name`; raises SourceUnavailable saying what is installed."""
    found = entry_points(group=PLUGINS, name=name)
    installed = sorted(ep.name for ep in entry_points(group=PLUGINS))
    if not found:
        raise SourceUnavailable(
            f"no installed package offers the probe source {name!r} (installed plugins: "
            f"{', '.join(installed) or 'none'}; the simulator's is in coldchain-sim)"
        )
    try:
        loaded: SourcePlugin = next(iter(found)).load()
    except ImportError as exc:
        raise SourceUnavailable(f"the probe source {name!r} cannot be loaded: {exc}") from exc
    return loaded
