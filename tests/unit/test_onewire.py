"""DS18B20 probes over 1-Wire sysfs, against directory trees laid out like the kernel's."""

from __future__ import annotations

import errno
import logging
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coldchain_gateway.onewire import DEFAULT_ROOT, OneWireSource, ProbeFault

TS = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
A, B, C, D, E, F = (f"28-00000000000{i}" for i in range(1, 7))


def crc8(data: bytes) -> int:
    """Maxim/Dallas 1-Wire CRC-8, as the probe computes it over its scratchpad."""
    crc = 0
    for byte in data:
        for _ in range(8):
            mix = (crc ^ byte) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
            byte >>= 1
    return crc


def w1_slave(sixteenths: int, *, crc_ok: bool = True) -> str:
    """What the w1_therm driver writes for a DS18B20 reading `sixteenths` / 16 °C."""
    scratchpad = (sixteenths & 0xFFFF).to_bytes(2, "little") + bytes.fromhex("4b467fff0c10")
    crc = crc8(scratchpad)
    stored = scratchpad + bytes([crc if crc_ok else crc ^ 0x5A])
    row = " ".join(f"{byte:02x}" for byte in stored) + " "
    milli = int(sixteenths * 1000 / 16)  # the driver's C division truncates toward zero
    return f"{row}: crc={crc:02x} {'YES' if crc_ok else 'NO'}\n{row}t={milli}\n"


def probe(
    root: Path, probe_id: str, *, w1: str | None = None, temperature: str | None = None
) -> Path:
    directory = root / probe_id
    directory.mkdir(parents=True, exist_ok=True)
    if w1 is not None:
        (directory / "w1_slave").write_text(w1)
    if temperature is not None:
        (directory / "temperature").write_text(temperature)
    return directory


def serve(monkeypatch: pytest.MonkeyPatch, path: Path, *answers: bytes | OSError) -> list[Path]:
    """Make reads of `path` return `answers` in turn (the last one repeats); returns the reads."""
    reads: list[Path] = []
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self != path:
            return real(self)
        answer = answers[min(len(reads), len(answers) - 1)]
        reads.append(self)
        if isinstance(answer, OSError):
            raise answer
        return answer

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return reads


def test_the_default_root_is_the_kernels() -> None:
    assert Path("/sys/bus/w1/devices") == DEFAULT_ROOT


def test_a_bus_with_good_and_failing_probes(tmp_path: Path) -> None:
    probe(tmp_path, A, w1=w1_slave(56))  # 3.5 °C
    probe(tmp_path, B, w1=w1_slave(40, crc_ok=False))
    probe(tmp_path, C, w1=w1_slave(85 * 16))  # the power-on value
    probe(tmp_path, D)  # neither file
    probe(tmp_path, E, temperature="-18062\n")  # the newer attribute only
    mapping = {
        A: "cold-room-1.air",
        B: "cold-room-1.return",
        C: "freezer-1.air",
        D: "van-1.chilled",
        E: "van-1.frozen",
        F: "van-2.chilled",  # not on the bus at all
    }
    source = OneWireSource(mapping, root=tmp_path)

    first = source.sample(TS)
    assert [(r.sensor, r.ts, r.temp_c) for r in first.readings] == [
        ("cold-room-1.air", TS, 3.5),
        ("van-1.frozen", TS, -18.062),
    ]
    assert first.events == []
    assert source.faults == {
        A: {},
        B: {ProbeFault.CRC: 1},
        C: {ProbeFault.POWER_ON_RESET: 1},
        D: {ProbeFault.UNREADABLE: 1},
        E: {},
        F: {ProbeFault.MISSING: 1},
    }

    shutil.rmtree(tmp_path / A)  # probe A drops off the bus
    later = TS + timedelta(minutes=1)
    second = source.sample(later)
    assert [(r.sensor, r.ts, r.temp_c) for r in second.readings] == [
        ("van-1.frozen", later, -18.062)
    ]
    assert source.faults[A] == {ProbeFault.MISSING: 1}
    assert source.faults[B] == {ProbeFault.CRC: 2}
    assert source.faults[F] == {ProbeFault.MISSING: 2}


@pytest.mark.parametrize(
    ("sixteenths", "temp_c"),
    [
        (370, 23.125),
        (1, 0.062),
        (0, 0.0),
        (-1, -0.062),
        (-289, -18.062),
        (-55 * 16, -55.0),
        (125 * 16, 125.0),
    ],
)
def test_readings_keep_the_probes_resolution(
    tmp_path: Path, sixteenths: int, temp_c: float
) -> None:
    probe(tmp_path, A, w1=w1_slave(sixteenths))
    [reading] = OneWireSource({A: "freezer-1.air"}, root=tmp_path).sample(TS).readings
    assert reading.temp_c == temp_c


def test_w1_slave_is_preferred_for_its_crc_verdict(tmp_path: Path) -> None:
    probe(tmp_path, A, w1=w1_slave(80), temperature="9999\n")
    [reading] = OneWireSource({A: "freezer-1.air"}, root=tmp_path).sample(TS).readings
    assert reading.temp_c == 5.0


@pytest.mark.parametrize(
    ("files", "fault"),
    [
        pytest.param({"w1": w1_slave(85 * 16)}, ProbeFault.POWER_ON_RESET, id="85-w1_slave"),
        pytest.param({"temperature": "85000\n"}, ProbeFault.POWER_ON_RESET, id="85-temperature"),
        pytest.param({"temperature": "-127000\n"}, ProbeFault.DISCONNECTED, id="minus-127"),
        pytest.param(
            {"w1": "00 " * 9 + ": crc=00 YES\n" + "00 " * 9 + "t=0\n"},
            ProbeFault.DISCONNECTED,
            id="all-zero-scratchpad",
        ),
        pytest.param({"w1": w1_slave(-60 * 16)}, ProbeFault.OUT_OF_RANGE, id="minus-60"),
        pytest.param({"temperature": "130000\n"}, ProbeFault.OUT_OF_RANGE, id="130"),
        pytest.param({"w1": "hello\n"}, ProbeFault.MALFORMED, id="w1_slave-garbage"),
        pytest.param(
            {"w1": w1_slave(80).splitlines()[0] + "\n"}, ProbeFault.MALFORMED, id="one-line"
        ),
        pytest.param({"temperature": "twenty\n"}, ProbeFault.MALFORMED, id="temperature-text"),
        pytest.param({"temperature": "9" * 5000}, ProbeFault.MALFORMED, id="temperature-huge"),
        pytest.param(
            {"w1": w1_slave(80).replace("t=5000", "t=" + "9" * 5000)},
            ProbeFault.MALFORMED,
            id="w1_slave-huge",
        ),
        pytest.param({"w1": ""}, ProbeFault.NO_RESPONSE, id="w1_slave-empty"),
        pytest.param({"temperature": "\n"}, ProbeFault.NO_RESPONSE, id="temperature-empty"),
        pytest.param({}, ProbeFault.UNREADABLE, id="no-files"),
    ],
)
def test_untrustworthy_values_give_no_reading(
    tmp_path: Path, files: dict[str, str], fault: ProbeFault
) -> None:
    probe(tmp_path, A, **files)
    source = OneWireSource({A: "freezer-1.air"}, root=tmp_path)
    assert source.sample(TS).readings == []
    assert source.faults == {A: {fault: 1}}


def test_a_crc_failure_is_read_again_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = probe(tmp_path, A) / "w1_slave"
    bad, good = w1_slave(72, crc_ok=False).encode(), w1_slave(72).encode()
    reads = serve(monkeypatch, path, bad, good)
    source = OneWireSource({A: "freezer-1.air"}, root=tmp_path)
    assert [r.temp_c for r in source.sample(TS).readings] == [4.5]
    assert len(reads) == 2
    assert source.faults[A] == {}


def test_two_crc_failures_give_no_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = probe(tmp_path, A) / "w1_slave"
    reads = serve(monkeypatch, path, w1_slave(72, crc_ok=False).encode())
    source = OneWireSource({A: "freezer-1.air"}, root=tmp_path)
    assert source.sample(TS).readings == []
    assert len(reads) == 2
    assert source.faults[A] == {ProbeFault.CRC: 1}


def test_an_empty_answer_is_read_again_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = probe(tmp_path, A) / "w1_slave"
    reads = serve(monkeypatch, path, b"", w1_slave(-8).encode())
    source = OneWireSource({A: "freezer-1.air"}, root=tmp_path)
    assert [r.temp_c for r in source.sample(TS).readings] == [-0.5]
    assert len(reads) == 2


def test_a_power_on_value_is_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = probe(tmp_path, A) / "w1_slave"
    reads = serve(monkeypatch, path, w1_slave(85 * 16).encode(), w1_slave(72).encode())
    source = OneWireSource({A: "freezer-1.air"}, root=tmp_path)
    assert source.sample(TS).readings == []
    assert len(reads) == 1


def test_an_io_error_gives_no_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = probe(tmp_path, A, w1=w1_slave(72)) / "w1_slave"
    serve(monkeypatch, path, OSError(errno.EIO, "Input/output error"))
    source = OneWireSource({A: "freezer-1.air"}, root=tmp_path)
    assert source.sample(TS).readings == []
    assert source.faults[A] == {ProbeFault.UNREADABLE: 1}


def test_faults_are_logged_once_per_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = probe(tmp_path, A, w1=w1_slave(72))
    source = OneWireSource({A: "freezer-1.air"}, root=tmp_path)
    with caplog.at_level(logging.INFO, logger="coldchain_gateway.onewire"):
        source.sample(TS)
        assert caplog.messages == []
        shutil.rmtree(directory)
        probe(tmp_path, B, w1=w1_slave(72))  # a replacement probe, not yet mapped
        for minute in range(1, 4):
            source.sample(TS + timedelta(minutes=minute))
        probe(tmp_path, A, w1=w1_slave(72))
        source.sample(TS + timedelta(minutes=4))
        source.sample(TS + timedelta(minutes=5))
    assert source.faults[A] == {ProbeFault.MISSING: 3}
    [missing, back] = caplog.records
    assert missing.levelno == logging.WARNING
    assert "does not exist" in missing.getMessage()
    assert f"present but not mapped: {B}" in missing.getMessage()
    assert back.levelno == logging.INFO
    assert "reads again" in back.getMessage()


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        pytest.param({}, "no probes", id="empty"),
        pytest.param({"28-0316A2794EFF": "van-1.chilled"}, "lower case", id="upper-case"),
        pytest.param({"10-000000000001": "van-1.chilled"}, "not a DS18B20 id", id="ds18s20"),
        pytest.param({"../etc": "van-1.chilled"}, "not a DS18B20 id", id="path"),
        pytest.param({A: "Van 1"}, "sensor id 'Van 1'", id="sensor-id"),
    ],
)
def test_a_wrong_mapping_is_refused_at_start(mapping: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OneWireSource(mapping)


@given(name=st.sampled_from(["w1_slave", "temperature"]), content=st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_arbitrary_file_content_never_raises(name: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as root:
        (probe(Path(root), A) / name).write_bytes(content)
        source = OneWireSource({A: "freezer-1.air"}, root=Path(root))
        sample = source.sample(TS)
    assert all(-55.0 <= r.temp_c <= 125.0 and r.ts == TS for r in sample.readings)
    assert len(sample.readings) + sum(source.faults[A].values()) == 1
