"""MQTT adapter of the ingest service: a persistent MQTT 5 session with manual acks.

Telemetry and gateway status arrive on paho's network thread and are only
queued here, in `inbox`.
The pipeline thread acknowledges them (`ack_all`) once what they carry is
stored; until then the broker keeps them for us, across our restarts, for
`session_expiry_s`.

The inbox is bounded whatever QoS arrives: QoS 1 messages by the receive window
we give the broker (`receive_maximum`), QoS 0 messages, which no window holds
back, by `qos0_backlog`: past it a QoS 0 message is dropped and counted (the
contract asks for QoS 1; QoS 0 is at most once by its sender's choice).
Retained telemetry is not sent to us again when we subscribe, so a message
somebody published retained is taken once, not at every reconnect.
"""

from __future__ import annotations

import logging
import queue
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import ValidationError

from coldchain import topics
from coldchain.contract import AlertReceipt, DurableMark
from coldchain_ingest import metrics
from coldchain_ingest.settings import IngestSettings
from coldchain_io import mqtt as mqtt_io

log = logging.getLogger(__name__)


#: The `qos` of an Inbound that did not come from the broker but from a retired gateway's
#: exported outbox (imports.py): there is nothing to acknowledge to the broker.
IMPORTED = -1


class Inbound(NamedTuple):
    """A message as it arrived (a tuple: one is made for every message, and a frozen
    dataclass sets each field through object.__setattr__)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: datetime
    #: time.monotonic() at arrival: how long the message has waited for its batch.
    arrived: float


@dataclass(frozen=True, slots=True)
class Wakeup:
    """Put in the inbox by the pipeline's own writer: the write of `token` is done."""

    token: object


#: One log line for this many QoS 0 messages dropped (and for the first).
DROPS_PER_LOG = 10_000

#: (topic, payload, packet id, QoS) of a message as it arrives.
RawHandler = Callable[[str, bytes, int, int], None]


class _Client(mqtt.Client):
    """paho's client with a lean path for the MQTT 5 messages ingest takes, and batched acks.

    With thousands of single-reading messages a second, paho's general handling
    of a PUBLISH (an MQTTMessage, MQTT 5 properties decoded field by field, topic
    matching for per-topic callbacks, log formatting) took more of the
    interpreter than validating the message and evaluating its rules
    (docs/performance.md). Here a QoS 0 or 1 PUBLISH is cut into topic, packet
    id and payload, its properties skipped (ingest uses none), and handed to
    `on_raw`; anything else, or anything unexpected, takes paho's own path.
    `ack_all` queues the PUBACKs of a batch as one write instead of one each.
    Reads are buffered: paho asks the socket for each packet's command byte,
    length and body in turn (three system calls a message) and reads one packet
    each time the socket is readable; here one `recv` takes what the kernel holds
    and `loop_read` hands on every whole packet in it before paho waits again, the
    PUBLISH packets cut straight from what was read (one cut by the end of a read is
    read on at once, `_read_rest`).
    A PUBACK that says success (one comes back for every durable mark ingest
    publishes) ends its message without paho's reason code and properties objects,
    which cost more than the rest of its handling.
    All this relies on paho 2's internals (`_handle_publish`, `_handle_pubackcomp`,
    `_do_on_publish`, `_out_messages`, `_out_message_mutex`, `_loop_rc_handle`,
    `_in_packet`, `_packet_queue`, `_sock_recv`, `_msgtime_mutex`,
    `_last_bytes_received`): paho has no public way to take a PUBLISH without building
    an MQTTMessage, to acknowledge several at once, to take a PUBACK without decoding
    its properties, nor to read more than it asks for. So the
    versions ingest accepts are pinned to those it was tested with
    (ingest/pyproject.toml), and tests/unit/test_paho_internals.py fails, naming
    what moved, on any other;
    tests/integration/test_ingest*.py and tests/faults run the path itself.
    """

    on_raw: RawHandler | None = None
    #: What the last `recv` read, from which socket, and how much of it paho took.
    _read: bytes = b""
    _read_from: object = None
    _taken: int = 0

    def _sock_recv(self, bufsize: int) -> bytes:
        if self._read_from is not self._sock:  # a new connection: nothing left of the old
            self._read, self._read_from, self._taken = b"", self._sock, 0
        if self._taken >= len(self._read):
            self._read, self._taken = super()._sock_recv(max(bufsize, READ_BYTES)), 0
        at = self._taken
        self._taken = at + bufsize
        return self._read[at : at + bufsize]

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read as paho does, then go on while packets wait in what was read: the socket
        will not be readable again for them. Whole PUBLISH packets and PUBACKs there are
        taken at once (`_take_packets`); anything else goes through paho's own reading.
        A PUBLISH cut by the end of a read is read on (`_read_rest`) up to READ_ON_BYTES
        a call: past that, its rest makes the socket readable again, and paho first
        writes what waits (acknowledgements, marks) and keeps the connection alive, which
        a flood that never pauses (QoS 0, which no window holds back) would put off."""
        rc = super().loop_read(max_packets)
        read_on = 0
        while (
            rc == MQTTErrorCode.MQTT_ERR_SUCCESS
            and self._taken < len(self._read)
            and self._sock is not None
        ):
            taken, rc = self._take_packets()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return self._loop_rc_handle(rc)  # as paho's reading does with a failed packet
            if taken:
                continue
            if self._starts_cut_publish():
                if read_on >= READ_ON_BYTES:
                    return rc
                more = self._read_rest()
                read_on += more
                if more:
                    continue
            rc = super().loop_read(max_packets)
        return rc

    def _starts_cut_publish(self) -> bool:
        """Whether what is left of the last read is the start of a QoS 0 or 1 PUBLISH whose
        rest is not read yet (then `_read_rest`); False for anything else, paho's path."""
        at, header = self._taken, self._read[self._taken]
        if self.on_raw is None or self.protocol != mqtt.MQTTv5 or self._in_packet["command"]:
            return False
        if header & 0xF0 != mqtt.PUBLISH or header & 0x04:
            return False  # not a PUBLISH of QoS 0 or 1: paho's path
        body = _body(self._read, at + 1, len(self._read))
        whole = body is not None and body[1] <= len(self._read)
        # Whole yet not taken, or its length malformed: paho's path refuses it.
        return not (whole or (body is None and len(self._read) - at > 4))

    def _read_rest(self) -> int:
        """Read on after a cut PUBLISH: its rest is usually there already (the broker sends
        large messages in several writes), and then it is cut with the packets after it
        instead of taking paho's path. How many bytes were read; 0 if none could be now
        (paho's reading then takes the rest as it comes)."""
        try:
            more = super()._sock_recv(READ_BYTES)
        except OSError:  # BlockingIOError: nothing yet; anything else: paho's path sees it
            return 0
        if more:  # none: closed, which paho's next read finds again
            self._read, self._taken = self._read[self._taken :] + more, 0
        return len(more)

    def _take_packets(self) -> tuple[int, MQTTErrorCode]:
        """Take the whole QoS 0 and 1 PUBLISH packets and the PUBACKs of success at the
        start of what was read and not taken yet, as `_handle_publish` and
        `_handle_pubackcomp` would: how many, and paho's code of the first that failed
        (`_took_puback`). It stops at anything else, at a packet cut short or malformed,
        and while paho is in the middle of a packet."""
        done = MQTTErrorCode.MQTT_ERR_SUCCESS
        if self.on_raw is None or self.protocol != mqtt.MQTTv5 or self._in_packet["command"]:
            return 0, done
        read, end, taken = self._read, len(self._read), 0
        while self._taken < end and done == MQTTErrorCode.MQTT_ERR_SUCCESS:
            at = self._taken
            header = read[at]
            if header == mqtt.PUBACK:
                acknowledged = self._took_puback(read, at, end)
                if acknowledged is None:
                    break
                taken, done = taken + 1, acknowledged
                continue
            qos = (header & 0x06) >> 1
            if header & 0xF0 != mqtt.PUBLISH or qos == 2:
                break
            body = _body(read, at + 1, end)
            if body is None or body[1] > end:
                break
            try:
                topic, mid, payload = _cut_publish(memoryview(read)[body[0] : body[1]], qos)
            except (ValueError, IndexError, struct.error):
                break
            self._taken = body[1]
            taken += 1
            self.on_raw(topic, payload, mid, qos)
        if taken:
            with self._msgtime_mutex:
                self._last_bytes_received = time.monotonic()
        return taken, done

    def _took_puback(self, read: bytes, at: int, end: int) -> MQTTErrorCode | None:
        """Take the PUBACK at `at` (`_puback`), or None, for paho's path, if it is cut
        short or says more than success."""
        length = read[at + 1] if at + 1 < end else -1
        if length not in _SUCCESS_LENGTHS or at + 2 + length > end:
            return None
        taken = self._puback(read[at + 2 : at + 2 + length])
        if taken is not None:
            self._taken = at + 2 + length
        return taken

    def _handle_pubackcomp(self, cmd: Literal["PUBACK", "PUBCOMP"]) -> MQTTErrorCode:
        taken = None
        if cmd == "PUBACK" and self.protocol == mqtt.MQTTv5:
            taken = self._puback(bytes(self._in_packet["packet"]))
        return super()._handle_pubackcomp(cmd) if taken is None else taken

    def _puback(self, body: bytes) -> MQTTErrorCode | None:
        """Take a PUBACK (its `body` after the fixed header) that says success, as paho's
        `_handle_pubackcomp` would but without a reason code and a properties object
        each: ingest publishes a durable mark per gateway and batch, and as many PUBACKs
        come back. paho's code (not success if sending a publish that waited for room in
        flight failed), or None for anything else (another reason code, properties)."""
        if len(body) not in _SUCCESS_LENGTHS:
            return None
        reason = _SUCCESSES.get(body[2]) if len(body) > 2 else _SUCCESSES[0]
        if reason is None or (len(body) == 4 and body[3]):
            return None
        mid = (body[0] << 8) | body[1]
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, reason, _NO_PROPERTIES)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_publish(self) -> MQTTErrorCode:
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if self.on_raw is None or qos == 2 or self.protocol != mqtt.MQTTv5:
            return super()._handle_publish()
        try:
            topic, mid, payload = _cut_publish(self._in_packet["packet"], qos)
        except (ValueError, IndexError, struct.error):
            return super()._handle_publish()
        self.on_raw(topic, payload, mid, qos)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def ack_all(self, mids: Iterable[int]) -> None:
        """PUBACK (success) for every packet id in `mids`, queued as one write."""
        acks = b"".join(_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids)
        if acks:
            self._packet_queue(mqtt.PUBACK, acks, 0, 0)


_PUBACK = struct.Struct("!BBH")
#: Remaining lengths of a PUBACK that `_took_puback` takes: the packet id, then perhaps a
#: reason code, then perhaps a property length of 0 (MQTT 5, 3.4.2).
_SUCCESS_LENGTHS = (2, 3, 4)
#: The reason codes it takes, as it hands them to `on_publish` (ingest sets none): success,
#: and "no matching subscribers" (Mosquitto's answer when nobody subscribes to the topic).
_SUCCESSES = {code: ReasonCode(PacketTypes.PUBACK, identifier=code) for code in (0x00, 0x10)}
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)
#: Bytes asked of the socket at once: hundreds of single-reading messages.
READ_BYTES = 64 * 1024
#: Bytes `loop_read` reads on after a cut PUBLISH in one call, at most: about 5000
#: single-reading messages, or 200 gateway batches of 50 readings.
READ_ON_BYTES = 1024 * 1024


def _body(read: bytes, at: int, end: int) -> tuple[int, int] | None:
    """Where the body of the packet whose remaining length starts at `at` begins and
    ends, as that length says (the end may lie past `end`); None if the length is cut
    short by `end` or malformed."""
    length, shift = 0, 0
    while True:  # variable byte integer: at most four bytes
        if at >= end or shift > 21:
            return None
        byte = read[at]
        at += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return at, at + length
        shift += 7


def _cut_publish(packet: bytes | bytearray | memoryview, qos: int) -> tuple[str, int, bytes]:
    """Topic, packet id and payload of an MQTT 5 PUBLISH body (after the fixed header)."""
    view = memoryview(packet)
    length = (view[0] << 8) | view[1]
    topic = bytes(view[2 : 2 + length]).decode("utf-8")  # ValueError if not UTF-8
    at = 2 + length
    mid = 0
    if qos:
        mid = (view[at] << 8) | view[at + 1]
        at += 2
    properties, shift = 0, 0
    while True:  # variable byte integer: the properties' length
        byte = view[at]
        at += 1
        properties |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 21:
            raise ValueError("malformed property length")
    return topic, mid, bytes(view[at + properties :])


class Broker:
    """`on_receipt` is called with each receipt of the alerts service for alert
    events, `on_connected` after every (re)connection; both on paho's thread, which
    carries every message: they must not raise."""

    def __init__(
        self,
        settings: IngestSettings,
        on_receipt: Callable[[AlertReceipt], None] = lambda receipt: None,
        on_connected: Callable[[], None] = lambda: None,
    ) -> None:
        self.inbox: queue.SimpleQueue[Inbound | Wakeup] = queue.SimpleQueue()
        self._on_receipt = on_receipt
        self._on_connected_hook = on_connected
        self._qos0_room = threading.BoundedSemaphore(settings.qos0_backlog)
        self._dropped = 0
        self._marks: dict[str, int] = {}
        self._marks_lock = threading.Lock()
        self._settings = settings
        self._connected = threading.Event()
        client = mqtt_io.client(settings, settings.mqtt_client_id, manual_ack=True, kind=_Client)
        client.max_queued_messages_set(0)
        mqtt_io.on_connected(client, settings, self._on_connect)
        mqtt_io.on_disconnected(client, self._connected.clear)
        client.on_message = self._on_message
        client.on_raw = self._on_raw
        self._client = client

    def start(self) -> None:
        mqtt_io.connect(
            self._client,
            self._settings,
            session_expiry_s=self._settings.session_expiry_s,
            receive_maximum=self._settings.receive_maximum,
        )
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def ack(self, message: Inbound) -> None:
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def ack_all(self, messages: Iterable[Inbound]) -> None:
        """Acknowledge `messages` at once (one write to the broker)."""
        self._client.ack_all(m.mid for m in messages if m.qos == 1)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish at QoS 1; paho keeps it and retries across reconnects."""
        return self._client.publish(topic, payload, qos=1, retain=retain)

    def _on_connect(self, session_present: bool) -> None:
        self._client.subscribe(
            [
                (topics.TELEMETRY_FILTER, SubscribeOptions(qos=1, retainHandling=2)),
                # Retained statuses once per session: changes while we were away
                # wait in the session; a retained one is not refused again and again.
                (topics.STATUS_FILTER, SubscribeOptions(qos=1, retainHandling=1)),
                # Others' marks, and ours retained from before a restart (noLocal keeps
                # back only what this connection publishes: each mark of each batch).
                (topics.DURABLE_FILTER, SubscribeOptions(qos=1, noLocal=True)),
                (topics.ALERT_RECEIPTS, SubscribeOptions(qos=1)),
                # Every retained version at each subscription: a known one is skipped.
                (topics.FLEET_FILTER, SubscribeOptions(qos=1, retainHandling=0)),
            ]
        )
        self._connected.set()
        self._on_connected_hook()

    def durable_mark(self, site: str, gateway: str) -> int:
        """The highest durable mark the broker holds for a gateway (0 if none)."""
        with self._marks_lock:
            return self._marks.get(topics.durable(site, gateway), 0)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._on_raw(msg.topic, bytes(msg.payload), msg.mid, msg.qos)

    def _on_raw(self, topic: str, payload: bytes, mid: int, qos: int) -> None:
        if topics.is_durable(topic):
            self._remember_mark(topic, payload)
            self._client.ack(mid, qos)
            return
        if topic == topics.ALERT_RECEIPTS:
            self._take_receipt(payload)
            self._client.ack(mid, qos)
            return
        if qos == 0 and not self._qos0_room.acquire(blocking=False):
            self._drop(topic)
            return
        self.inbox.put(Inbound(topic, payload, mid, qos, datetime.now(UTC), time.monotonic()))

    def _drop(self, topic: str) -> None:
        metrics.MESSAGES_DROPPED.inc()
        self._dropped += 1
        if self._dropped == 1 or self._dropped % DROPS_PER_LOG == 0:
            log.warning(
                "%d QoS 0 messages dropped so far (the latest on %s): more than %d waited; "
                "the contract asks for QoS 1",
                self._dropped,
                topic,
                self._settings.qos0_backlog,
            )

    def taken(self, message: Inbound) -> None:
        """The pipeline took `message` out of the inbox: room for another QoS 0 one."""
        if message.qos == 0:
            self._qos0_room.release()

    def _take_receipt(self, payload: bytes) -> None:
        try:
            receipt = AlertReceipt.model_validate_json(payload)
        except ValidationError as exc:
            log.error("ignoring a malformed alert receipt: %s", exc)
            return
        self._on_receipt(receipt)

    def _remember_mark(self, topic: str, payload: bytes) -> None:
        # Marks we published before a restart come back retained; remembering them
        # keeps a re-sent older message from lowering a gateway's mark.
        try:
            seq = DurableMark.model_validate_json(payload).seq
        except ValidationError:
            log.error("ignoring malformed durable mark on %s", topic)
            return
        with self._marks_lock:
            self._marks[topic] = max(seq, self._marks.get(topic, 0))
