"""The ingest pipeline: validate, store, evaluate, acknowledge, confirm.

One thread runs it, in this order for every batch, and the order is the promise:

1. collect messages from the broker until `batch_max_readings`, until
   `batch_max_wait_s` after the first one arrived, or until half the broker's
   window (`receive_maximum` unacknowledged messages) is taken, so that the
   other half arrives while this batch is stored; a reading that may raise or
   clear an alarm (RuleEngine.urgent) cuts the wait short: the batch takes what
   is already waiting and is written at once; a message that breaks the
   contract is republished on `_invalid` with its reason, counted, logged and
   acknowledged at once. On the NATS cluster a gateway's message above a gap in
   its seq numbers waits for the missing ones first (gaps.py);
2. write the batch to InfluxDB, retrying while InfluxDB is unavailable; points
   InfluxDB refuses are isolated message by message, and a message refused is
   kept in the dead-letter store (deadletters.py) until InfluxDB takes it: the
   reading is valid, only the database would not have it. The stored messages
   are handed to `on_stored` (the compliance rollup marks the days they
   change). The write itself is waited for on a thread of its own, so that
   the next batch is collected and validated meanwhile; the batch is taken up
   again (3 and 4) the moment its write is done, and the next one is written
   only after that;
3. evaluate the rules in reading time (kept messages too: their readings are
   real), publish the alert events and keep them in the alert outbox
   (outbox.py), write alert and excursion records, and save the rule engine's
   state;
4. only then acknowledge the messages to the broker, and publish each gateway's
   durable mark, so a gateway forgets only what is stored or kept (or broke the
   contract and was reported on `_invalid`: sending it again would not help). A
   message refused for a time ahead of ingest's clock is the exception: either
   clock may be wrong, so the gateway's mark stays below it until it is stored.
   A mark covers a gateway's messages without a gap only: its seq numbers follow
   one another, and one missing (the broker took it and lost it before the
   stream stored it) holds the mark below it until the gateway sends it again;
   a mark past it would make the gateway forget a reading nobody stored.

A crash anywhere before 4 leaves the messages with the broker, which delivers
them again, with those of the next batch, collected but not yet written; the
points carry the readings' own times, so writing them again overwrites them,
and the saved rule state tells which readings were evaluated. Alert events
stay in the outbox until the alerts service returns their ids in a receipt.

Gateway status (online/offline) is handled as it arrives, and a scheduler calls
`check_silence` to find sensors that went quiet; the rule engine is used under
one lock.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import NamedTuple

from prometheus_client import Counter
from pydantic import BaseModel, StrictInt, ValidationError

from coldchain import retirement, topics
from coldchain.contract import (
    MAX_PAYLOAD_BYTES,
    AlertState,
    DurableMark,
    FleetVersion,
    InvalidNotice,
    RetiredGateways,
    Telemetry,
    parse_telemetry,
)
from coldchain.engine import Outcome, RuleEngine, latest
from coldchain.errors import AheadOfClock, FleetConfigError, InvalidMessage
from coldchain.fleet import Fleet
from coldchain.registry import Version
from coldchain_ingest import metrics, points
from coldchain_ingest.broker import IMPORTED, Inbound, Wakeup
from coldchain_ingest.deadletters import DeadLetters, Letter
from coldchain_ingest.errors import InfluxRejected, InfluxUnavailable
from coldchain_ingest.gaps import GapWait
from coldchain_ingest.imports import ImportQueue
from coldchain_ingest.influx import Influx
from coldchain_ingest.ports import AlertKeeper, RuleState, Source
from coldchain_ingest.settings import IngestSettings

log = logging.getLogger(__name__)

#: How much of a rejected payload is republished on the invalid topic.
INVALID_ECHO_BYTES = 64 * 1024
#: Most sensors the fleet does not know that one gateway may report (each is a series).
MAX_UNKNOWN_SENSORS = 32
#: A run of `replay_refused` stops after this many letters InfluxDB refuses again.
REPLAY_REFUSALS_PER_RUN = 10
#: Most messages of exported outboxes that wait in the inbox at once (`take_imports`).
IMPORTS_IN_FLIGHT = 500
#: Most seq numbers of refused messages kept per gateway above its mark: the lowest, which
#: can hold it back; a gateway sending garbage with ever new numbers grows nothing more.
MAX_REFUSED_KEPT = 1000
#: How every telemetry topic ends, and no fleet, retirement or status topic does.
TELEMETRY_SUFFIX = "/telemetry"


class Accepted(NamedTuple):
    """A message that keeps the contract (a tuple: one is made for every message)."""

    inbound: Inbound
    site: str
    telemetry: Telemetry
    refused: int = 0
    """Readings and events taken out: stamped after their gateway's retirement."""


@dataclass(frozen=True)
class InFlight:
    """A batch whose write to InfluxDB is under way."""

    batch: list[Accepted]
    write: Future[None]


class Stopped(Exception):
    """The pipeline was asked to stop while waiting; nothing of the batch was acknowledged."""


class Pipeline:
    def __init__(
        self,
        settings: IngestSettings,
        influx: Influx,
        broker: Source,
        engine: RuleEngine,
        state: RuleState,
        outbox: AlertKeeper,
        dead_letters: DeadLetters,
        on_stored: Callable[[list[Telemetry]], None] = lambda stored: None,
        imports: ImportQueue | None = None,
        in_seq_order: bool = False,
    ) -> None:
        self._settings = settings
        self._influx = influx
        self._broker = broker
        self._engine = engine
        self._state = state
        self._outbox = outbox
        self._dead_letters = dead_letters
        self._on_stored = on_stored
        self._engine_lock = threading.Lock()
        self._durable = state.marks()
        #: Seq numbers of messages refused for breaking the contract, above their mark.
        self._refused: dict[tuple[str, str], set[int]] = {}
        self._held = state.holds()
        #: Each gateway's messages put in seq order (gaps.py), where the broker may lose
        #: one and store the next (the NATS cluster).
        self._gaps: GapWait[Accepted] | None = (
            GapWait(settings.gap_wait_s, max(1, settings.receive_maximum // 4), self._durable)
            if in_seq_order
            else None
        )
        self._retired = state.retired()
        self._imports = imports
        #: Ids of imported messages put into the inbox and not answered yet.
        self._importing: set[int] = set()
        self._importing_lock = threading.Lock()
        self._unknown: dict[str, set[str]] = {}
        self._stop = threading.Event()
        self._half_window = max(1, settings.receive_maximum // 2)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-write")
        self._in_flight: InFlight | None = None
        #: time.monotonic() when a message was last handled (stored, kept or refused),
        #: and how many are taken from the broker and not handled yet.
        self._progress = time.monotonic()
        self._taken = 0

    @property
    def _fleet(self) -> Fleet:
        """The newest fleet version: which gateways and sensors exist now."""
        return self._engine.fleet

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                batch = self._collect()
                self._finish()
                if batch:
                    self._start(batch)
            self._finish()
        except Stopped:
            log.info("stopping; unacknowledged messages stay with the broker")
        finally:
            self._writer.shutdown(wait=True)
            if self._gaps is not None:
                self._gaps.close()

    def _collect(self) -> list[Accepted]:
        if self._gaps is not None:
            self._gaps.overdue(time.monotonic())
        batch = self._in_order(None)
        readings = sum(len(accepted.telemetry.readings) for accepted in batch)
        deadline = None
        received = 0
        urgent = False
        #: Taken since the last look for a reading that may alarm.
        unlooked: list[Accepted] = []
        while readings < self._settings.batch_max_readings:
            if unlooked and self._broker.inbox.empty():
                # Only waiting for more holds a reading up: look for one that may alarm
                # now, not at each message of a flood that fills the batch anyway.
                if any(self._engine.urgent(a.telemetry.readings) for a in unlooked):
                    # Write with what is already waiting.
                    urgent, deadline = True, time.monotonic()
                unlooked.clear()
            timeout = 0.5 if deadline is None else deadline - time.monotonic()
            try:
                # Past the deadline, take only what is already waiting.
                inbound = self._broker.inbox.get(block=timeout > 0, timeout=max(timeout, 0))
            except queue.Empty:
                if self._taken == 0:
                    # Idle: nothing waits, so nothing is late. Without this, the first
                    # message after a quiet spell looked stalled until it was stored.
                    self._progress = time.monotonic()
                break
            if isinstance(inbound, Wakeup):
                if self._in_flight is not None and inbound.token is self._in_flight.write:
                    self._finish()
                continue
            self._broker.taken(inbound)
            received += 1
            self._taken += 1
            if not inbound.topic.endswith(TELEMETRY_SUFFIX) and self._took_control(inbound):
                continue
            if deadline is None:
                # From the first message's arrival: it may have waited for the last batch.
                deadline = inbound.arrived + self._settings.batch_max_wait_s
            for accepted in self._in_order(self._validate(inbound)):
                batch.append(accepted)
                readings += len(accepted.telemetry.readings)
                if not urgent:
                    unlooked.append(accepted)
            if len(batch) >= self._half_window:
                # Half the broker's window: the other half arrives while we store this.
                break
        # Counted once a batch: a metric's lock and call cost as much as a message's
        # topic parsing.
        metrics.MESSAGES_RECEIVED.inc(received)
        metrics.BACKLOG.inc(received)
        return batch

    def _in_order(self, accepted: Accepted | None) -> list[Accepted]:
        """The messages to judge now: `accepted` at once, or (in seq order) what it and
        the messages refused since let go of waiting for a missing one."""
        if self._gaps is None:
            return [] if accepted is None else [accepted]
        if accepted is not None:
            key = (accepted.site, accepted.telemetry.gateway)
            self._gaps.admit(key, accepted.telemetry.seq, accepted, time.monotonic())
        return self._gaps.ready()

    def _took_control(self, inbound: Inbound) -> bool:
        """Take a fleet version, the list of retired gateways or a gateway status (True);
        anything else is left (False)."""
        if topics.is_fleet(inbound.topic):
            self._finish()
            self._fleet_version(inbound)
            return True
        if inbound.topic == topics.RETIRED:
            self._finish()  # readings sent before the list are judged without it
            self._retirements(inbound)
            return True
        status = topics.parse_status(inbound.topic)
        if status is not None:
            self._finish()  # the readings sent before a gateway's status are judged first
            self._gateway_status(inbound, *status)
            return True
        return False

    def _validate(self, inbound: Inbound) -> Accepted | None:
        ids = topics.parse_telemetry(inbound.topic)
        site, gateway = ids if ids else ("_", "_")
        try:
            telemetry = parse_telemetry(site, gateway, inbound.payload, inbound.received_at)
        except AheadOfClock as exc:
            self._hold(site, gateway, exc.seq)
            if self._gaps is not None:
                self._gaps.refused((site, gateway), exc.seq, time.monotonic())
            self._reject(inbound, site, gateway, exc.reason)
            return None
        except InvalidMessage as exc:
            self._reject(inbound, site, gateway, exc.reason, seq=_claimed_seq(inbound.payload))
            return None
        sensors = [r.sensor for r in telemetry.readings] + [e.sensor for e in telemetry.events]
        fleet = self._fleet
        problem = fleet.sender_problem(site, gateway, sensors) or self._too_many_unknown(
            fleet, gateway, sensors
        )
        if problem is not None:
            self._reject(inbound, site, gateway, problem, seq=telemetry.seq)
            return None
        retired_at = self._retired.get((site, gateway))
        if retired_at is None:
            return Accepted(inbound, site, telemetry)
        return self._up_to_retirement(inbound, site, telemetry, retired_at)

    def _up_to_retirement(
        self, inbound: Inbound, site: str, telemetry: Telemetry, retired_at: datetime
    ) -> Accepted | None:
        """What a retired gateway took up to its retirement; the rest is refused, counted."""
        cut = retirement.up_to(telemetry, retired_at)
        gateway = telemetry.gateway
        if cut.refused:
            metrics.READINGS_AFTER_RETIREMENT.inc(cut.refused)
            log.warning(
                "gateway %s/%s was retired at %s: %d readings and events it took after are "
                "refused (message %d)",
                site,
                gateway,
                retired_at.isoformat(),
                cut.refused,
                telemetry.seq,
            )
        if cut.kept is None:
            reason = (
                f"gateway {site}/{gateway} was retired at {retired_at.isoformat()}; "
                "everything in this message was taken after"
            )
            self._reject(inbound, site, gateway, reason, cut.refused, telemetry.seq)
            return None
        return Accepted(inbound, site, cut.kept, cut.refused)

    def _too_many_unknown(self, fleet: Fleet, gateway: str, sensors: list[str]) -> str | None:
        """Why a gateway may not report these sensors the fleet does not know, or None.

        Such readings are stored, not judged (a probe about to be added to the fleet),
        but each sensor is a series in InfluxDB, whose tag values are limited: a
        gateway may report at most MAX_UNKNOWN_SENSORS of them (counted since start).
        """
        unknown = fleet.unknown(sensors)
        if not unknown:
            return None
        seen = self._unknown.setdefault(gateway, set())
        if len(seen | unknown) > MAX_UNKNOWN_SENSORS:
            return (
                f"gateway {gateway} reports more than {MAX_UNKNOWN_SENSORS} sensors the fleet "
                "does not know; add them to the fleet file"
            )
        seen |= unknown
        return None

    def _reject(
        self,
        inbound: Inbound,
        site: str,
        gateway: str,
        reason: str,
        refused: int = 0,
        seq: int | None = None,
    ) -> None:
        """Report and acknowledge a message that broke the contract; its `seq`, if known,
        counts as handled for its gateway's durable mark."""
        log.warning("invalid message on %s: %s", inbound.topic, reason)
        if seq is not None:
            if self._gaps is not None:
                self._gaps.refused((site, gateway), seq, time.monotonic())
            kept = self._refused.setdefault((site, gateway), set())
            kept.add(seq)
            if len(kept) > MAX_REFUSED_KEPT:
                kept.remove(max(kept))
        metrics.MESSAGES_INVALID.inc()
        notice = InvalidNotice(
            topic=inbound.topic,
            reason=reason,
            received_at=inbound.received_at,
            payload=inbound.payload[:INVALID_ECHO_BYTES].decode("utf-8", errors="replace"),
            payload_bytes=len(inbound.payload),
        )
        self._broker.publish(topics.invalid(site, gateway), notice.model_dump_json().encode())
        self._answer(inbound, f"refused: {reason}", refused=refused)
        self._acknowledge(inbound)

    def _start(self, batch: list[Accepted]) -> None:
        """Build the batch's points and hand their write to the writer thread."""
        body = [line for a in batch for line in self._lines(a)]
        write = self._writer.submit(self._retrying, partial(self._write, body))
        write.add_done_callback(lambda done: self._broker.inbox.put(Wakeup(done)))
        self._in_flight = InFlight(batch, write)

    def _lines(self, accepted: Accepted) -> list[str]:
        return points.telemetry_lines(accepted.site, accepted.telemetry, self._fleet)

    def _finish(self) -> None:
        """Take up the batch in flight, if any, once it is written: evaluate its readings,
        acknowledge its messages and publish the gateways' durable marks."""
        flight, self._in_flight = self._in_flight, None
        if flight is None:
            return
        stored = self._stored(flight)
        messages = [accepted.telemetry for accepted in stored]
        self._on_disk(partial(self._on_stored, messages), "the days to compute")
        metrics.READINGS_WRITTEN.inc(sum(len(message.readings) for message in messages))
        with self._engine_lock:
            self._record(self._evaluate(flight.batch))
        self._answer_imported(flight.batch, stored)
        marks = self._marks(flight.batch)
        # Checkpointed with the acknowledgement.
        self._on_disk(partial(self._state.keep_marks, marks), "the durable marks")
        self._broker.ack_all(accepted.inbound for accepted in flight.batch)
        metrics.MESSAGES_ACKED.inc(len(flight.batch))
        metrics.BACKLOG.dec(len(flight.batch))
        self._handled(len(flight.batch))
        self._confirm(marks)

    def _answer_imported(self, batch: list[Accepted], stored: list[Accepted]) -> None:
        """Tell `coldchain-ingest import-outbox` what became of its messages in `batch`:
        stored, stored before (up to the gateway's durable mark: written again, the same
        points), or kept in the dead-letter store."""
        if not self._importing:
            return
        written = {id(accepted) for accepted in stored}
        for accepted in batch:
            if accepted.inbound.qos != IMPORTED:
                continue
            key = (accepted.site, accepted.telemetry.gateway)
            mark = max(self._durable.get(key, 0), self._broker.durable_mark(*key))
            if id(accepted) not in written:
                outcome = "kept: InfluxDB refused it; it waits in the dead-letter store"
            else:
                outcome = "stored before" if accepted.telemetry.seq <= mark else "stored"
            readings = len(accepted.telemetry.readings)
            self._answer(accepted.inbound, outcome, readings, accepted.refused)

    def _answer(self, inbound: Inbound, outcome: str, readings: int = 0, refused: int = 0) -> None:
        if inbound.qos != IMPORTED or self._imports is None:
            return
        answer = partial(self._imports.answer, inbound.mid, outcome, readings, refused)
        self._on_disk(answer, "an import's answer")
        with self._importing_lock:
            self._importing.discard(inbound.mid)

    def take_imports(self) -> int:
        """Put messages of exported outboxes (imports.py) into the inbox, as from the
        broker (called by the scheduler); how many."""
        if self._imports is None:
            return 0
        with self._importing_lock:
            room = IMPORTS_IN_FLIGHT - len(self._importing)
            taken = set(self._importing)
        rows = self._imports.waiting(room, taken) if room > 0 else []
        now = datetime.now(UTC)
        for row in rows:
            with self._importing_lock:
                self._importing.add(row.id)
            self._broker.inbox.put(
                Inbound(row.topic, row.body, row.id, IMPORTED, now, time.monotonic())
            )
        return len(rows)

    def _retirements(self, inbound: Inbound) -> None:
        """Take the list of retired gateways: from now on, what each took after its
        retirement is refused. Kept in the state file, so a restart refuses it too."""
        try:
            message = RetiredGateways.model_validate_json(inbound.payload)
        except ValidationError as exc:
            log.error("refused the list of retired gateways on %s: %s", inbound.topic, exc)
            metrics.MESSAGES_INVALID.inc()
            self._acknowledge(inbound)
            return
        retired = {(g.site, g.gateway): g.retired_at for g in message.gateways}
        new = {key: at for key, at in retired.items() if self._retired.get(key) != at}
        if new:
            self._on_disk(partial(self._state.keep_retired, new), "the retired gateways")
            self._retired.update(new)
            for (site, gateway), at in sorted(new.items()):
                log.info(
                    "gateway %s/%s retired at %s: what it took after is refused",
                    site,
                    gateway,
                    at.isoformat(),
                )
        self._acknowledge(inbound)

    def check_silence(self, now: datetime) -> None:
        """Raise 'no data' for sensors silent too long (called by the scheduler)."""
        with self._engine_lock:
            try:
                self._record(self._engine.silence(now))
            except Stopped:
                return

    def _gateway_status(self, inbound: Inbound, site: str, gateway: str) -> None:
        """A gateway the fleet knows went online or offline; a status that is not
        `online`/`offline`, or names a known gateway under another site, is refused."""
        located = self._fleet.gateway(gateway)
        if located is None:
            self._acknowledge(inbound)  # not in the fleet: stored nowhere, judged by nobody
            return
        if located[0].id != site:
            self._reject(
                inbound, site, gateway, f"gateway {gateway} belongs to site {located[0].id}"
            )
            return
        if inbound.payload not in (topics.STATUS_ONLINE, topics.STATUS_OFFLINE):
            self._reject(inbound, site, gateway, "a status is 'online' or 'offline'")
            return
        online = inbound.payload == topics.STATUS_ONLINE
        with self._engine_lock:
            self._record(self._engine.gateway_status(site, gateway, online, inbound.received_at))
        self._acknowledge(inbound)

    def _fleet_version(self, inbound: Inbound) -> None:
        """Take a version of the registry's fleet: from its `valid_from` on, readings are
        judged by it. Its limits go to InfluxDB first (the reports show them), then it is
        kept in the state file; one seen before is only acknowledged."""
        try:
            message = FleetVersion.model_validate_json(inbound.payload)
            version = Version(message.version, message.valid_from, Fleet.from_data(message.fleet))
        except (ValidationError, FleetConfigError) as exc:
            log.error("refused fleet version on %s: %s", inbound.topic, exc)
            metrics.MESSAGES_INVALID.inc()
            self._acknowledge(inbound)
            return
        if all(known.number != version.number for known in self._engine.history.versions()):
            lines = points.fleet_limits_lines(message, version.fleet)
            try:
                self._retrying(partial(self._write, lines))
            except InfluxRejected as exc:
                self._keep_refused(None, "\n".join(lines).encode(), inbound.received_at, exc)
            body = message.model_dump_json()
            self._on_disk(
                partial(self._state.keep_fleet_version, message.version, body), "a fleet version"
            )
            with self._engine_lock:
                self._engine.history.add(version)
            log.info(
                "fleet version %d by %s takes effect for readings from %s: %s",
                message.version,
                message.approved_by or message.created_by,
                message.valid_from.isoformat(),
                message.reason or "no reason given",
            )
        self._acknowledge(inbound)

    def _stored(self, flight: InFlight) -> list[Accepted]:
        """The messages of the batch in flight that InfluxDB stored, once its write is
        done; the others are kept in the dead-letter store."""
        try:
            flight.write.result()  # Stopped, if asked to stop while InfluxDB was away
            return flight.batch
        except InfluxRejected as exc:
            log.error("InfluxDB refused part of a batch (%s); writing message by message", exc)
        stored = []
        for accepted in flight.batch:
            try:
                self._retrying(partial(self._write, self._lines(accepted)))
            except InfluxRejected as exc:
                inbound = accepted.inbound
                self._keep_refused(inbound.topic, inbound.payload, inbound.received_at, exc)
                continue
            stored.append(accepted)
        return stored

    def _keep_refused(
        self, topic: str | None, body: bytes, received_at: datetime, refusal: InfluxRejected
    ) -> None:
        what = f"the message on {topic}" if topic else "alert and excursion records"
        log.error(
            "InfluxDB refused %s; kept in the dead-letter store until it takes it: %s",
            what,
            refusal,
        )
        keep = partial(self._dead_letters.keep, topic, body, received_at, str(refusal))
        self._on_disk(keep, "what InfluxDB refused")
        metrics.REFUSED_BY_INFLUXDB.inc()

    def replay_refused(self, now: datetime, limit: int = 500) -> int:
        """Write again what InfluxDB refused and is due (called by the scheduler); how
        many were stored. A letter refused again waits longer for its next try, so
        one that InfluxDB never takes does not hold up the others."""
        stored, refusals = 0, 0
        for letter in self._dead_letters.due(now, limit):
            if refusals >= REPLAY_REFUSALS_PER_RUN:
                break
            try:
                telemetry = self._restored(letter)
                lines = self._lines(telemetry) if telemetry else letter.body.decode().split("\n")
                self._write(lines)
            except (InvalidMessage, InfluxRejected) as exc:
                self._dead_letters.refused_again(letter, str(exc))
                refusals += 1
                continue
            except InfluxUnavailable as exc:
                log.warning("refused points wait for InfluxDB: %s", exc)
                break
            self._dead_letters.stored(letter)
            if telemetry is not None:
                self._on_stored([telemetry.telemetry])
                metrics.READINGS_WRITTEN.inc(len(telemetry.telemetry.readings))
            stored += 1
        if stored:
            log.info("InfluxDB took %d refused messages or record sets on a new try", stored)
        return stored

    def _restored(self, letter: Letter) -> Accepted | None:
        """The telemetry message a letter holds, as it was accepted; None for records."""
        if letter.topic is None:
            return None
        ids = topics.parse_telemetry(letter.topic)
        if ids is None:
            raise InvalidMessage(f"{letter.topic} is not a telemetry topic")
        telemetry = parse_telemetry(*ids, letter.body, letter.received_at)
        inbound = Inbound(letter.topic, letter.body, 0, 0, letter.received_at, 0.0)
        return Accepted(inbound, ids[0], telemetry)

    def _write(self, lines: list[str]) -> None:
        started = time.perf_counter()
        self._influx.write(lines)
        metrics.WRITE_SECONDS.observe(time.perf_counter() - started)

    def _evaluate(self, stored: list[Accepted]) -> Outcome:
        readings = [r for accepted in stored for r in accepted.telemetry.readings]
        events = [e for accepted in stored for e in accepted.telemetry.events]
        outcome = self._engine.observe(readings, events)
        for accepted in stored:
            message = accepted.telemetry
            if message.battery_v is None:
                continue
            located = self._fleet.gateway(message.gateway)
            if located is not None:
                site, gateway = located
                outcome.extend(
                    self._engine.battery(site.id, gateway, message.sent_at, message.battery_v)
                )
        metrics.READINGS_LATE.inc(outcome.late)
        return outcome

    def _record(self, outcome: Outcome) -> None:
        """Keep and send the alerts, store alert and excursion records, then save the
        rule state.

        The events go out first, then into the outbox, then the records are
        written: people wait for the events, not for the disk. A crash before the
        state is saved evaluates the readings again, which sends the same events
        (idempotent by key) and writes the same records.
        """
        stamped = self._outbox.stamp(latest(outcome.alerts))
        for topic, payload in ((kept.topic, kept.payload) for kept in stamped):
            self._broker.publish(topic, payload)
        self._on_disk(partial(self._outbox.keep, stamped), "alert events")
        # Updates repeat readings that are stored already: only raises and clearings
        # are records.
        changes = [e for e in outcome.alerts if e.state is not AlertState.UPDATED]
        lines = [points.alert_line(event) for event in changes]
        lines += [points.excursion_line(record) for record in outcome.excursions]
        if lines:
            try:
                self._retrying(lambda: self._influx.write(lines))
            except InfluxRejected as exc:
                self._keep_refused(None, "\n".join(lines).encode(), datetime.now(UTC), exc)
        for event in changes:
            log.info("alert %s %s at %s", event.state, event.key, event.at.isoformat())
        metrics.ALERT_EVENTS.inc(len(stamped))
        self._on_disk(partial(self._state.save, self._engine.changes()), "the rules' state")

    def redeliver_alerts(self) -> None:
        """Publish again the alert events the alerts service has not confirmed and that
        are due (called by the scheduler)."""
        due = self._outbox.due(time.monotonic())
        if due:
            log.warning(
                "%d alert events not confirmed by the alerts service; publishing them again",
                len(due),
            )
        for topic, payload in due:
            self._broker.publish(topic, payload)

    def _acknowledge(self, inbound: Inbound) -> None:
        self._broker.ack(inbound)
        metrics.MESSAGES_ACKED.inc()
        metrics.BACKLOG.dec()
        self._handled(1)

    def _handled(self, count: int) -> None:
        self._taken -= count
        self._progress = time.monotonic()

    def stalled(self, now: float) -> bool:
        """Whether messages wait and none was handled for `stalled_after_s` (now:
        time.monotonic()): InfluxDB is too slow or gone, and nothing reaches the rules."""
        waiting = self._taken > 0 or not self._broker.inbox.empty()
        return waiting and now - self._progress > self._settings.stalled_after_s

    def _hold(self, site: str, gateway: str, seq: int) -> None:
        """Never confirm `seq` of this gateway until it is stored: it is ahead of our clock,
        and if our clock is the wrong one, the gateway sends it again once it is right."""
        key = (site, gateway)
        if self._held.get(key, seq + 1) > seq:
            log.warning(
                "gateway %s/%s: message %d is ahead of our clock; its durable mark stays below "
                "it until it is stored (check ingest's clock, and the gateway's)",
                site,
                gateway,
                seq,
            )
            self._held[key] = seq
            self._on_disk(partial(self._state.hold, site, gateway, seq), "a held mark")

    def _marks(self, handled: list[Accepted]) -> dict[tuple[str, str], int]:
        """Each gateway's new durable mark: its messages up to it are stored or refused,
        none is missing below it, and none is held (`_hold`) below it."""
        seqs: dict[tuple[str, str], set[int]] = {}
        for accepted in handled:
            key = (accepted.site, accepted.telemetry.gateway)
            seqs.setdefault(key, set()).add(accepted.telemetry.seq)
            if self._held.get(key) == accepted.telemetry.seq:
                del self._held[key]
                self._on_disk(partial(self._state.release, *key), "a held mark's release")
        marks = {}
        for key, handled_seqs in seqs.items():
            known = max(self._durable.get(key, 0), self._broker.durable_mark(*key))
            refused = self._refused.pop(key, set())
            seq = _contiguous(known, handled_seqs | refused)
            held = self._held.get(key)
            if held is not None:
                seq = min(seq, held - 1)
            if above := {s for s in refused if s > seq}:
                self._refused[key] = above
            if seq > known:
                marks[key] = self._durable[key] = seq
        return marks

    def _confirm(self, marks: dict[tuple[str, str], int]) -> None:
        """Publish each gateway's new durable mark."""
        now = datetime.now(UTC)
        for (site, gateway), seq in marks.items():
            mark = _MARK_JSON(DurableMark(seq=seq, stored_at=now))
            self._broker.publish(topics.durable(site, gateway), mark, retain=True)

    def _on_disk(self, write: Callable[[], None], what: str) -> None:
        """`write` to the state file; while SQLite refuses it (the file locked, the disk
        full or failing), tried again as InfluxDB's writes are (`_retrying`). Nothing
        after it, the acknowledgement included, happens before it is done."""
        self._until_done(
            write,
            sqlite3.OperationalError,
            metrics.STATE_WRITE_FAILURES,
            lambda exc: f"could not keep {what} in the state file ({exc})",
        )

    def _retrying(self, write: Callable[[], None]) -> None:
        self._until_done(write, InfluxUnavailable, metrics.WRITE_FAILURES, str)

    def _until_done(
        self,
        write: Callable[[], None],
        refusal: type[Exception],
        failures: Counter,
        say: Callable[[Exception], str],
    ) -> None:
        """Call `write` until it raises no `refusal`, each refusal counted in `failures`
        and logged (`say`), the pause before the next try doubling up to `retry_max_s`;
        Stopped if asked to stop meanwhile."""
        pause = 0.1
        while True:
            try:
                write()
                return
            except refusal as exc:
                failures.inc()
                log.warning("%s; retrying in %.1f s", say(exc), pause)
            if self._stop.wait(pause):
                raise Stopped
            pause = min(pause * 2, self._settings.retry_max_s)


#: A durable mark's JSON from the model's serializer: `model_dump_json`'s options cost as
#: much again, for every gateway of every batch.
_MARK_JSON = DurableMark.__pydantic_serializer__.to_json


def _contiguous(known: int, seqs: set[int]) -> int:
    """The highest seq up to which every message is in `seqs` or at most `known`, the
    gateway's mark so far (0: none known, and the lowest of `seqs` starts the run)."""
    upto = known if known else min(seqs) - 1
    while upto + 1 in seqs:
        upto += 1
    return upto


class _Numbered(BaseModel):
    """Only the seq of a message that broke the contract (pydantic's parser, whose nesting
    limit gives a ValidationError where `json` would raise RecursionError)."""

    seq: StrictInt


def _claimed_seq(payload: bytes) -> int | None:
    """The seq a message that broke the contract gives itself, if it gives a number."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        return _Numbered.model_validate_json(payload).seq
    except ValidationError:
        return None
