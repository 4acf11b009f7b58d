"""What a retired gateway's messages may still bring: what it measured up to its retirement.

Retiring a gateway disables its broker account at once (the alerts service); what it
had buffered in its outbox by then is still the hub's record and arrives later from its
exported outbox (`coldchain-gateway outbox export`, `coldchain-ingest import-outbox`).
Anything stamped after the retirement is refused: from then on the gateway is no
longer the hub's, and a stolen or reused one must not write the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from coldchain.contract import Telemetry


@dataclass(frozen=True)
class Cut:
    kept: Telemetry | None
    """The message with what was taken up to the retirement; None if nothing was."""
    refused: int
    """Readings and events taken after the retirement."""


def up_to(message: Telemetry, retired_at: datetime) -> Cut:
    """`message` without its readings, events and position stamped after `retired_at`
    (UTC); its battery voltage (as of `sent_at`) only if it was sent by then."""
    readings = [r for r in message.readings if r.ts <= retired_at]
    events = [e for e in message.events if e.ts <= retired_at]
    refused = len(message.readings) - len(readings) + len(message.events) - len(events)
    if not refused and message.sent_at <= retired_at:
        return Cut(message, 0)
    position = message.position if message.position and message.position.ts <= retired_at else None
    battery_v = message.battery_v if message.sent_at <= retired_at else None
    if not (readings or events or position or battery_v is not None):
        return Cut(None, refused)
    kept = message.model_copy(
        update={
            "readings": readings,
            "events": events,
            "position": position,
            "battery_v": battery_v,
        }
    )
    return Cut(kept, refused)
