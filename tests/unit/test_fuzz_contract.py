"""parse_telemetry fuzzed: whatever arrives, only InvalidMessage comes out, or a valid message.

The main property takes a valid payload written as a gateway would (RFC 3339
strings with offsets, ints and floats), damages it one to three times, in its
structure (a value replaced, removed, added, of another type, an edge value) or
in its bytes (cut, flipped, doubled), and feeds it to the parser: 10 000 cases.
Further properties add plain bytes and plain JSON. Runs are derandomized so CI
sees the same cases every time; tests/unit/test_contract.py holds the cases
written by hand.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from random import Random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coldchain.contract import (
    EARLIEST_TIMESTAMP,
    MAX_CLOCK_LEAD,
    MAX_PAYLOAD_BYTES,
    EventKind,
    Telemetry,
    parse_telemetry,
)
from coldchain.errors import InvalidMessage

SITE = "dortmund-hub"
NOW = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
#: Longest reason we call clear: up to five problems, each with its place.
LONGEST_REASON = 2000

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- valid payloads, as JSON documents --------------------------------------------------
# Built from one drawn seed rather than field by field: a hypothesis draw costs about
# 0.2 ms, and 10 000 documents of some 60 draws each would take minutes.

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-"
LATEST = NOW + MAX_CLOCK_LEAD


def _id(rnd: Random) -> str:
    return "".join(rnd.choices(ID_ALPHABET, k=rnd.choice([1, 2, 9, 30, 64])))


def _sensor(rnd: Random) -> str:
    return _id(rnd) if rnd.random() < 0.5 else f"{_id(rnd)}.{_id(rnd)}"


def _stamp(rnd: Random) -> str:
    """An RFC 3339 time within the contract's bounds, its ends included, in some offset."""
    moment = rnd.choice(
        [
            EARLIEST_TIMESTAMP,
            LATEST,
            EARLIEST_TIMESTAMP + (LATEST - EARLIEST_TIMESTAMP) * rnd.random(),
        ]
    )
    offset = timezone(timedelta(minutes=rnd.randint(-14 * 60, 14 * 60)))
    text = moment.astimezone(rnd.choice([UTC, offset])).isoformat()
    return text.replace("+00:00", "Z") if rnd.random() < 0.5 else text


def _number(rnd: Random, low: float, high: float) -> float | int:
    return rnd.choice([low, high, rnd.uniform(low, high), rnd.randint(math.ceil(low), int(high))])


def valid_document(rnd: Random) -> dict[str, Any]:
    """A payload a correct gateway could send: every field, optional ones now and then."""
    document: dict[str, Any] = {
        "v": 1,
        "gateway": _id(rnd),
        "seq": rnd.choice([1, 2**53, rnd.randint(1, 2**53)]),
        "sent_at": _stamp(rnd),
        "readings": [
            {"sensor": _sensor(rnd), "ts": _stamp(rnd), "temp_c": _number(rnd, -100, 150)}
            for _ in range(rnd.randint(0, 4))
        ],
    }
    if rnd.random() < 0.5:
        kinds = [kind.value for kind in EventKind]
        document["events"] = [
            {"sensor": _sensor(rnd), "ts": _stamp(rnd), "kind": rnd.choice(kinds)}
            for _ in range(rnd.randint(0, 2))
        ]
    if rnd.random() < 0.3:
        document["position"] = rnd.choice(
            [
                None,
                {"lat": _number(rnd, -90, 90), "lon": _number(rnd, -180, 180), "ts": _stamp(rnd)},
            ]
        )
    if rnd.random() < 0.3 or not (document["readings"] or document.get("events")):
        document["battery_v"] = _number(rnd, 0, 60)
    return document


documents = st.integers(0, 2**64 - 1).map(lambda seed: valid_document(Random(seed)))


# --- damage --------------------------------------------------------------------------------

ODD_TEXT = [
    "",
    "\x00",
    "cold\x00room",
    "cold-room-1\u200f",  # right-to-left mark
    "\u202ecold-room-1",  # right-to-left override
    "cold\u200broom",  # zero-width space
    "🧊",
    "Kühlraum",
    "\ud800",  # a lone surrogate
    "\ufeff",
    "a" * 65,
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "2025-06-01T06:00:00",
    "2025-06-01T06:00:00.1234567891Z",
    "2025-06-01T06:00:00+24:00",
    "2025-02-30T06:00:00Z",
    "1748757600",
    "' OR 1=1 --",
    "NaN",
]
EDGE_VALUES: list[Any] = [
    *ODD_TEXT,
    None,
    True,
    False,
    0,
    -1,
    2**53 + 1,
    2**64,
    10**400,
    -(10**400),
    1e308,
    -1e308,
    5e-324,
    -0.0,
    float("nan"),
    float("inf"),
    -float("inf"),
    [],
    {},
    [[[[[[[[[[]]]]]]]]]],
]
ODD_CHARACTERS = '\x00\x7f\n"\\/\u200b\u200f\u202e\ufeff\ud800\udfff🧊é'


def random_text(rnd: Random) -> str:
    alphabet = rnd.choice([ID_ALPHABET, ODD_CHARACTERS, ID_ALPHABET + ODD_CHARACTERS])
    text = "".join(rnd.choices(alphabet, k=rnd.choice([0, 1, 5, 20, 65, 300])))
    return text if rnd.random() < 0.9 else text + chr(rnd.randint(0, 0x10FFFF))


def random_json(rnd: Random, depth: int = 0) -> Any:
    """Any JSON value (NaN and Infinity too), shallow enough to stay cheap."""
    kind = rnd.choice(["edge", "int", "float", "text", "list", "dict"] if depth < 3 else ["edge"])
    if kind == "int":
        return rnd.choice([rnd.randint(-(2**70), 2**70), rnd.randint(-5, 5)])
    if kind == "float":
        return rnd.choice([rnd.uniform(-1e6, 1e6), rnd.uniform(-200, 200), rnd.random()])
    if kind == "text":
        return random_text(rnd)
    if kind == "list":
        return [random_json(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]
    if kind == "dict":
        return {random_text(rnd): random_json(rnd, depth + 1) for _ in range(rnd.randint(0, 3))}
    return copy.deepcopy(rnd.choice(EDGE_VALUES))


Path = tuple[str | int, ...]


def places(node: Any, path: Path = ()) -> list[Path]:
    """The path of every value in a JSON document, the document itself first."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += places(value, (*path, index))
    return found


def retyped(value: Any) -> list[Any]:
    """The same value in other JSON types, as a careless gateway might send it."""
    if isinstance(value, bool):
        return [int(value), str(value).lower(), [value]]
    if isinstance(value, int | float):
        return [str(value), bool(value), [value], {"value": value}, -value]
    if isinstance(value, str):
        return [value.upper(), value + " ", " " + value, [value], {"value": value}, len(value)]
    return [json.dumps(value), None]


def damage_document(rnd: Random, document: Any) -> Any:
    """One change somewhere in the document: a value replaced, retyped, removed or added."""
    path = rnd.choice(places(document))
    parent: Any = None
    node = document
    for step in path:
        parent, node = node, node[step]
    action = rnd.choice(["replace", "edge", "retype", "remove", "add"])
    if action == "add" and isinstance(node, dict):
        node[rnd.choice(["v", "seq", "x", "readings", "Gateway", random_text(rnd)])] = random_json(
            rnd
        )
        return document
    if action == "add" and isinstance(node, list):
        node.append(random_json(rnd))
        return document
    if action == "remove" and parent is not None:
        del parent[path[-1]]
        return document
    if action == "retype":
        value = copy.deepcopy(rnd.choice(retyped(node)))
    elif action == "edge":
        value = copy.deepcopy(rnd.choice(EDGE_VALUES))
    else:
        value = random_json(rnd)
    if parent is None:
        return value
    parent[path[-1]] = value
    return document


def damage_bytes(rnd: Random, payload: bytes) -> bytes:
    """One change to the encoded payload: cut, a bit flipped, bytes inserted, removed, doubled."""
    where = rnd.randint(0, len(payload))
    action = rnd.choice(["cut", "flip", "insert", "delete", "double"])
    if action == "cut":
        return payload[:where]
    if action == "insert":
        return payload[:where] + rnd.randbytes(rnd.randint(1, 4)) + payload[where:]
    if action == "double":
        return payload[:where] + payload[where // 2 : where] + payload[where:]
    if where == len(payload):
        return payload
    if action == "delete":
        return payload[:where] + payload[where + 1 :]
    flipped = payload[where] ^ (1 << rnd.randint(0, 7))
    return payload[:where] + bytes([flipped]) + payload[where + 1 :]


def encode(document: Any, ascii_only: bool) -> bytes:
    """JSON as Python writes it, NaN and Infinity included, lone surrogates passed through."""
    return json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


seeds = st.integers(0, 2**64 - 1)


def hostile(document: dict[str, Any], damages: int, seed: int) -> tuple[str, str, bytes]:
    """(site, gateway, payload): `document` damaged `damages` times, maybe in its bytes too."""
    rnd = Random(seed)
    gateway = document["gateway"]
    damaged: Any = document
    for _ in range(damages):
        damaged = damage_document(rnd, damaged)
    payload = encode(damaged, rnd.random() < 0.5)
    if rnd.random() < 0.25:
        payload = damage_bytes(rnd, payload)
    site = SITE if rnd.random() < 0.9 else random_text(rnd)
    return site, gateway, payload


# Three draws per case: each costs hypothesis' engine more than the parsing does, and a
# failure still shrinks to the fewest damages and the simplest seeds.
hostile_payloads = st.builds(hostile, documents, st.integers(1, 3), seeds)


# --- what must hold -------------------------------------------------------------------------


def check(site: str, gateway: str, payload: bytes) -> Telemetry | None:
    """Parse; a rejection must be InvalidMessage with a clear reason (anything else fails)."""
    try:
        message = parse_telemetry(site, gateway, payload, NOW)
    except InvalidMessage as exc:
        assert exc.reason.strip(), "empty reason"
        return None
    assert_within_contract(message, gateway)
    again = parse_telemetry(site, gateway, message.model_dump_json().encode(), NOW)
    assert again == message
    return message


def assert_within_contract(message: Telemetry, gateway: str) -> None:
    assert message.gateway == gateway
    assert 1 <= message.seq <= 2**53
    for ts in message.timestamps():
        assert ts.tzinfo is UTC
        assert EARLIEST_TIMESTAMP <= ts <= NOW + MAX_CLOCK_LEAD
    for reading in message.readings:
        assert math.isfinite(reading.temp_c)
        assert -100 <= reading.temp_c <= 150


@settings(FUZZ, max_examples=10_000)
@given(hostile_payloads)
def test_damaged_payloads_raise_only_invalid_message(case: tuple[str, str, bytes]) -> None:
    check(*case)


@settings(FUZZ, max_examples=1_000)
@given(documents, st.booleans())
def test_valid_payloads_are_accepted_as_written(document: dict[str, Any], ascii_only: bool) -> None:
    message = check(SITE, document["gateway"], encode(document, ascii_only))
    assert message is not None
    assert message.seq == document["seq"]
    assert message.sent_at == datetime.fromisoformat(document["sent_at"])
    assert [(r.sensor, r.ts, r.temp_c) for r in message.readings] == [
        (r["sensor"], datetime.fromisoformat(r["ts"]), r["temp_c"]) for r in document["readings"]
    ]
    assert [e.kind.value for e in message.events] == [e["kind"] for e in document.get("events", [])]
    assert message.battery_v == document.get("battery_v")


@settings(FUZZ, max_examples=1_000)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_raise_only_invalid_message(payload: bytes) -> None:
    check(SITE, "van-3", payload)


@settings(FUZZ, max_examples=1_000)
@given(seeds, st.booleans())
def test_arbitrary_json_raises_only_invalid_message(seed: int, ascii_only: bool) -> None:
    check(SITE, "van-3", encode(random_json(Random(seed)), ascii_only))


@settings(FUZZ, max_examples=50)
@given(documents, st.integers(0, 64))
def test_payloads_over_the_limit_are_rejected_for_their_size(
    document: dict[str, Any], extra: int
) -> None:
    payload = encode(document, True).ljust(MAX_PAYLOAD_BYTES + 1 + extra, b" ")
    assert check(SITE, document["gateway"], payload) is None


def test_reason_does_not_repeat_hostile_field_names() -> None:
    document = valid_document(Random(1))
    document["x\nINFO coldchain_ingest: forged" + "x" * 100_000] = 1
    with pytest.raises(InvalidMessage) as caught:
        parse_telemetry(SITE, document["gateway"], encode(document, True), NOW)
    assert "\n" not in caught.value.reason
    assert len(caught.value.reason) <= LONGEST_REASON
