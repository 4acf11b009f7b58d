"""Store and forward: sample, append to the outbox, publish, forget what is durable.

The loop runs in one thread and owns the outbox. The uplink's network thread
only hands it signals (connected, durable mark). Decisions live here:

- every sample is committed to the outbox before it is published;
- while connected, pending samples are packed into numbered messages and
  published in order, at most `window` messages beyond the durable mark;
- after a (re)connect, or when no durable mark has advanced for
  `redeliver_after_s`, every unconfirmed message is published again; the ingest
  service stores by reading time, so a repeat overwrites instead of doubling;
- `coverage` can hold publishing back (a simulated dead zone, asked with the
  latest sample's reading time) while the connection stays up; samples keep
  going to the outbox;
- a brand-new outbox waits briefly for the retained durable mark so that it
  continues numbering above what the broker already knows of this gateway.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from coldchain.contract import Event, EventKind
from coldchain_gateway.clock import Clock
from coldchain_gateway.outbox import Outbox
from coldchain_gateway.settings import GatewaySettings
from coldchain_gateway.sources import Source
from coldchain_gateway.uplink import Connected, Durable, Uplink

log = logging.getLogger(__name__)

#: How long a fresh outbox waits for a retained durable mark after connecting.
FIRST_SYNC_WAIT_S = 2.0


class Forwarder:
    def __init__(
        self,
        settings: GatewaySettings,
        source: Source,
        clock: Clock,
        outbox: Outbox,
        uplink: Uplink,
        coverage: Callable[[datetime], bool] = lambda ts: True,
    ) -> None:
        self._settings = settings
        self._coverage = coverage
        self._source = source
        self._clock = clock
        self._outbox = outbox
        self._uplink = uplink
        self._stop = threading.Event()
        self._ready = False
        self._sync_deadline = 0.0
        self._published_upto = 0
        self._last_progress = time.monotonic()
        self._last_ts = datetime.now(UTC)

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Run until stopped, or until drained when the settings ask for that."""
        self._uplink.start()
        try:
            while not self._stop.is_set():
                self._sample_if_due()
                self._handle_signals(timeout=self._until_due())
                if self._uplink.connected and self._coverage(self._last_ts):
                    self._forward()
                if self._drained():
                    log.info("all %s samples confirmed durable; exiting", self._settings.ticks)
                    return
        finally:
            self._uplink.stop()

    def _sampling(self) -> bool:
        limit = self._settings.ticks
        return limit is None or self._outbox.ticks() < limit

    def _until_due(self) -> float:
        if not self._sampling():
            return 0.5
        return min(max(self._clock.due - time.monotonic(), 0.0), 0.5)

    def _sample_if_due(self) -> None:
        while self._sampling() and time.monotonic() >= self._clock.due:
            tick = self._clock.take()
            self._last_ts = tick.ts
            sample = self._source.sample(tick.ts)
            events = list(sample.events)
            if tick.clock_jump_s is not None:
                log.warning(
                    "wall clock jumped by %+.0f s; stamping with the monotonic clock",
                    tick.clock_jump_s,
                )
                events.append(self._own_event("clock", EventKind.CLOCK_JUMP, tick.ts))
            thinned = self._outbox.append(
                sample.readings,
                events,
                sample.position,
                tick.index + 1,
                battery_v=sample.battery_v,
                state=sample.state,
            )
            if thinned:
                log.error(
                    "outbox over its budget of %s readings: thinned %s old readings "
                    "(every second one of the oldest half; the newest stay complete)",
                    self._settings.outbox_budget_readings,
                    thinned,
                )
                event = self._own_event("outbox", EventKind.OUTBOX_THINNED, tick.ts)
                self._outbox.append([], [event], None, tick.index + 1)

    def _own_event(self, part: str, kind: EventKind, ts: datetime) -> Event:
        return Event(sensor=f"{self._settings.id}.{part}", ts=ts, kind=kind)

    def _handle_signals(self, timeout: float) -> None:
        try:
            signal = self._uplink.signals.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            match signal:
                case Connected():
                    self._on_connected()
                case Durable(seq=seq):
                    self._on_durable(seq)
            try:
                signal = self._uplink.signals.get_nowait()
            except queue.Empty:
                return

    def _on_connected(self) -> None:
        backlog = self._outbox.backlog()
        self._published_upto = backlog.durable_seq
        self._last_progress = time.monotonic()
        self._ready = backlog.last_seq > 0
        self._sync_deadline = time.monotonic() + FIRST_SYNC_WAIT_S

    def _on_durable(self, seq: int) -> None:
        self._ready = True
        before = self._outbox.backlog()
        if seq > before.last_seq:
            log.warning(
                "broker holds durable mark %s, above this outbox's last seq %s; "
                "numbering continues above it",
                seq,
                before.last_seq,
            )
        self._outbox.confirm(seq)
        if seq > before.durable_seq:
            self._last_progress = time.monotonic()
        self._published_upto = max(self._published_upto, seq)

    def _forward(self) -> None:
        if not self._ready:
            if time.monotonic() < self._sync_deadline:
                return
            self._ready = True
        self._outbox.pack(self._settings.id, datetime.now(UTC))
        durable = self._outbox.backlog().durable_seq
        stalled = time.monotonic() - self._last_progress > self._settings.redeliver_after_s
        if stalled and self._published_upto > durable:
            log.warning("no durable mark since seq %s; publishing again", durable)
            self._published_upto = durable
            self._last_progress = time.monotonic()
        room = self._settings.window - (self._published_upto - durable)
        if room <= 0:
            return
        for seq, payload in self._outbox.unconfirmed(self._published_upto, room):
            if self._published_upto == durable:
                self._last_progress = time.monotonic()
            self._uplink.publish(payload)
            self._published_upto = seq

    def _drained(self) -> bool:
        if not self._settings.exit_when_drained or self._sampling():
            return False
        backlog = self._outbox.backlog()
        return backlog.pending == 0 and backlog.messages == 0
