"""What the pipeline needs of the things around it, so that two setups can give it them.

One ingest process on Mosquitto gives it the MQTT broker (broker.py), the rule state
in its SQLite file (state.py) and the alert outbox there (outbox.py). A worker of
the NATS cluster runs one pipeline per partition it owns and gives each the
partition's JetStream consumer, its checkpoint in a key-value bucket and alert
events published to stream ALERTS (jetstream.py). Either way the pipeline keeps its
promise: nothing is acknowledged before it is stored and judged.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

from coldchain.contract import AlertEvent
from coldchain_ingest.broker import Inbound, Wakeup
from coldchain_ingest.outbox import Stamped


class Source(Protocol):
    """Where messages come from and where the pipeline's own messages go."""

    inbox: queue.SimpleQueue[Inbound | Wakeup]

    def taken(self, message: Inbound) -> None: ...

    def ack(self, message: Inbound) -> None: ...

    def ack_all(self, messages: Iterable[Inbound]) -> None: ...

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> object: ...

    def durable_mark(self, site: str, gateway: str) -> int: ...


class RuleState(Protocol):
    """Where the rule engine's state, the held marks and (where the broker does not
    retain them) the durable marks are saved."""

    def save(self, rows: list[tuple[str, str, str]]) -> None: ...

    def holds(self) -> dict[tuple[str, str], int]: ...

    def hold(self, site: str, gateway: str, seq: int) -> None: ...

    def release(self, site: str, gateway: str) -> None: ...

    def marks(self) -> dict[tuple[str, str], int]: ...

    def keep_marks(self, marks: Mapping[tuple[str, str], int]) -> None: ...

    def keep_fleet_version(self, number: int, body: str) -> None: ...

    def retired(self) -> dict[tuple[str, str], datetime]: ...

    def keep_retired(self, retired: Mapping[tuple[str, str], datetime]) -> None: ...


class AlertKeeper(Protocol):
    """Gives alert events their ids and keeps them until they are safe."""

    def stamp(self, events: Iterable[AlertEvent]) -> list[Stamped]: ...

    def keep(self, stamped: list[Stamped]) -> None: ...

    def due(self, now: float) -> list[tuple[str, bytes]]: ...
