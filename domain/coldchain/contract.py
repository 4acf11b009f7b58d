"""MQTT wire contract, version 1.

The models here are the single definition of what travels between gateways,
ingest and the alerts service. `docs/contract/` holds the JSON Schema generated
from them (`make schemas`); a test keeps the two in step.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from operator import attrgetter
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError, core_schema

from coldchain.errors import AheadOfClock, InvalidMessage

CONTRACT_VERSION = 1
MAX_READINGS_PER_MESSAGE = 500
MAX_PAYLOAD_BYTES = 256 * 1024
#: Most event ids one AlertReceipt carries.
MAX_RECEIPT_IDS = 1000
#: Readings may lag arbitrarily (dead zones), but not lead the receiver's clock by more.
MAX_CLOCK_LEAD = timedelta(minutes=5)
#: Nothing a gateway recorded can predate this; older stamps mean an unset clock.
EARLIEST_TIMESTAMP = datetime(2020, 1, 1, tzinfo=UTC)
#: No time in a message may reach this: far beyond any record we keep, and well inside
#: what InfluxDB can store (nanoseconds since 1970 in 64 bits end in 2262).
LATEST_TIMESTAMP = datetime(2100, 1, 1, tzinfo=UTC)

#: The pattern of an `Id`, for those who check one without this module's types.
ID_PATTERN = r"^[a-z0-9-]{1,64}$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""Site, gateway and asset ids: lower-case letters, digits and '-', 1..64 characters."""

EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
"""The id ingest gives one alert event message."""

SensorId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]{1,64}(\.[a-z0-9-]{1,64})?$")]
"""Sensor ids: an id, optionally qualified by its gateway, as in 'van-3.chilled'."""


#: RFC 3339 with an offset, written so that `re` and pydantic-core's regex engine read it alike.
_RFC3339 = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_RFC3339_RE = re.compile(_RFC3339)
_RFC3339_EXPECTED = "expected an RFC 3339 time with offset, as in 2026-11-24T10:00:00Z"


def _utc(text: str) -> datetime:
    """A string `_RFC3339` admitted, in UTC (digits past the microsecond dropped).

    A leap second (second 60, which RFC 3339 allows) is read as the last microsecond
    of the second before it: Python, InfluxDB and most clocks have no 60th second.
    """
    leap = text[17:19] == "60"
    moment = datetime.fromisoformat(f"{text[:17]}59{text[19:]}" if leap else text)
    if leap:
        moment = moment.replace(microsecond=999_999)
    try:
        return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    except OverflowError:  # year 1 ahead of UTC
        raise ValueError(_RFC3339_EXPECTED) from None


def _plausible(moment: datetime) -> datetime:
    """Refuse times no cold chain can have recorded; they also break InfluxDB's range."""
    if moment < EARLIEST_TIMESTAMP:
        raise PydanticCustomError(
            "implausible_time",
            "{time} is before {earliest}: the sender's clock is probably unset",
            {"time": moment.isoformat(), "earliest": EARLIEST_TIMESTAMP.date().isoformat()},
        )
    if moment >= LATEST_TIMESTAMP:
        raise PydanticCustomError(
            "implausible_time",
            "{time} is not before {latest}: not a plausible time",
            {"time": moment.isoformat(), "latest": LATEST_TIMESTAMP.date().isoformat()},
        )
    return moment


def _plausible_utc(text: str) -> datetime:
    """`_plausible` of `_utc`: one call from pydantic-core for each time of a message.

    The usual time (UTC, in range) takes no other Python call: a gateway's message holds
    up to 500 of them. Anything else takes the careful way, which decides alike."""
    try:
        moment = _FROM_ISO(text)
    except ValueError:  # a leap second, or what `_utc` refuses
        pass
    else:
        if moment.tzinfo is UTC and EARLIEST_TIMESTAMP <= moment < LATEST_TIMESTAMP:
            return moment
    try:
        moment = _utc(text)
    except ValueError:  # a day the month has not, year 1 ahead of UTC
        raise PydanticCustomError("rfc3339_time", _RFC3339_EXPECTED) from None
    return _plausible(moment)


_FROM_ISO = datetime.fromisoformat


def _rfc3339(value: object) -> object:
    """Accept datetimes, and strings only in RFC 3339 form with an offset; never numbers."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _RFC3339_RE.fullmatch(value):
        return _utc(value)
    raise ValueError(_RFC3339_EXPECTED)


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


_PYTHON_TIME = Annotated[
    AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_as_utc), AfterValidator(_plausible)
]


class _UtcTimestamp:
    """Validation of `UtcDatetime`: from JSON, the pattern is checked in pydantic-core and
    one Python call parses the string and checks its range (a gateway's message holds up
    to 500 of them); from Python, a datetime or such a string."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: object, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from_json = core_schema.no_info_after_validator_function(
            _plausible_utc,
            core_schema.custom_error_schema(
                core_schema.str_schema(pattern=_RFC3339),
                custom_error_type="rfc3339_time",
                custom_error_message=_RFC3339_EXPECTED,
            ),
        )
        return core_schema.json_or_python_schema(
            json_schema=from_json,
            python_schema=handler.generate_schema(_PYTHON_TIME),
            serialization=core_schema.simple_ser_schema("datetime"),
        )


UtcDatetime = Annotated[
    datetime, _UtcTimestamp, WithJsonSchema({"type": "string", "format": "date-time"})
]
"""A timestamp that must carry a UTC offset, from EARLIEST_TIMESTAMP up to (not
including) LATEST_TIMESTAMP; stored and compared in UTC."""


def _integer_one(value: object) -> object:
    """`v` is written as the integer 1, as `seq` is an integer: not true, not 1.0."""
    if isinstance(value, bool | float):
        raise PydanticCustomError(
            "version_type", "expected the integer 1, not {value}", {"value": json.dumps(value)}
        )
    return value


Version = Annotated[Literal[1], BeforeValidator(_integer_one)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class EventKind(StrEnum):
    DOOR_OPEN = "door_open"
    DOOR_CLOSED = "door_closed"
    DEFROST_START = "defrost_start"
    DEFROST_END = "defrost_end"
    POWER_LOST = "power_lost"
    POWER_RESTORED = "power_restored"
    CLOCK_JUMP = "clock_jump"
    """The gateway's wall clock jumped against its monotonic clock; sensor `{gateway}.clock`."""
    OUTBOX_THINNED = "outbox_thinned"
    """The gateway's outbox reached its budget and thinned old readings; `{gateway}.outbox`."""


# A dataclass with slots, not a model like the rest: a gateway's message holds up to 500,
# and pydantic-core makes one of these in about two thirds of a model's time (no
# `__dict__`, no set of fields set). Its JSON in and out is `READING`'s.
@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid", allow_inf_nan=False))
class Reading:
    """One temperature sample in °C, stamped with the sensor's own time (UTC)."""

    sensor: SensorId
    ts: UtcDatetime
    temp_c: float = Field(ge=-100.0, le=150.0)


#: Reading's JSON in and out.
READING = TypeAdapter(Reading)


class Event(_Message):
    """Something that happened at a sensor: a door, a defrost cycle, power."""

    sensor: SensorId
    ts: UtcDatetime
    kind: EventKind


class Position(_Message):
    """WGS 84 position of a mobile gateway, in degrees."""

    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)
    ts: UtcDatetime


class Telemetry(_Message):
    """Payload of `coldchain/v1/{site}/{gateway}/telemetry` (QoS 1).

    `seq` rises by one per message per gateway and is never reused, so the
    ingest service can confirm what it stored with a single number.
    """

    v: Version
    gateway: Id
    seq: int = Field(ge=1, le=2**53)
    sent_at: UtcDatetime
    readings: list[Reading] = Field(max_length=MAX_READINGS_PER_MESSAGE)
    events: list[Event] = Field(default_factory=list, max_length=MAX_READINGS_PER_MESSAGE)
    position: Position | None = None
    battery_v: float | None = Field(default=None, ge=0.0, le=60.0)

    @model_validator(mode="after")
    def _has_content(self) -> Telemetry:
        if not (self.readings or self.events or self.position or self.battery_v is not None):
            raise ValueError("message carries no readings, events, position or battery_v")
        return self

    def timestamps(self) -> list[datetime]:
        """Every time the message carries: sent_at and each reading, event and position."""
        stamps = [self.sent_at, *map(_TIME, self.readings), *map(_TIME, self.events)]
        return stamps + ([self.position.ts] if self.position else [])


_TIME = attrgetter("ts")


class DurableMark(_Message):
    """Payload of `coldchain/v1/{site}/{gateway}/durable` (retained, from ingest).

    Every message of that gateway with `seq` up to and including this one is
    durably stored; the gateway may forget them.
    """

    v: Literal[1] = 1
    seq: int = Field(ge=0)
    stored_at: UtcDatetime


class InvalidNotice(_Message):
    """Payload of `coldchain/v1/_invalid/{site}/{gateway}`: a rejected message and why."""

    v: Literal[1] = 1
    topic: str
    reason: str
    received_at: UtcDatetime
    payload: str = Field(description="The rejected payload as text, cut to 64 KiB.")
    payload_bytes: int = Field(ge=0, description="Size of the rejected payload.")


class AlertState(StrEnum):
    RAISED = "raised"
    UPDATED = "updated"
    """Still present: `value_c` is the latest reading (at `at`), with `peak_c` and
    `degree_minutes` so far; sent with every reading of a temperature excursion."""
    CLEARED = "cleared"


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class AlertEvent(_Message):
    """Payload of `coldchain/v1/_alerts/{site}` (QoS 1, from ingest).

    `key` names one occurrence of one condition (rule, subject, start time), so a
    redelivered or re-evaluated event updates the same alert instead of adding one.
    `id` names this one message: ingest keeps the event until the alerts service
    returns the id in an `AlertReceipt`, and publishes it again until then.
    The subject is a sensor (with its asset), an asset (door) or a gateway. All
    times are reading times (UTC), not arrival times; temperatures in °C.
    """

    v: Literal[1] = 1
    id: EventId | None = Field(
        default=None, description="Set by ingest; returned in an AlertReceipt once stored."
    )
    key: str = Field(pattern=r"^[\x21-\x7e]{1,300}$")
    state: AlertState
    rule: str = Field(pattern=r"^[a-z_]{1,64}$")
    severity: Severity
    site: Id
    asset: Id | None = None
    sensor: SensorId | None = None
    gateway: Id | None = None
    started_at: UtcDatetime = Field(description="Reading time the condition began.")
    at: UtcDatetime = Field(description="Reading time at which this state was reached.")
    ended_at: UtcDatetime | None = Field(default=None, description="Set when cleared.")
    value_c: float | None = Field(default=None, description="The reading that changed the state.")
    peak_c: float | None = Field(default=None, description="Worst value so far.")
    limit_c: float | None = Field(default=None, description="The alarm level passed.")
    regulatory_limit_c: float | None = Field(default=None, description="The legal maximum.")
    delay_s: float = Field(default=0.0, ge=0)
    duration_s: float | None = Field(default=None, ge=0, description="Set when cleared.")
    degree_minutes: float | None = Field(
        default=None, ge=0, description="Integral beyond the limit, K·min."
    )


class AlertReceipt(_Message):
    """Payload of `coldchain/v1/_alert_receipts` (QoS 1, from the alerts service).

    The alert events with these ids are stored (or kept as refused, with their
    reason): ingest may forget them. A receipt that is lost only makes ingest
    publish the events again, which changes nothing (`key`). The alerts service
    also sends one with `resend` each time it has subscribed: what the broker
    lost while it was away (a crash, a lost session) is then published again
    at once instead of at ingest's next try.
    """

    v: Literal[1] = 1
    ids: list[EventId] = Field(default_factory=list, max_length=MAX_RECEIPT_IDS)
    resend: bool = Field(
        default=False, description="Publish every event not confirmed yet again, now."
    )


#: Longest reason a fleet version carries (characters).
MAX_REASON_CHARS = 2000


class RetiredGateway(_Message):
    """A gateway retired through the alerts service: its account was disabled at
    `retired_at`; what it measured up to then is still taken (from its exported outbox)."""

    site: Id
    gateway: Id
    retired_at: UtcDatetime


class RetiredGateways(_Message):
    """Payload of `coldchain/v1/_fleet/retired` (QoS 1, retained, from the alerts service).

    Every gateway retired so far, published whole after each retirement: the retained
    message is the list. Ingest refuses what such a gateway took after its `retired_at`
    (its buffered readings before it arrive from `coldchain-ingest import-outbox`).
    """

    v: Literal[1] = 1
    gateways: list[RetiredGateway]


class ExportedMessage(_Message):
    """One line of the file `coldchain-gateway outbox export` writes (JSON Lines): a
    telemetry message the gateway had not got confirmed, as it publishes it."""

    v: Literal[1] = 1
    topic: str = Field(description="Its telemetry topic, coldchain/v1/{site}/{gateway}/telemetry.")
    payload: str = Field(description="The message's JSON text, as published (a Telemetry).")


class FleetVersion(_Message):
    """Payload of `coldchain/v1/_fleet/{version}` (QoS 1, retained, from the alerts service).

    One version of the fleet as the registry holds it (docs/fleet.md): `fleet` is
    the fleet file's content as JSON, in the schema of `coldchain.fleet.Fleet`,
    which the receiver validates. It holds for readings stamped at or after
    `valid_from` until the next version's `valid_from`. Versions are never changed:
    a change is a new version with the next number, so a repeated or retained
    message changes nothing.
    """

    v: Literal[1] = 1
    version: int = Field(ge=1, le=2**31 - 1, description="1, 2, 3, ... in order of validity.")
    valid_from: UtcDatetime = Field(description="From this reading time on the version holds.")
    created_by: str = Field(min_length=1, max_length=64, description="Who made the change.")
    approved_by: str | None = Field(
        default=None,
        max_length=64,
        description="Who approved it, for a change that loosened a critical limit.",
    )
    reason: str | None = Field(default=None, max_length=MAX_REASON_CHARS)
    fleet: dict[str, Any] = Field(
        description="The fleet: sites, assets, gateways, sensors (coldchain.fleet.Fleet)."
    )


def parse_telemetry(site: str, gateway: str, payload: bytes, now: datetime) -> Telemetry:
    """Validate a telemetry payload received on the topic of `site`/`gateway`.

    Parsing is strict: JSON types must match the schema (no "7" for 7, no true
    for 1.0) and the payload must be UTF-8. `now` is the receiver's clock (UTC);
    times more than MAX_CLOCK_LEAD ahead of it, and times outside EARLIEST_TIMESTAMP
    to LATEST_TIMESTAMP, are rejected. Raises InvalidMessage with a reason a
    gateway's maintainer can act on (AheadOfClock for a time ahead of `now`).
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidMessage(
            f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD_BYTES} "
            "(split readings over several messages)"
        )
    try:
        message = Telemetry.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        raise InvalidMessage(_describe(exc)) from None
    if message.gateway != gateway:
        raise InvalidMessage(
            f"payload gateway {message.gateway!r} does not match topic gateway {gateway!r}"
        )
    _check_site(site)
    _check_clock(message, now)
    return message


def _check_site(site: str) -> None:
    if _ID.fullmatch(site) is None:
        raise InvalidMessage(f"topic site {site!r} is not a valid id")


#: `Id` for one string: `re` reads ID_PATTERN as pydantic-core does, in a third of the time.
_ID = re.compile(ID_PATTERN)


def _check_clock(message: Telemetry, now: datetime) -> None:
    limit = now + MAX_CLOCK_LEAD
    if (
        message.sent_at <= limit
        and all(map(limit.__ge__, map(_TIME, message.readings)))
        and not message.events
        and message.position is None
    ):
        return  # the usual message, checked without a list of its times
    newest = max(message.timestamps())
    if newest > limit:
        raise AheadOfClock(
            f"timestamp {newest.isoformat()} is ahead of the receiver's clock "
            f"{now.isoformat()}; check the gateway's clock, and ingest's",
            message.seq,
        )


def _describe(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    if errors[0]["type"] == "json_invalid":
        detail = str(errors[0]["ctx"]["error"]) if "ctx" in errors[0] else errors[0]["msg"]
        return f"payload is not valid JSON (UTF-8, no NaN or Infinity): {detail}"
    problems = []
    for error in errors[:5]:
        where = ".".join(_printable(str(part)) for part in error["loc"]) or "message"
        problems.append(f"{where}: {_EXTRA.get(error['type'], error['msg'])}")
    more = exc.error_count() - len(problems)
    suffix = f" (and {more} more)" if more > 0 else ""
    return "; ".join(problems) + suffix


#: A field a dataclass (`Reading`) does not have, said as a model says it.
_EXTRA = {"unexpected_keyword_argument": "Extra inputs are not permitted"}


def _printable(name: str, longest: int = 64) -> str:
    """A field name from the payload, safe to put in a reason and a log line."""
    shown = name.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= longest else shown[:longest] + "…"
