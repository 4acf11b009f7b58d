"""DS18B20 probes on the Linux 1-Wire bus, read through sysfs (the kernel's w1_therm driver).

The kernel lists each probe as a directory `28-<serial>` under /sys/bus/w1/devices.
Reading its `w1_slave` file makes the probe convert (up to 750 ms at 12 bits) and
returns the scratchpad, the driver's CRC verdict and the temperature in millidegrees:

    72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
    72 01 4b 46 7f ff 0e 10 57 t=23125

Newer kernels also offer `temperature`, the millidegrees alone. `w1_slave` is read
first because only it carries the CRC verdict; `temperature` is the fallback.

A value that cannot be trusted is dropped, never replaced: the probe then sends
nothing for that sample, and ingest's `no_data` rule reports a probe that stays
silent. Every drop is counted in `faults` by probe and reason, and logged when a
probe's state changes.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from coldchain.contract import Reading, SensorId
from coldchain_gateway.sources import Sample

log = logging.getLogger(__name__)

#: Where the kernel lists 1-Wire devices.
DEFAULT_ROOT = Path("/sys/bus/w1/devices")
#: The scratchpad's value after power-on, before any conversion: 85 °C.
POWER_ON_RESET_MILLI_C = 85_000
#: What 1-Wire libraries report for a probe that did not answer: -127 °C.
DISCONNECTED_MILLI_C = -127_000
#: The DS18B20's measuring range; anything outside is a corrupted value.
MIN_MILLI_C, MAX_MILLI_C = -55_000, 125_000

_PROBE_ID = re.compile(r"28-[0-9a-f]{12}")
_W1_SLAVE = re.compile(
    r"(?P<scratchpad>(?:[0-9a-f]{2} ){9}): crc=[0-9a-f]{2} (?P<verdict>YES|NO)\n"
    r"(?:[0-9a-f]{2} ){9}t=(?P<milli>-?\d{1,7})\n?",
    re.ASCII | re.IGNORECASE,
)
_TEMPERATURE = re.compile(r"\s*(-?\d{1,7})\s*", re.ASCII)
_SENSOR_ID: TypeAdapter[str] = TypeAdapter(SensorId)


class ProbeFault(StrEnum):
    """Why a probe gave no reading in a sample."""

    MISSING = "missing"
    """No directory for the probe: unplugged, a broken wire, or the bus is down."""
    UNREADABLE = "unreadable"
    """Neither w1_slave nor temperature could be read."""
    NO_RESPONSE = "no_response"
    """The driver returned nothing, twice: the conversion failed."""
    CRC = "crc"
    """The scratchpad failed its CRC check, twice: interference or a long, weak bus."""
    MALFORMED = "malformed"
    """The file does not look like what the driver writes."""
    POWER_ON_RESET = "power_on_reset"
    """85 °C: the probe restarted (a power glitch) and has not converted yet."""
    DISCONNECTED = "disconnected"
    """-127 °C, or an all-zero scratchpad: the data line is open or shorted."""
    OUT_OF_RANGE = "out_of_range"
    """Outside the DS18B20's -55..125 °C."""


#: Faults worth one more read in the same sample: the bus hiccuped.
_RETRIED = frozenset({ProbeFault.CRC, ProbeFault.NO_RESPONSE})


@dataclass(frozen=True)
class _Failure:
    fault: ProbeFault
    detail: str


_Parser = Callable[[str], int | _Failure]


class OneWireSource:
    """Reads the DS18B20 probes in `probes` (probe id -> sensor id) under `root`.

    Readings are in °C at the probe's own resolution (1/16 K at 12 bits), as the
    kernel reports it in millidegrees; they carry the `ts` given to `sample`.
    """

    def __init__(self, probes: Mapping[str, str], root: Path = DEFAULT_ROOT) -> None:
        if not probes:
            raise ValueError("no probes to read: map at least one probe id (28-...) to a sensor id")
        for probe, sensor in probes.items():
            _check_mapping(probe, sensor, root)
        self._probes = dict(probes)
        self._root = root
        self._state: dict[str, ProbeFault | None] = {}
        self.faults: dict[str, Counter[ProbeFault]] = {probe: Counter() for probe in probes}
        """Readings dropped so far, by probe id and reason."""

    def sample(self, ts: datetime) -> Sample:
        readings = []
        for probe, sensor in self._probes.items():
            result = self._read(self._root / probe)
            if isinstance(result, _Failure):
                self.faults[probe][result.fault] += 1
                self._note(probe, sensor, result)
                continue
            self._note(probe, sensor, None)
            # The kernel reports whole millidegrees: /1000 is exact to 0.001 °C.
            readings.append(Reading(sensor=sensor, ts=ts, temp_c=result / 1000))
        return Sample(readings)

    def _read(self, directory: Path) -> int | _Failure:
        result = _read_once(directory)
        if isinstance(result, _Failure) and result.fault in _RETRIED:
            result = _read_once(directory)
        return result

    def _note(self, probe: str, sensor: str, failure: _Failure | None) -> None:
        """Log a probe's state when it changes, not on every sample."""
        fault = failure.fault if failure else None
        if self._state.get(probe) == fault:
            return
        self._state[probe] = fault
        if failure is None:
            log.info("probe %s (%s) reads again", probe, sensor)
            return
        detail = failure.detail
        if failure.fault is ProbeFault.MISSING:
            detail += self._unmapped_hint()
        log.warning(
            "probe %s (%s): %s [%s]; no readings until it recovers",
            probe,
            sensor,
            detail,
            failure.fault,
        )

    def _unmapped_hint(self) -> str:
        try:
            present = sorted(p.name for p in self._root.glob("28-*"))
        except OSError:
            return ""
        unmapped = [name for name in present if name not in self._probes]
        if not unmapped:
            return ""
        return f" (present but not mapped: {', '.join(unmapped)}; was the probe replaced?)"


def _check_mapping(probe: str, sensor: str, root: Path) -> None:
    if not _PROBE_ID.fullmatch(probe):
        raise ValueError(
            f"probe id {probe!r} is not a DS18B20 id such as '28-0316a2794eff' "
            f"(lower case, as listed by `ls {root}`)"
        )
    try:
        _SENSOR_ID.validate_python(sensor)
    except ValidationError:
        raise ValueError(
            f"sensor id {sensor!r} for probe {probe} is not valid: use a-z, 0-9 and '-', "
            "optionally qualified by the gateway, as in 'van-1.chilled'"
        ) from None


def _read_once(directory: Path) -> int | _Failure:
    """The probe's temperature in millidegrees Celsius, or why there is none."""
    absent = _absent(directory)
    if absent is not None:
        return absent
    w1_slave = _read_file(directory / "w1_slave")
    if w1_slave is not None:
        return _checked(w1_slave, _parse_w1_slave)
    temperature = _read_file(directory / "temperature")
    if temperature is not None:
        return _checked(temperature, _parse_temperature)
    # Unplugged while we looked, or a directory without the files.
    return _absent(directory) or _Failure(
        ProbeFault.UNREADABLE, f"{directory} has neither w1_slave nor temperature"
    )


def _absent(directory: Path) -> _Failure | None:
    try:
        present = directory.is_dir()
    except OSError as exc:
        return _Failure(ProbeFault.UNREADABLE, f"cannot look at {directory}: {exc}")
    return None if present else _Failure(ProbeFault.MISSING, f"{directory} does not exist")


def _read_file(path: Path) -> bytes | _Failure | None:
    """The file's bytes; None if it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return _Failure(ProbeFault.UNREADABLE, f"cannot read {path}: {exc.strerror or exc}")


def _checked(content: bytes | _Failure, parse: _Parser) -> int | _Failure:
    if isinstance(content, _Failure):
        return content
    if not content.strip():
        return _Failure(ProbeFault.NO_RESPONSE, "the driver returned nothing")
    result = parse(content.decode("ascii", errors="replace"))
    if isinstance(result, _Failure):
        return result
    return _plausible(result)


def _parse_w1_slave(text: str) -> int | _Failure:
    match = _W1_SLAVE.fullmatch(text)
    if match is None:
        return _Failure(ProbeFault.MALFORMED, f"unexpected w1_slave content {text[:120]!r}")
    if match["verdict"].upper() != "YES":
        return _Failure(ProbeFault.CRC, "CRC check failed")
    if set(match["scratchpad"].split()) == {"00"}:
        return _Failure(ProbeFault.DISCONNECTED, "the scratchpad reads all zeros")
    return int(match["milli"])


def _parse_temperature(text: str) -> int | _Failure:
    match = _TEMPERATURE.fullmatch(text)
    if match is None:
        return _Failure(ProbeFault.MALFORMED, f"unexpected temperature content {text[:120]!r}")
    return int(match[1])


def _plausible(milli_c: int) -> int | _Failure:
    if milli_c == POWER_ON_RESET_MILLI_C:
        return _Failure(ProbeFault.POWER_ON_RESET, "85 °C, the power-on value")
    if milli_c == DISCONNECTED_MILLI_C:
        return _Failure(ProbeFault.DISCONNECTED, "-127 °C, the value of a lost probe")
    if not MIN_MILLI_C <= milli_c <= MAX_MILLI_C:
        return _Failure(ProbeFault.OUT_OF_RANGE, f"{milli_c / 1000} °C is beyond -55..125 °C")
    return milli_c
