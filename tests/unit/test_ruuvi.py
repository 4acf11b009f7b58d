"""RuuviTag data format 5: Ruuvi's published test vectors, malformed data, and RuuviSource."""

from __future__ import annotations

import logging
import queue
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldchain_gateway.ruuvi import (
    RawV2,
    RuuviDecodeError,
    RuuviSource,
    TagFault,
    decode,
    drain,
)

TS = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
MAC = "CB:B8:33:4C:88:4F"
MAC_B = "F1:E2:D3:C4:B5:A6"
TAGS = {MAC: "van-1.chilled", MAC_B: "van-1.frozen"}

# Ruuvi's test vectors for data format 5, with the values the documentation gives.
VALID = "0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"
MAXIMUM = "057FFFFFFEFFFE7FFF7FFF7FFFFFDEFEFFFECBB8334C884F"
MINIMUM = "058001000000008001800180010000000000CBB8334C884F"
INVALID = "058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF"
VECTORS = [
    pytest.param(
        VALID,
        RawV2(24.3, 53.49, 100044, 0.004, -0.004, 1.036, 2.977, 4, 66, 205, MAC),
        id="valid",
    ),
    pytest.param(
        MAXIMUM,
        RawV2(163.835, 163.835, 115534, 32.767, 32.767, 32.767, 3.646, 20, 254, 65534, MAC),
        id="maximum",
    ),
    pytest.param(
        MINIMUM,
        RawV2(-163.835, 0.0, 50000, -32.767, -32.767, -32.767, 1.6, -40, 0, 0, MAC),
        id="minimum",
    ),
    pytest.param(
        INVALID,
        RawV2(None, None, None, None, None, None, None, None, None, None, None),
        id="invalid",
    ),
]


def advert(
    temp_c: float | None = 4.0, *, seq: int = 1, battery_mv: int = 3000, mac: str = MAC
) -> bytes:
    """Format 5 data for a tag; the other fields hold ordinary values."""
    temp = -0x8000 if temp_c is None else round(temp_c * 200)
    power = ((battery_mv - 1600) << 5) | 22
    fields = struct.pack(">BhHHhhhHBH", 5, temp, 20000, 51325, 0, 0, 1000, power, 7, seq)
    return fields + bytes.fromhex(mac.replace(":", ""))


class Scanner:
    """Hands RuuviSource what a test says was heard, one batch per sample."""

    def __init__(self, *batches: list[tuple[str, bytes]]) -> None:
        self.batches = list(batches)

    def __call__(self) -> list[tuple[str, bytes]]:
        return self.batches.pop(0) if self.batches else []


# --- the decoder --------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), VECTORS)
def test_published_vectors(raw: str, expected: RawV2) -> None:
    assert decode(bytes.fromhex(raw)) == expected


def test_bytearray_and_memoryview_decode_alike() -> None:
    data = bytes.fromhex(VALID)
    assert decode(bytearray(data)) == decode(memoryview(data)) == decode(data)


def test_temperature_keeps_its_resolution() -> None:
    assert decode(advert(-18.005)).temperature_c == -18.005


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "24 bytes long, got 0", id="empty"),
        pytest.param(bytes.fromhex(VALID)[:-1], "24 bytes long, got 23", id="short"),
        pytest.param(bytes.fromhex(VALID) + b"\x00", "24 bytes long, got 25", id="long"),
        pytest.param(b"\x03" + bytes.fromhex(VALID)[1:], "data format 3", id="format-3"),
        pytest.param(b"\x06" + bytes.fromhex(VALID)[1:], "data format 6", id="format-6"),
        pytest.param(b"\x99\x04" + bytes.fromhex(VALID), "company id", id="company-id"),
        pytest.param(VALID, "expected bytes, got str", id="hex-string"),
    ],
)
def test_malformed_data_is_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(RuuviDecodeError, match=message):
        decode(data)


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(RuuviDecodeError, ValueError)


@given(st.binary(max_size=64))
@settings(max_examples=500)
def test_arbitrary_bytes_decode_or_raise_the_modules_error(data: bytes) -> None:
    try:
        decoded = decode(data)
    except RuuviDecodeError:
        return
    assert len(data) == 24
    assert data[0] == 5
    assert isinstance(decoded, RawV2)


@given(st.binary(min_size=23, max_size=23))
def test_every_format_5_payload_decodes_within_the_documented_ranges(tail: bytes) -> None:
    decoded = decode(b"\x05" + tail)
    if decoded.temperature_c is not None:
        assert -163.835 <= decoded.temperature_c <= 163.835
    if decoded.humidity_pct is not None:
        assert 0 <= decoded.humidity_pct <= 163.835
    if decoded.pressure_pa is not None:
        assert 50_000 <= decoded.pressure_pa <= 115_534
    if decoded.battery_v is not None:
        assert 1.6 <= decoded.battery_v <= 3.646
    if decoded.tx_power_dbm is not None:
        assert -40 <= decoded.tx_power_dbm <= 20
    for acceleration in (
        decoded.acceleration_x_g,
        decoded.acceleration_y_g,
        decoded.acceleration_z_g,
    ):
        assert acceleration is None or -32.767 <= acceleration <= 32.767


# --- RuuviSource --------------------------------------------------------------------


def test_readings_are_the_tags_temperatures_at_the_sample_time() -> None:
    source = RuuviSource(Scanner([(MAC, advert(4.25)), (MAC_B, advert(-18.5, mac=MAC_B))]), TAGS)
    sample = source.sample(TS)
    assert {(r.sensor, r.ts, r.temp_c) for r in sample.readings} == {
        ("van-1.chilled", TS, 4.25),
        ("van-1.frozen", TS, -18.5),
    }
    assert sample.events == []
    assert all(sum(counts.values()) == 0 for counts in source.faults.values())


def test_published_valid_vector_gives_its_temperature() -> None:
    source = RuuviSource(Scanner([(MAC, bytes.fromhex(VALID))]), {MAC: "van-1.chilled"})
    [reading] = source.sample(TS).readings
    assert (reading.sensor, reading.ts, reading.temp_c) == ("van-1.chilled", TS, 24.3)
    assert source.battery_v == 2.977


def test_macs_match_in_any_case_and_with_dashes() -> None:
    tags = {"cb-b8-33-4c-88-4f": "van-1.chilled"}
    source = RuuviSource(Scanner([("cb:b8:33:4c:88:4f ", advert(3.0))]), tags)
    assert [r.temp_c for r in source.sample(TS).readings] == [3.0]
    assert list(source.faults) == [MAC]


def test_the_newest_valid_advertisement_wins() -> None:
    heard = [(MAC, advert(4.0, seq=1)), (MAC, advert(4.5, seq=2)), (MAC, b"\x05\x00")]
    source = RuuviSource(Scanner(heard), {MAC: "van-1.chilled"})
    assert [r.temp_c for r in source.sample(TS).readings] == [4.5]
    assert source.faults[MAC] == {TagFault.MALFORMED: 1}


def test_tags_not_in_the_mapping_are_ignored_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stranger = "11:22:33:44:55:66"
    scanner = Scanner([(stranger, advert(20.0, mac=stranger))], [(stranger, advert(21.0))])
    source = RuuviSource(scanner, {MAC: "van-1.chilled"})
    with caplog.at_level(logging.INFO, logger="coldchain_gateway.ruuvi"):
        assert source.sample(TS).readings == []
        assert source.sample(TS + timedelta(minutes=1)).readings == []
    assert sum("not in the tag mapping" in m for m in caplog.messages) == 1
    assert stranger not in source.faults


def test_a_silent_tag_gives_no_reading_and_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    t1, t2, t3 = TS, TS + timedelta(minutes=1), TS + timedelta(minutes=2)
    scanner = Scanner([], [], [(MAC, advert(5.0))])
    source = RuuviSource(scanner, {MAC: "van-1.chilled"})
    with caplog.at_level(logging.INFO, logger="coldchain_gateway.ruuvi"):
        assert source.sample(t1).readings == []
        assert source.sample(t2).readings == []
        assert [r.ts for r in source.sample(t3).readings] == [t3]
    assert source.faults[MAC] == {TagFault.SILENT: 2}
    assert sum("nothing heard" in m for m in caplog.messages) == 1
    assert sum("reads again" in m for m in caplog.messages) == 1


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(advert()[:20], id="short"),
        pytest.param(b"\x03" + advert()[1:], id="format-3"),
        pytest.param(b"", id="empty"),
    ],
)
def test_malformed_advertisements_are_counted_not_raised(data: bytes) -> None:
    source = RuuviSource(Scanner([(MAC, data), (MAC, data)]), {MAC: "van-1.chilled"})
    assert source.sample(TS).readings == []
    assert source.faults[MAC] == {TagFault.MALFORMED: 2}


def test_a_tag_without_temperature_gives_no_reading() -> None:
    source = RuuviSource(Scanner([(MAC, advert(None))]), {MAC: "van-1.chilled"})
    assert source.sample(TS).readings == []
    assert source.faults[MAC] == {TagFault.NO_TEMPERATURE: 1}


def test_the_published_invalid_vector_gives_no_reading() -> None:
    source = RuuviSource(Scanner([(MAC, bytes.fromhex(INVALID))]), {MAC: "van-1.chilled"})
    assert source.sample(TS).readings == []
    assert source.faults[MAC] == {TagFault.NO_TEMPERATURE: 1}
    assert source.battery_v is None


def test_a_repeated_measurement_is_not_a_new_reading() -> None:
    scanner = Scanner(
        [(MAC, advert(5.0, seq=7))], [(MAC, advert(5.0, seq=7))], [(MAC, advert(5.5, seq=8))]
    )
    source = RuuviSource(scanner, {MAC: "van-1.chilled"})
    values = [
        [r.temp_c for r in source.sample(TS + timedelta(minutes=i)).readings] for i in range(3)
    ]
    assert values == [[5.0], [], [5.5]]
    assert source.faults[MAC] == {TagFault.REPEATED: 1}


def test_a_temperature_the_contract_refuses_is_dropped() -> None:
    source = RuuviSource(Scanner([(MAC, bytes.fromhex(MAXIMUM))]), {MAC: "van-1.chilled"})
    assert source.sample(TS).readings == []
    assert source.faults[MAC] == {TagFault.OUT_OF_RANGE: 1}


def test_battery_is_the_lowest_of_the_tags_heard() -> None:
    scanner = Scanner(
        [(MAC, advert(battery_mv=2950)), (MAC_B, advert(battery_mv=2480, mac=MAC_B))],
        [(MAC, advert(battery_mv=2940, seq=2))],
        [],
    )
    source = RuuviSource(scanner, TAGS)
    source.sample(TS)
    assert source.battery_v == 2.48
    assert source.batteries == {"van-1.chilled": 2.95, "van-1.frozen": 2.48}
    source.sample(TS + timedelta(minutes=1))
    assert source.battery_v == 2.94
    assert source.batteries == {"van-1.chilled": 2.94, "van-1.frozen": 2.48}
    source.sample(TS + timedelta(minutes=2))
    assert source.battery_v is None


def test_a_failing_scanner_is_counted_and_sampling_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    def scanner() -> list[tuple[str, bytes]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("org.bluez.Error.NotReady")
        return [(MAC, advert(6.0))]

    source = RuuviSource(scanner, {MAC: "van-1.chilled"})
    assert source.sample(TS).readings == []
    assert source.scanner_failures == 1
    assert source.faults[MAC] == {}
    assert "scanner failed" in caplog.text
    assert [r.temp_c for r in source.sample(TS + timedelta(minutes=1)).readings] == [6.0]


def test_items_that_are_not_pairs_are_ignored() -> None:
    def scanner() -> list[Any]:
        return [("only-a-mac",), b"raw", None, (MAC, advert(2.0))]

    source = RuuviSource(scanner, {MAC: "van-1.chilled"})
    assert [r.temp_c for r in source.sample(TS).readings] == [2.0]
    assert source.scanner_failures == 1


def test_drain_takes_what_a_scanner_thread_queued() -> None:
    feed: queue.Queue[tuple[str, bytes]] = queue.Queue()
    take = drain(feed)
    assert take() == []
    feed.put((MAC, advert(1.0, seq=1)))
    feed.put((MAC, advert(1.5, seq=2)))
    source = RuuviSource(take, {MAC: "van-1.chilled"})
    assert [r.temp_c for r in source.sample(TS).readings] == [1.5]
    assert feed.empty()


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        pytest.param({}, "no tags", id="empty"),
        pytest.param({"CB:B8:33:4C:88": "van-1.chilled"}, "not a MAC", id="short-mac"),
        pytest.param({MAC: "Van 1"}, "sensor id 'Van 1'", id="sensor-id"),
    ],
)
def test_a_wrong_mapping_is_refused_at_start(tags: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RuuviSource(Scanner(), tags)


_MACS = st.sampled_from([MAC, MAC.lower(), MAC_B, "11:22:33:44:55:66"]) | st.text(max_size=20)
_DATA = st.binary(max_size=30) | st.builds(
    lambda tail: b"\x05" + tail, st.binary(min_size=23, max_size=23)
)


@given(st.lists(st.lists(st.tuples(_MACS, _DATA), max_size=6), min_size=1, max_size=4))
@settings(max_examples=300)
def test_sample_never_raises(batches: list[list[tuple[str, bytes]]]) -> None:
    source = RuuviSource(Scanner(*batches), TAGS)
    for i in range(len(batches)):
        ts = TS + timedelta(minutes=i)
        sample = source.sample(ts)
        assert len(sample.readings) <= len(TAGS)
        assert all(r.ts == ts and r.sensor in TAGS.values() for r in sample.readings)
