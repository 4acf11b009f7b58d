"""RuuviTag wireless sensors: decode data format 5 (RAWv2), sample the tags heard lately.

A RuuviTag broadcasts its measurements in Bluetooth LE advertisements, as
manufacturer data under Ruuvi's company id 0x0499. Data format 5 is the 24 bytes
after the company id, all fields big-endian; a field at its "not available" value
(the largest unsigned, the smallest signed value, a MAC of all ones) decodes to None.
https://docs.ruuvi.com/communication/bluetooth-advertisements/data-format-5-rawv2

Scanning is not done here: `RuuviSource` takes what a scanner (bleak, say) heard
from a callable, so this module needs no Bluetooth stack and is tested without one.
"""

from __future__ import annotations

import logging
import queue
import re
import struct
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import TypeAdapter, ValidationError

from coldchain.contract import Reading, SensorId
from coldchain_gateway.errors import GatewayError
from coldchain_gateway.sources import Sample

log = logging.getLogger(__name__)

#: Ruuvi Innovations' Bluetooth SIG company id (sent little-endian: 99 04).
COMPANY_ID = 0x0499
DATA_FORMAT = 5
LENGTH = 24

# format, temperature, humidity, pressure, acceleration x/y/z, power info, movement, sequence
_FIELDS = struct.Struct(">BhHHhhhHBH")
_MAC = re.compile(r"([0-9A-F]{2}:){5}[0-9A-F]{2}")
_SENSOR_ID: TypeAdapter[str] = TypeAdapter(SensorId)


class RuuviDecodeError(GatewayError, ValueError):
    """The bytes are not RuuviTag data format 5; the message says what was wrong."""


@dataclass(frozen=True)
class RawV2:
    """One format 5 advertisement; None where the tag reports "not available"."""

    temperature_c: float | None
    """-163.835..163.835 °C in 0.005 °C steps."""
    humidity_pct: float | None
    """Relative humidity, 0..163.835 % in 0.0025 % steps."""
    pressure_pa: int | None
    """50000..115534 Pa."""
    acceleration_x_g: float | None
    acceleration_y_g: float | None
    acceleration_z_g: float | None
    """-32.767..32.767 g in 0.001 g steps."""
    battery_v: float | None
    """1.600..3.646 V in 1 mV steps."""
    tx_power_dbm: int | None
    """-40..+20 dBm in 2 dBm steps."""
    movement_counter: int | None
    """0..254, counts motion interrupts and wraps."""
    sequence: int | None
    """0..65534, rises by one per measurement: the same number is the same measurement."""
    mac: str | None
    """The tag's MAC as AA:BB:CC:DD:EE:FF."""


def decode(data: bytes | bytearray | memoryview) -> RawV2:
    """Decode format 5 manufacturer data: the 24 bytes after the company id 0x0499.

    Raises RuuviDecodeError for anything else (a wrong length, another format).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise RuuviDecodeError(f"expected bytes, got {type(data).__name__}")
    raw = bytes(data)
    if len(raw) == LENGTH + 2 and raw[:2] == COMPANY_ID.to_bytes(2, "little"):
        raise RuuviDecodeError(
            "data starts with the company id 0x0499; pass only the bytes after it"
        )
    if len(raw) != LENGTH:
        raise RuuviDecodeError(f"data format 5 is {LENGTH} bytes long, got {len(raw)}")
    if raw[0] != DATA_FORMAT:
        raise RuuviDecodeError(f"data format {raw[0]} is not supported; only 5 (RAWv2) is decoded")
    _, temp, humidity, pressure, acc_x, acc_y, acc_z, power, movement, sequence = (
        _FIELDS.unpack_from(raw)
    )
    battery_mv, tx_steps = power >> 5, power & 0x1F
    mac = raw[18:24]
    # Integers over powers of ten: the floats are the nearest to the decimal values.
    return RawV2(
        temperature_c=None if temp == -0x8000 else temp * 5 / 1000,
        humidity_pct=None if humidity == 0xFFFF else humidity * 25 / 10_000,
        pressure_pa=None if pressure == 0xFFFF else pressure + 50_000,
        acceleration_x_g=_acceleration(acc_x),
        acceleration_y_g=_acceleration(acc_y),
        acceleration_z_g=_acceleration(acc_z),
        battery_v=None if battery_mv == 0x7FF else (1600 + battery_mv) / 1000,
        tx_power_dbm=None if tx_steps == 0x1F else -40 + 2 * tx_steps,
        movement_counter=None if movement == 0xFF else movement,
        sequence=None if sequence == 0xFFFF else sequence,
        mac=None if mac == b"\xff" * 6 else ":".join(f"{byte:02X}" for byte in mac),
    )


def _acceleration(milli_g: int) -> float | None:
    return None if milli_g == -0x8000 else milli_g / 1000


Advertisements = Callable[[], list[tuple[str, bytes]]]
"""Returns the (MAC, manufacturer data after 0x0499) pairs heard since the last call."""


def drain(feed: queue.Queue[tuple[str, bytes]]) -> Advertisements:
    """Advertisements from a queue a scanner thread fills, oldest first."""

    def take() -> list[tuple[str, bytes]]:
        taken = []
        for _ in range(feed.qsize()):
            try:
                taken.append(feed.get_nowait())
            except queue.Empty:
                break
        return taken

    return take


class TagFault(StrEnum):
    """Why a tag gave no reading in a sample."""

    SILENT = "silent"
    """Nothing heard from the tag since the last sample: out of range, or a dead battery."""
    MALFORMED = "malformed"
    """An advertisement that is not format 5 (counted per advertisement)."""
    NO_TEMPERATURE = "no_temperature"
    """The tag reports its temperature as not available."""
    REPEATED = "repeated"
    """The same measurement (sequence number) as the last reading: the tag stopped measuring."""
    OUT_OF_RANGE = "out_of_range"
    """A temperature the wire contract does not accept."""


class RuuviSource:
    """Temperature readings from the RuuviTags in `tags` (MAC -> sensor id).

    Each sample uses the newest valid advertisement of each tag heard since the
    previous sample; readings carry the `ts` given to `sample`, in °C at the tag's
    0.005 °C resolution. `battery_v` is the lowest tag battery heard in the last
    sample, the one to replace first.
    """

    def __init__(self, advertisements: Advertisements, tags: Mapping[str, str]) -> None:
        if not tags:
            raise ValueError("no tags to read: map at least one MAC to a sensor id")
        self._tags = {_mapped_mac(mac): _mapped_sensor(mac, sensor) for mac, sensor in tags.items()}
        self._advertisements = advertisements
        self._state: dict[str, TagFault | None] = {}
        self._last_sequence: dict[str, int] = {}
        self._ignored: set[str] = set()
        self.faults: dict[str, Counter[TagFault]] = {mac: Counter() for mac in self._tags}
        """Readings dropped so far, by tag MAC and reason."""
        self.scanner_failures = 0
        """Calls of `advertisements` that raised or returned something other than pairs."""
        self.battery_v: float | None = None
        """The lowest battery voltage (V) among the tags heard in the last sample."""
        self.batteries: dict[str, float] = {}
        """The last battery voltage (V) heard, by sensor id."""

    def sample(self, ts: datetime) -> Sample:
        advertisements = self._heard()
        if advertisements is None:
            self.battery_v = None
            return Sample([])
        heard: set[str] = set()
        latest: dict[str, RawV2] = {}
        for mac, data in advertisements:
            key = _normal_mac(mac)
            if key not in self._tags:
                self._ignore(mac)
                continue
            heard.add(key)
            try:
                latest[key] = decode(data)
            except RuuviDecodeError as exc:
                self._drop(key, TagFault.MALFORMED, str(exc))
        readings = []
        for mac, sensor in self._tags.items():
            if mac not in heard:
                self._drop(mac, TagFault.SILENT, "nothing heard since the last sample")
            elif mac in latest:
                reading = self._reading(mac, sensor, latest[mac], ts)
                if reading is not None:
                    readings.append(reading)
        self._note_batteries(latest)
        return Sample(readings)

    def _heard(self) -> list[tuple[str, bytes]] | None:
        """What the scanner heard, or None if it failed (the tags are not to blame)."""
        try:
            heard = list(self._advertisements())
        # The scanner is foreign code; its failure must not stop the gateway's sampling.
        except Exception:
            self.scanner_failures += 1
            log.exception("the Bluetooth scanner failed; no RuuviTag readings in this sample")
            return None
        pairs = [item for item in heard if _is_pair(item)]
        if len(pairs) < len(heard):
            self.scanner_failures += 1
            log.error(
                "the Bluetooth scanner gave %s items that are not (MAC, bytes) pairs; ignored",
                len(heard) - len(pairs),
            )
        return pairs

    def _reading(self, mac: str, sensor: str, data: RawV2, ts: datetime) -> Reading | None:
        if data.temperature_c is None:
            self._drop(mac, TagFault.NO_TEMPERATURE, "the tag reports no temperature")
            return None
        if data.sequence is not None and data.sequence == self._last_sequence.get(mac):
            self._drop(mac, TagFault.REPEATED, f"measurement {data.sequence} again")
            return None
        try:
            reading = Reading(sensor=sensor, ts=ts, temp_c=data.temperature_c)
        except ValidationError:
            self._drop(mac, TagFault.OUT_OF_RANGE, f"{data.temperature_c} °C is implausible")
            return None
        if data.sequence is not None:
            self._last_sequence[mac] = data.sequence
        self._note(mac, None)
        return reading

    def _note_batteries(self, latest: Mapping[str, RawV2]) -> None:
        volts = {
            self._tags[mac]: d.battery_v for mac, d in latest.items() if d.battery_v is not None
        }
        self.batteries.update(volts)
        self.battery_v = min(volts.values(), default=None)

    def _drop(self, mac: str, fault: TagFault, detail: str) -> None:
        self.faults[mac][fault] += 1
        self._note(mac, fault, detail)

    def _note(self, mac: str, fault: TagFault | None, detail: str = "") -> None:
        """Log a tag's state when it changes, not on every sample."""
        if self._state.get(mac) == fault:
            return
        self._state[mac] = fault
        sensor = self._tags[mac]
        if fault is None:
            log.info("RuuviTag %s (%s) reads again", mac, sensor)
        else:
            log.warning("RuuviTag %s (%s): %s [%s]; no reading", mac, sensor, detail, fault)

    def _ignore(self, mac: str) -> None:
        if mac not in self._ignored:
            self._ignored.add(mac)
            log.info("ignoring RuuviTag %r: not in the tag mapping", mac)


def _is_pair(item: object) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)


def _normal_mac(mac: str) -> str:
    return mac.strip().upper().replace("-", ":")


def _mapped_mac(mac: str) -> str:
    key = _normal_mac(mac)
    if not _MAC.fullmatch(key):
        raise ValueError(f"{mac!r} is not a MAC address such as 'CB:B8:33:4C:88:4F'")
    return key


def _mapped_sensor(mac: str, sensor: str) -> str:
    try:
        return _SENSOR_ID.validate_python(sensor)
    except ValidationError:
        raise ValueError(
            f"sensor id {sensor!r} for tag {mac} is not valid: use a-z, 0-9 and '-', "
            "optionally qualified by the gateway, as in 'van-1.chilled'"
        ) from None
