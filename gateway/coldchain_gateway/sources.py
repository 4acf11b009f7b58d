"""Where readings come from. A source turns "sample now, at time ts" into readings.

Sources are pluggable: the simulated firmware (`sim.py`), DS18B20 probes over
1-Wire (`onewire.py`) and RuuviTags (`ruuvi.py`) implement the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from coldchain.contract import Event, Position, Reading


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
