"""Wire contract v1: what parse_telemetry accepts and rejects, the models, the topics."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from coldchain import topics
from coldchain.contract import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    MAX_CLOCK_LEAD,
    MAX_PAYLOAD_BYTES,
    MAX_READINGS_PER_MESSAGE,
    READING,
    AlertEvent,
    AlertReceipt,
    DurableMark,
    Event,
    EventKind,
    FleetVersion,
    InvalidNotice,
    Position,
    Reading,
    Telemetry,
    parse_telemetry,
)
from coldchain.errors import InvalidMessage

ROOT = Path(__file__).resolve().parents[2]
SITE = "dortmund-hub"
GATEWAY = "van-3"
NOW = datetime(2025, 6, 1, 6, 1, tzinfo=UTC)
TS = "2025-06-01T06:00:00Z"

Payload = dict[str, Any]


def readme_example() -> Payload:
    """The one ```json block of docs/contract/README.md."""
    text = (ROOT / "docs" / "contract" / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    document: Payload = json.loads(block)
    return document


def valid() -> Payload:
    return {
        "v": 1,
        "gateway": GATEWAY,
        "seq": 7,
        "sent_at": TS,
        "readings": [{"sensor": "van-3.chilled", "ts": TS, "temp_c": 4.5}],
    }


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def changed(change: Callable[[Payload], object]) -> bytes:
    """A valid payload with one change applied (`change` edits the dict in place)."""
    document = valid()
    change(document)
    return encode(document)


def reading(**fields: Any) -> Callable[[Payload], object]:
    return lambda d: d["readings"][0].update(fields)


def top(**fields: Any) -> Callable[[Payload], object]:
    return lambda d: d.update(fields)


def parse(payload: bytes, site: str = SITE, gateway: str = GATEWAY) -> Telemetry:
    return parse_telemetry(site, gateway, payload, NOW)


# --- accepted ---------------------------------------------------------------------------


def test_readme_example_is_accepted_and_normalised_to_utc() -> None:
    message = parse(encode(readme_example()))
    assert message.sent_at == datetime(2025, 6, 1, 6, 0, 5, tzinfo=UTC)
    assert message.readings[0].ts == datetime(2025, 6, 1, 5, 59, 55, tzinfo=UTC)
    assert message.events[0].kind is EventKind.DOOR_OPEN
    assert message.position is not None
    for ts in [message.sent_at, *message.timestamps()]:
        assert ts.tzinfo is UTC
    assert '"sent_at":"2025-06-01T06:00:05Z"' in message.model_dump_json()


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(encode(valid()), id="minimal"),
        pytest.param(changed(top(readings=[], battery_v=12.1)), id="battery-only"),
        pytest.param(
            changed(top(readings=[], position={"lat": 51.5, "lon": 7.4, "ts": TS})),
            id="position-only",
        ),
        pytest.param(
            changed(top(readings=[], events=[{"sensor": "van-3", "ts": TS, "kind": "door_open"}])),
            id="event-only",
        ),
        pytest.param(changed(top(seq=2**53)), id="seq-max"),
        pytest.param(changed(reading(temp_c=-100)), id="temp-min"),
        pytest.param(changed(reading(temp_c=150)), id="temp-max"),
        pytest.param(changed(reading(ts="2020-01-01T00:00:00Z")), id="earliest-ts"),
        pytest.param(changed(reading(ts="2020-01-01T01:00:00+01:00")), id="earliest-ts-offset"),
        pytest.param(
            changed(reading(ts=(NOW + MAX_CLOCK_LEAD).isoformat())), id="lead-exactly-5min"
        ),
        pytest.param(changed(reading(ts="2024-01-01T00:00:00Z")), id="lagging-ts"),
        pytest.param(
            changed(top(readings=[{"sensor": "s", "ts": TS, "temp_c": 1.0}] * 500)),
            id="500-readings",
        ),
        pytest.param(changed(top(gateway="a" * 64)), id="id-64-chars"),
        pytest.param(changed(reading(sensor="a" * 64 + "." + "b" * 64)), id="sensor-qualified"),
        pytest.param(encode(valid()).ljust(MAX_PAYLOAD_BYTES, b" "), id="exactly-256KiB"),
    ],
)
def test_accepted(payload: bytes) -> None:
    gateway = json.loads(payload)["gateway"]
    assert parse(payload, gateway=gateway).gateway == gateway


# --- rejected ---------------------------------------------------------------------------

NESTED = b"[" * 100_000 + b"]" * 100_000
TOO_MANY = [{"sensor": "s", "ts": TS, "temp_c": 1.0}] * (MAX_READINGS_PER_MESSAGE + 1)

REJECTED = [
    # (payload, site, gateway, part of the reason)
    pytest.param(b'{"v": 1, "gateway": ', SITE, GATEWAY, "not valid JSON", id="broken-json"),
    pytest.param(b"", SITE, GATEWAY, "not valid JSON", id="empty-payload"),
    pytest.param(encode(valid()).replace(b"4.5", b"NaN"), SITE, GATEWAY, "finite number", id="nan"),
    pytest.param(
        encode(valid()).replace(b"4.5", b"Infinity"), SITE, GATEWAY, "finite number", id="inf"
    ),
    pytest.param(
        encode(valid()).replace(b"4.5", b"-Infinity"), SITE, GATEWAY, "finite number", id="-inf"
    ),
    pytest.param(encode(valid()).replace(b"4.5", b"1e400"), SITE, GATEWAY, "finite", id="overflow"),
    pytest.param(b"[]", SITE, GATEWAY, "should be an object", id="array-not-object"),
    pytest.param(b'"hello"', SITE, GATEWAY, "should be an object", id="string-not-object"),
    pytest.param(changed(top(seq="seven")), SITE, GATEWAY, "seq: Input should be", id="seq-text"),
    pytest.param(changed(top(seq=1.5)), SITE, GATEWAY, "seq: Input should be", id="seq-fraction"),
    pytest.param(changed(top(gateway=3)), SITE, GATEWAY, "gateway: Input should be", id="gw-num"),
    pytest.param(changed(top(readings={})), SITE, GATEWAY, "readings: Input", id="readings-obj"),
    pytest.param(
        changed(top(sent_at=[])), SITE, GATEWAY, "sent_at: expected an RFC 3339", id="sent_at-list"
    ),
    pytest.param(changed(reading(temp_c="warm")), SITE, GATEWAY, "readings.0.temp_c", id="temp"),
    pytest.param(changed(reading(temp_c=None)), SITE, GATEWAY, "readings.0.temp_c", id="temp-null"),
    pytest.param(
        changed(reading(temp_c=150.5)), SITE, GATEWAY, "less than or equal to 150", id="hot"
    ),
    pytest.param(changed(reading(temp_c=-101)), SITE, GATEWAY, "greater than or equal", id="cold"),
    pytest.param(
        changed(top(events=[{"sensor": "s", "ts": TS, "kind": "door_ajar"}])),
        SITE,
        GATEWAY,
        "events.0.kind",
        id="event-kind",
    ),
    pytest.param(
        changed(top(position={"lat": 91, "lon": 0, "ts": TS})),
        SITE,
        GATEWAY,
        "position.lat",
        id="latitude",
    ),
    pytest.param(changed(top(battery_v=-1)), SITE, GATEWAY, "battery_v", id="battery"),
    pytest.param(changed(top(colour="blue")), SITE, GATEWAY, "colour: Extra inputs", id="extra"),
    pytest.param(
        changed(reading(humidity=40)),
        SITE,
        GATEWAY,
        "readings.0.humidity: Extra",
        id="extra-nested",
    ),
    pytest.param(changed(lambda d: d.pop("v")), SITE, GATEWAY, "v: Field required", id="no-v"),
    pytest.param(changed(top(v=2)), SITE, GATEWAY, "v: Input should be 1", id="v2"),
    pytest.param(changed(top(v="1")), SITE, GATEWAY, "v: Input should be 1", id="v-text"),
    pytest.param(
        changed(lambda d: d.pop("readings")), SITE, GATEWAY, "readings: Field required", id="no-rd"
    ),
    pytest.param(
        changed(top(gateway="Van-3")), SITE, "Van-3", "gateway: String should", id="upper"
    ),
    pytest.param(changed(top(gateway="v" * 65)), SITE, "v" * 65, "gateway: String", id="too-long"),
    pytest.param(changed(top(gateway="")), SITE, "", "gateway: String should", id="empty-id"),
    pytest.param(changed(top(gateway="van+3")), SITE, "van+3", "gateway: String", id="plus"),
    pytest.param(changed(top(gateway="van#3")), SITE, "van#3", "gateway: String", id="hash"),
    pytest.param(changed(top(gateway="van/3")), SITE, "van/3", "gateway: String", id="slash"),
    pytest.param(changed(top(gateway="van_3")), SITE, "van_3", "gateway: String", id="underscore"),
    pytest.param(
        changed(reading(sensor="Van-3.chilled")), SITE, GATEWAY, "readings.0.sensor", id="sensor-up"
    ),
    pytest.param(
        changed(reading(sensor="van-3.chilled.x")), SITE, GATEWAY, "readings.0.sensor", id="2-dots"
    ),
    pytest.param(
        encode(valid()), SITE, "van-2", "does not match topic gateway 'van-2'", id="gw-mismatch"
    ),
    pytest.param(encode(valid()), "Dortmund", GATEWAY, "topic site 'Dortmund'", id="site-upper"),
    pytest.param(encode(valid()), "_", GATEWAY, "topic site '_' is not a valid id", id="site-_"),
    pytest.param(
        changed(top(readings=TOO_MANY)), SITE, GATEWAY, "at most 500 items", id="501-readings"
    ),
    pytest.param(
        encode(valid()).ljust(MAX_PAYLOAD_BYTES + 1, b" "),
        SITE,
        GATEWAY,
        f"{MAX_PAYLOAD_BYTES + 1} bytes; the limit is {MAX_PAYLOAD_BYTES}",
        id="over-256KiB",
    ),
    pytest.param(
        changed(reading(ts="2025-06-01T06:00:00")),
        SITE,
        GATEWAY,
        "RFC 3339 time with offset",
        id="no-offset",
    ),
    pytest.param(changed(reading(ts="yesterday")), SITE, GATEWAY, "readings.0.ts", id="ts-text"),
    pytest.param(
        changed(reading(ts="0001-01-01T10:00:00+14:00")),
        SITE,
        GATEWAY,
        "readings.0.ts: expected an RFC 3339",
        id="before-year-1-in-utc",
    ),
    pytest.param(
        changed(reading(ts="1970-01-01T00:00:00Z")), SITE, GATEWAY, "before 2020-01-01", id="1970"
    ),
    pytest.param(
        changed(reading(ts=(NOW + MAX_CLOCK_LEAD + timedelta(seconds=1)).isoformat())),
        SITE,
        GATEWAY,
        "ahead of the receiver's clock",
        id="lead-over-5min",
    ),
    pytest.param(
        changed(top(position={"lat": 0, "lon": 0, "ts": "2030-01-01T00:00:00Z"})),
        SITE,
        GATEWAY,
        "ahead of the receiver's clock",
        id="position-ahead",
    ),
    pytest.param(
        changed(top(sent_at="2030-01-01T00:00:00Z")),
        SITE,
        GATEWAY,
        "ahead of the receiver's clock",
        id="sent_at-ahead",
    ),
    pytest.param(
        changed(
            top(
                events=[{"sensor": "van-3.door", "ts": "2030-01-01T00:00:00Z", "kind": "door_open"}]
            )
        ),
        SITE,
        GATEWAY,
        "ahead of the receiver's clock",
        id="event-ahead",
    ),
    pytest.param(
        changed(
            top(
                readings=[
                    {"sensor": "van-3.chilled", "ts": TS, "temp_c": 4.5},
                    {"sensor": "van-3.frozen", "ts": "2030-01-01T00:00:00Z", "temp_c": -20.0},
                ]
            )
        ),
        SITE,
        GATEWAY,
        "ahead of the receiver's clock",
        id="second-reading-ahead",
    ),
    pytest.param(
        changed(top(readings=[])),
        SITE,
        GATEWAY,
        "no readings, events, position or battery_v",
        id="empty-message",
    ),
    pytest.param(changed(top(seq=0)), SITE, GATEWAY, "seq: Input should be greater", id="seq-0"),
    pytest.param(changed(top(seq=2**53 + 1)), SITE, GATEWAY, "seq: Input should be less", id="big"),
    pytest.param(NESTED, SITE, GATEWAY, "not valid JSON", id="deep-nesting"),
    pytest.param(b'{"v": 1, "gateway": "van\xff"}', SITE, GATEWAY, "not valid JSON", id="bad-utf8"),
    pytest.param(b"\xc3\x28", SITE, GATEWAY, "not valid JSON", id="bad-utf8-start"),
]


@pytest.mark.parametrize(("payload", "site", "gateway", "reason"), REJECTED)
def test_rejected(payload: bytes, site: str, gateway: str, reason: str) -> None:
    with pytest.raises(InvalidMessage) as caught:
        parse_telemetry(site, gateway, payload, NOW)
    assert reason in caught.value.reason
    assert str(caught.value) == caught.value.reason


def test_reason_lists_at_most_five_problems() -> None:
    document = {"readings": [{"temp_c": "x"}] * 3, "extra": 1}
    with pytest.raises(InvalidMessage, match=r"\(and \d+ more\)$"):
        parse(encode(document))


# The contract asks for JSON numbers and RFC 3339 strings with an offset; nothing is
# converted from another type.
COERCED = [
    pytest.param(changed(reading(temp_c=True)), id="bool-as-temperature"),
    pytest.param(changed(reading(ts=1748757600)), id="unix-seconds-as-timestamp"),
    pytest.param(changed(reading(ts="1748757600")), id="unix-seconds-text-as-timestamp"),
    pytest.param(changed(top(seq="7")), id="text-as-seq"),
    pytest.param(changed(top(seq=True)), id="bool-as-seq"),
    pytest.param(changed(top(v=True)), id="bool-as-version"),
    pytest.param(changed(top(v=1.0)), id="float-as-version"),
    pytest.param(changed(top(seq=7.0)), id="float-as-seq"),
]


@pytest.mark.parametrize("payload", COERCED)
def test_rejects_values_of_the_wrong_type(payload: bytes) -> None:
    with pytest.raises(InvalidMessage):
        parse(payload)


def test_rejects_payload_that_is_not_utf8() -> None:
    with pytest.raises(InvalidMessage):
        parse(json.dumps(valid()).encode("utf-16"))


# sent_at is the time of the `gateway` point (battery_v) in InfluxDB, so it is held
# to the same clock rules as the readings.
UNCHECKED_SENT_AT = [
    pytest.param(changed(top(sent_at="1970-01-01T00:00:00Z", battery_v=12.0)), id="1970"),
    pytest.param(changed(top(sent_at="2030-01-01T00:00:00Z", battery_v=12.0)), id="ahead"),
]


@pytest.mark.parametrize("payload", UNCHECKED_SENT_AT)
def test_sent_at_is_held_to_the_clock_rules(payload: bytes) -> None:
    with pytest.raises(InvalidMessage):
        parse(payload)


# --- properties ---------------------------------------------------------------------------

ids = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=64)
sensor_ids = st.builds(lambda a, b: f"{a}.{b}" if b else a, ids, st.none() | ids)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=9.5))])
timestamps = st.builds(
    lambda moment, zone: moment.replace(tzinfo=UTC).astimezone(zone),
    st.datetimes(
        EARLIEST_TIMESTAMP.replace(tzinfo=None), (NOW + MAX_CLOCK_LEAD).replace(tzinfo=None)
    ),
    offsets,
)
readings = st.builds(
    Reading, sensor=sensor_ids, ts=timestamps, temp_c=st.floats(-100, 150, allow_nan=False)
)
events = st.builds(Event, sensor=sensor_ids, ts=timestamps, kind=st.sampled_from(EventKind))
positions = st.builds(Position, lat=st.floats(-90, 90), lon=st.floats(-180, 180), ts=timestamps)
telemetry = (
    st.fixed_dictionaries(
        {
            "v": st.just(1),
            "gateway": ids,
            "seq": st.integers(1, 2**53),
            "sent_at": timestamps,
            "readings": st.lists(readings, max_size=6),
            "events": st.lists(events, max_size=3),
            "position": st.none() | positions,
            "battery_v": st.none() | st.floats(0, 60),
        }
    )
    .filter(
        lambda m: bool(m["readings"] or m["events"] or m["position"] or m["battery_v"] is not None)
    )
    .map(lambda fields: Telemetry(**fields))
)


@settings(max_examples=100, deadline=None)
@given(message=telemetry, exclude_none=st.booleans())
def test_valid_telemetry_round_trips(message: Telemetry, exclude_none: bool) -> None:
    payload = message.model_dump_json(exclude_none=exclude_none).encode()
    assert parse_telemetry(SITE, message.gateway, payload, NOW) == message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(sorted(valid())) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def parses_or_rejects(payload: bytes) -> None:
    with contextlib.suppress(InvalidMessage):
        parse_telemetry(SITE, GATEWAY, payload, NOW)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_invalid_message(payload: bytes) -> None:
    parses_or_rejects(payload)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_arbitrary_json_raises_only_invalid_message(value: Any) -> None:
    parses_or_rejects(json.dumps(value).encode())


PLACES = [
    *valid(),
    "events",
    "position",
    "battery_v",
    *(f"reading.{f}" for f in valid()["readings"][0]),
]


@settings(max_examples=150, deadline=None)
@given(where=st.sampled_from(PLACES), value=json_values)
def test_one_arbitrary_field_raises_only_invalid_message(where: str, value: Any) -> None:
    document = valid()
    if where.startswith("reading."):
        document["readings"][0][where.removeprefix("reading.")] = value
    else:
        document[where] = value
    parses_or_rejects(json.dumps(document).encode())


# --- models -------------------------------------------------------------------------------

MODEL_CASES = [
    # (model, fields, accepted)
    pytest.param(DurableMark, {"seq": 0, "stored_at": TS}, True, id="durable-zero"),
    pytest.param(DurableMark, {"seq": -1, "stored_at": TS}, False, id="durable-negative"),
    pytest.param(DurableMark, {"seq": 5, "stored_at": "2025-06-01T06:00:00"}, False, id="naive"),
    pytest.param(DurableMark, {"v": 2, "seq": 5, "stored_at": TS}, False, id="durable-v2"),
    pytest.param(DurableMark, {"seq": 5, "stored_at": TS, "x": 1}, False, id="durable-extra"),
    pytest.param(Reading, {"sensor": "s", "ts": TS, "temp_c": float("nan")}, False, id="nan"),
    pytest.param(Reading, {"sensor": "s", "ts": TS, "temp_c": float("inf")}, False, id="inf"),
    pytest.param(Position, {"lat": float("nan"), "lon": 0, "ts": TS}, False, id="lat-nan"),
    pytest.param(
        InvalidNotice,
        {"topic": "t", "reason": "r", "received_at": TS, "payload": "", "payload_bytes": 0},
        True,
        id="notice",
    ),
    pytest.param(
        InvalidNotice,
        {"topic": "t", "reason": "r", "received_at": TS, "payload": "", "payload_bytes": -1},
        False,
        id="notice-negative-size",
    ),
]


@pytest.mark.parametrize(("model", "fields", "accepted"), MODEL_CASES)
def test_model(model: type[Any], fields: Payload, accepted: bool) -> None:
    adapter = TypeAdapter(model)  # Reading is a dataclass, the rest models
    if accepted:
        instance = adapter.validate_python(fields)
        assert adapter.validate_json(adapter.dump_json(instance)) == instance
    else:
        with pytest.raises(ValidationError):
            adapter.validate_python(fields)


def test_models_are_frozen() -> None:
    mark = DurableMark(seq=3, stored_at=NOW)
    with pytest.raises(ValidationError):
        mark.seq = 4  # type: ignore[misc]
    reading = Reading(sensor="s", ts=NOW, temp_c=3.0)
    with pytest.raises(FrozenInstanceError):
        reading.temp_c = 4.0  # type: ignore[misc]


def _event(**times: str) -> str:
    fields = {
        "key": "clock_jump/van-1/x",
        "state": "raised",
        "rule": "clock_jump",
        "severity": "warning",
        "site": SITE,
        "started_at": TS,
        "at": TS,
    }
    return json.dumps(fields | times)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("started_at", "0001-01-01T00:00:00Z", "before 2020-01-01"),
        ("at", "1969-12-31T23:59:59Z", "before 2020-01-01"),
        ("started_at", "9999-12-31T23:59:59Z", "not before 2100-01-01"),
        ("ended_at", "2262-04-11T23:47:17Z", "not before 2100-01-01"),
    ],
)
def test_alert_event_times_outside_the_plausible_range_are_refused(
    field: str, value: str, reason: str
) -> None:
    """InfluxDB refused every batch of the alerts service's outbox behind an event with
    a start in year 1: such an event must not get past the contract."""
    with pytest.raises(ValidationError, match=reason):
        AlertEvent.model_validate_json(_event(**{field: value}))
    with pytest.raises(ValidationError, match=reason):
        AlertEvent.model_validate(json.loads(_event(**{field: value})))


def test_the_plausible_range_is_the_one_influxdb_can_store() -> None:
    assert datetime(2262, 4, 11, tzinfo=UTC) > LATEST_TIMESTAMP  # int64 nanoseconds
    assert datetime(1677, 9, 22, tzinfo=UTC) < EARLIEST_TIMESTAMP


@pytest.mark.parametrize("ts", ["2025-05-31T23:59:60Z", "2025-06-01T01:59:60.5+02:00"])
def test_a_leap_second_is_read_as_the_last_microsecond_before_it(ts: str) -> None:
    message = parse(changed(reading(ts=ts)))
    assert message.readings[0].ts == datetime(2025, 5, 31, 23, 59, 59, 999_999, tzinfo=UTC)


def test_alert_receipts() -> None:
    assert AlertReceipt.model_validate_json('{"v": 1, "ids": ["a1", "b_2-c"]}').ids == [
        "a1",
        "b_2-c",
    ]
    assert AlertReceipt.model_validate_json('{"resend": true}').resend
    for bad in ('{"ids": ["a b"]}', '{"ids": ["' + "x" * 65 + '"]}', '{"ids": [1]}'):
        with pytest.raises(ValidationError):
            AlertReceipt.model_validate_json(bad)
    with pytest.raises(ValidationError):
        AlertReceipt(ids=["a"] * 1001)


def test_fleet_versions() -> None:
    good = '{"version": 3, "valid_from": "2026-06-01T10:00:00+02:00", "created_by": "olga", '
    good += '"fleet": {"sites": []}}'
    version = FleetVersion.model_validate_json(good)
    assert version.valid_from == datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    assert version.approved_by is None and version.reason is None
    for bad in (
        good.replace('"version": 3', '"version": 0'),
        good.replace("+02:00", ""),
        good.replace('"olga"', '""'),
        good.replace('{"sites": []}', "[]"),
        good.replace('"fleet"', '"flet"'),
    ):
        with pytest.raises(ValidationError):
            FleetVersion.model_validate_json(bad)


def test_alert_event_normalises_times_to_utc() -> None:
    berlin = timezone(timedelta(hours=2))
    event = AlertEvent(
        key="over_max/s/2025-06-01T06:00:00+00:00",
        state="raised",
        rule="over_max",
        severity="critical",
        site=SITE,
        asset="cold-room-1",
        sensor="cold-room-1.air",
        started_at=datetime(2025, 6, 1, 8, 0, tzinfo=berlin),
        at=datetime(2025, 6, 1, 8, 15, tzinfo=berlin),
        value_c=7.0,
        peak_c=7.5,
        limit_c=6.0,
        delay_s=900,
    )
    assert event.started_at == datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
    assert event.at.tzinfo is UTC
    assert AlertEvent.model_validate_json(event.model_dump_json()) == event


# --- topics -------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(site=ids, gateway=ids)
def test_telemetry_topic_round_trips(site: str, gateway: str) -> None:
    assert topics.parse_telemetry(topics.telemetry(site, gateway)) == (site, gateway)


@pytest.mark.parametrize(
    "topic",
    [
        topics.status(SITE, GATEWAY),
        topics.durable(SITE, GATEWAY),
        topics.alerts(SITE),
        topics.invalid(SITE, GATEWAY),
        f"coldchain/v2/{SITE}/{GATEWAY}/telemetry",
        f"coldchain/v1/{SITE}/telemetry",
        f"coldchain/v1/{SITE}/{GATEWAY}/x/telemetry",
        f"coldchain/v1/{SITE}/{GATEWAY}/telemetry/x",
        f"coldchain/v1//{GATEWAY}/telemetry",
        f"coldchain/v1/{SITE}/{GATEWAY}/Telemetry",
        f"/coldchain/v1/{SITE}/{GATEWAY}/telemetry",
        "",
    ],
)
def test_parse_telemetry_topic_rejects_other_topics(topic: str) -> None:
    assert topics.parse_telemetry(topic) is None


@pytest.mark.parametrize(
    ("site", "gateway", "topic"),
    [
        (SITE, GATEWAY, f"coldchain/v1/_invalid/{SITE}/{GATEWAY}"),
        ("Dortmund", GATEWAY, f"coldchain/v1/_invalid/_/{GATEWAY}"),
        (SITE, "van+3", f"coldchain/v1/_invalid/{SITE}/_"),
        (SITE, "van#3", f"coldchain/v1/_invalid/{SITE}/_"),
        ("a/b", "", "coldchain/v1/_invalid/_/_"),
        ("s" * 65, GATEWAY, f"coldchain/v1/_invalid/_/{GATEWAY}"),
        ("_", "_", "coldchain/v1/_invalid/_/_"),
    ],
)
def test_invalid_topic_uses_placeholders_for_invalid_ids(
    site: str, gateway: str, topic: str
) -> None:
    assert topics.invalid(site, gateway) == topic


def test_invalid_topic_placeholder_for_id_with_trailing_newline() -> None:
    assert topics.invalid("bad\n", GATEWAY) == f"coldchain/v1/_invalid/_/{GATEWAY}"


def test_parse_telemetry_topic_rejects_trailing_newline() -> None:
    assert topics.parse_telemetry(topics.telemetry(SITE, GATEWAY) + "\n") is None


def _two_digits(options: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(options) | st.text("0123456789", min_size=2, max_size=2)


@st.composite
def _rfc3339_like(draw: st.DrawFn) -> str:
    """Times in the contract's pattern, valid or not: days a month has not, hour 24,
    leap seconds, any number of fraction digits, any offset, before and after the range."""
    year = draw(st.sampled_from(["0001", "2019", "2020", "2026", "2099", "2100", "9999"]))
    month, day = draw(_two_digits(["01", "02", "12", "13"])), draw(_two_digits(["29", "31"]))
    hour, minute = draw(_two_digits(["00", "23", "24"])), draw(_two_digits(["00", "59"]))
    second = draw(_two_digits(["00", "59", "60"]))
    fraction = draw(st.sampled_from(["", "."]))
    if fraction:
        fraction += draw(st.text("0123456789", min_size=1, max_size=9))
    offset = draw(st.sampled_from(["Z", "+00:00", "-00:00", "+01:00", "-23:59"]))
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}{fraction}{offset}"


@settings(max_examples=2000)
@given(ts=_rfc3339_like())
def test_a_time_reads_the_same_from_json_as_from_python(ts: str) -> None:
    """From JSON a time takes a quick way for the usual UTC stamp; it must accept and
    refuse exactly what the Python path (`_rfc3339`, `_as_utc`, `_plausible`) does."""
    fields = {"sensor": "cold-room-1", "ts": ts, "temp_c": 4.0}
    outcomes = []
    for validate in (
        lambda: READING.validate_json(json.dumps(fields), strict=True),
        lambda: READING.validate_python(fields),
    ):
        try:
            outcomes.append(validate().ts)
        except ValidationError as exc:
            outcomes.append(exc.errors()[0]["type"] == "implausible_time")
    from_json, from_python = outcomes
    assert from_json == from_python
    if isinstance(from_json, datetime):
        assert from_json.tzinfo is UTC and from_python.tzinfo is UTC
