"""Each gateway's messages judged in seq order across a gap (the NATS cluster).

The rule engine judges a sensor's readings in time order and skips a reading older
than the last one it judged (a straggler, `Outcome.late`). A gateway publishes in
seq order, so on Mosquitto its readings arrive in time order. On the cluster they
may not: NATS's MQTT listener acknowledges a QoS 1 publish before stream TELEMETRY
stores it, and a message published while the stream elects a leader is lost
while the next ones are stored. The gateway publishes it again (its durable mark
stays below it), but by then its successors were judged, and the lost message's
readings, an alarm's first ones perhaps, would be stored and never judged.

So a message above the next seq expected of its gateway waits here, unjudged and
unacknowledged, until the missing ones come (a message refused for breaking the
contract counts as come), or until `wait_s` passed since the first of them began
to wait: a gateway whose outbox thinned never sends the missing ones, and its
later readings must not wait for good. Then they are judged without the missing
ones, logged and counted. At most `most_waiting` messages wait in all: they hold
places in the consumer's window (max ack pending), which the other gateways of
the partition need; past that, the gateway waiting longest goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Generic, TypeVar

from coldchain_ingest import metrics

log = logging.getLogger(__name__)

T = TypeVar("T")

Gateway = tuple[str, str]


class GapWait(Generic[T]):
    """Messages (any `T`) of each gateway (site, gateway id) put in seq order."""

    def __init__(self, wait_s: float, most_waiting: int, marks: Mapping[Gateway, int]) -> None:
        self._wait_s = wait_s
        self._most_waiting = most_waiting
        #: The seq each gateway's next message to judge has; unknown: its first one's.
        self._next = {key: mark + 1 for key, mark in marks.items()}
        #: Messages above the next seq, by seq; an empty list: refused, nothing to judge.
        self._waiting: dict[Gateway, dict[int, list[T]]] = {}
        #: time.monotonic() when each gateway's first waiting message began to wait.
        self._since: dict[Gateway, float] = {}
        self._count = 0
        self._ready: list[T] = []

    @property
    def waiting(self) -> int:
        """How many messages wait for a missing one."""
        return self._count

    def admit(self, key: Gateway, seq: int, message: T, now: float) -> None:
        """Take message `seq` of gateway `key`: ready at once unless it is above the next
        seq expected (a message again or late is ready too: it was judged, or is stale)."""
        expected = self._next.get(key, seq)
        if seq <= expected:
            self._ready.append(message)
            self._advance(key, seq, now)
            return
        self._waiting.setdefault(key, {}).setdefault(seq, []).append(message)
        self._since.setdefault(key, now)
        self._counted(1)
        if self._count > self._most_waiting:
            self._go_on(min(self._since, key=self._since.__getitem__), "too many wait")

    def refused(self, key: Gateway, seq: int, now: float) -> None:
        """Message `seq` of `key` broke the contract: nothing of it is judged, and no
        message waits for it. (Only seqs a window above the next are noted: a gateway
        sending garbage with ever new numbers grows nothing.)"""
        expected = self._next.get(key, seq)
        if seq == expected:
            self._advance(key, seq, now)
        elif expected < seq <= expected + self._most_waiting:
            self._waiting.setdefault(key, {}).setdefault(seq, [])

    def overdue(self, now: float) -> None:
        """Let every gateway whose messages waited `wait_s` go on without the missing."""
        for key, since in list(self._since.items()):
            if now - since >= self._wait_s:
                self._go_on(key, f"not come within {self._wait_s:g} s")

    def ready(self) -> list[T]:
        """The messages to judge now, in seq order per gateway (taken: asked once)."""
        ready, self._ready = self._ready, []
        return ready

    def close(self) -> None:
        """Forget what waits (the pipeline stops): the broker sends it again."""
        self._counted(-self._count)
        self._waiting.clear()
        self._since.clear()

    def _advance(self, key: Gateway, seq: int, now: float) -> None:
        """`seq` of `key` is judged: the waiting messages right after it are ready."""
        waiting = self._waiting.get(key, {})
        upto = max(seq, self._next.get(key, seq + 1) - 1)
        released = 0
        while upto + 1 in waiting:
            upto += 1
            messages = waiting.pop(upto)
            self._ready += messages
            released += len(messages)
        self._next[key] = upto + 1
        if released:
            self._counted(-released)
            log.info(
                "gateway %s/%s: message %d came after its successors waited %.1f s; %d of "
                "them follow it",
                *key,
                seq,
                now - self._since[key],
                released,
            )
        self._settle(key)

    def _go_on(self, key: Gateway, why: str) -> None:
        waiting = self._waiting.pop(key, {})
        self._since.pop(key, None)
        missing = [s for s in range(self._next[key], max(waiting)) if s not in waiting]
        site, gateway = key
        log.warning(
            "gateway %s/%s: messages %s missing (%s); judging its %d later messages without "
            "them: readings in the missing ones will be stored when they come, not judged",
            site,
            gateway,
            _spans(missing),
            why,
            sum(len(messages) for messages in waiting.values()),
        )
        metrics.GAPS_NOT_FILLED.inc()
        for seq in sorted(waiting):
            self._ready += waiting[seq]
            self._counted(-len(waiting[seq]))
        self._next[key] = max(waiting) + 1

    def _counted(self, change: int) -> None:
        self._count += change
        metrics.MESSAGES_WAITING.inc(change)

    def _settle(self, key: Gateway) -> None:
        """Stop `key`'s clock once no message of it waits."""
        if not any(self._waiting.get(key, {}).values()):
            self._since.pop(key, None)


def _spans(seqs: list[int]) -> str:
    """1, 2, 3, 7 as '1-3, 7'."""
    spans: list[list[int]] = []
    for seq in seqs:
        if spans and spans[-1][-1] == seq - 1:
            spans[-1][-1] = seq
        else:
            spans.append([seq, seq])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
