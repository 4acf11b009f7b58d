"""Signed certificates and reports made by `coldchain-report` from a real InfluxDB.

The hub: a database with van 1's chilled compartment on 26 October 2025 (one reading
a minute, a door opening that warms it to 7.1 °C for 12 minutes, the alert closed at
10:10 CET, after the hand-over), the same compartment over the last two hours
(for a delivery still under way), cold room 1 on 25 October 2025, and a signing
key with its key list. Documents are verified afterwards with InfluxDB out of reach.
tests/integration/test_signed_documents.py and tests/e2e/test_verify_page.py use this.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from coldchain import measurements
from coldchain_devstack import REPO
from coldchain_devstack.servers import InfluxDB, free_port
from coldchain_devstack.stack import DEMO_FLEET
from coldchain_reports import keys, signing
from coldchain_reports.cli import app
from tests.hubkeys import HUB_NAME

VAN, VAN_SENSOR = "van-1-chilled", "van-1.chilled"
ROOM, ROOM_SENSOR = "cold-room-1", "cold-room-1.air"
#: The delivery's own data (delivery note, goods, receiver, responsible person).
DELIVERY = REPO / "docs" / "examples" / "delivery_tour-nord-stopp-3.yaml"
#: The delivery: loading 08:00 CET, hand-over 09:30 CET on 26 October 2025.
LOADING = datetime(2025, 10, 26, 7, tzinfo=UTC)
HANDOVER = datetime(2025, 10, 26, 8, 30, tzinfo=UTC)
DOOR = datetime(2025, 10, 26, 7, 40, 30, tzinfo=UTC)
#: The officer closes the door's alert after the hand-over: a certificate issued since
#: shows the action; one whose issued_at is moved before this would not.
CLOSED = datetime(2025, 10, 26, 9, 10, tzinfo=UTC)


def ns(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def van_temperature(ts: datetime) -> float:
    if DOOR <= ts < DOOR + timedelta(minutes=12):
        return 7.1
    return 4.0 if ts.minute % 10 == 0 else 4.25


def minutes(first: datetime, last: datetime) -> list[datetime]:
    """Every minute at hh:mm:30 from `first` to `last`."""
    count = int((last - first).total_seconds() // 60)
    return [first + timedelta(seconds=30 + 60 * n) for n in range(count)]


def reading(asset: str, sensor: str, ts: datetime, temp_c: float) -> str:
    gateway = sensor.split(".")[0]
    return (
        f"temperature,site=dortmund-hub,gateway={gateway},sensor={sensor},asset={asset} "
        f"temp_c={temp_c},seq=1i {ns(ts)}"
    )


@dataclass
class Hub:
    influxdb: InfluxDB
    database: str
    directory: Path
    env: dict[str, str]
    keys: Path
    now: datetime

    def run(self, *args: str, code: int = 0, offline: bool = False) -> str:
        """The command's output; `offline`: with InfluxDB out of reach, as a kitchen has it."""
        env = dict(self.env)
        if offline:
            env["COLDCHAIN_REPORT_INFLUX_URL"] = f"http://127.0.0.1:{free_port()}"
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == code, f"{args}: {result.output}\n{result.exception!r}"
        return result.output

    def refused(self, *args: str) -> str:
        """What a command that must stop with exit status 2 prints; a certificate's
        hand-over is 09:30 on 26 October 2025."""
        extra = (
            ("--to", "2025-10-26T09:30", "--delivery", str(DELIVERY))
            if args[0] == "certificate"
            else ()
        )
        return self.run(*args, *extra, "--out-dir", str(self.directory / "refused"), code=2)

    def certificate(
        self, start: str = "2025-10-26T08:00", end: str = "2025-10-26T09:30", lang: str = "de"
    ) -> tuple[Path, Path]:
        """The PDF and the JSON of van 1's delivery from `start` to `end` (local times)."""
        out = self.directory / f"cert-{uuid.uuid4().hex[:6]}"
        printed = self.run(
            "certificate", "--sensor", VAN_SENSOR, "--from", start, "--to", end,
            "--delivery", str(DELIVERY), "--lang", lang,
            "--out-dir", str(out),
        )  # fmt: skip
        pdf, json_path = (Path(p) for p in printed.splitlines()[:2])
        return pdf, json_path

    def under_way(self, lang: str = "de") -> tuple[Path, Path]:
        """A certificate of a delivery loaded an hour ago that ends in an hour."""
        start, end = self.now - timedelta(hours=1), self.now + timedelta(hours=1)
        return self.certificate(_utc(start), _utc(end), lang)

    def report(self, first: str, last: str, lang: str = "de") -> tuple[Path, Path, Path]:
        """The PDF, CSV and JSON of cold room 1 over the local days [first, last)."""
        out = self.directory / f"report-{uuid.uuid4().hex[:6]}"
        printed = self.run("report", "--asset", ROOM, "--from", first, "--to", last,
                           "--lang", lang, "--out-dir", str(out))  # fmt: skip
        pdf, csv_path, json_path = (Path(p) for p in printed.splitlines()[:3])
        return pdf, csv_path, json_path

    def another_key(self, name: str, hub: str = "Anderer Hub") -> tuple[Path, Path]:
        """Another private key and its own key list, as another hub (or a forger naming
        its list as it likes) would have them."""
        private, listed = self.directory / f"{name}.key", self.directory / f"{name}.pub"
        self.run("key", "create", "--private-key", str(private), "--keys", str(listed),
                 "--hub", hub, "--valid-from", "2025-01-01T00:00:00Z")  # fmt: skip
        return private, listed

    def resigned(self, path: Path, change: Any, name: str) -> Path:
        """A copy of the JSON document at `path`, changed by `change(data)` and signed
        anew with the hub's own key, as whoever holds the key could."""
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("signature")
        change(data)
        key = keys.load_signing_key(Path(self.env["COLDCHAIN_REPORT_SIGNING_KEY"]))
        copy = path.with_name(name)
        text = json.dumps(signing.sign(data, key), indent=2, ensure_ascii=False)
        copy.write_text(text + "\n", encoding="utf-8")
        return copy


def signing_env(directory: Path) -> dict[str, str]:
    """The settings of a hub with a new signing key in `directory` and its key list:
    `coldchain-report` signs everything it makes, and `verify` finds the key list. The
    key made for `directory` at the first call serves every later one."""
    private, listed = directory / "hub.key", directory / "hub.pub"
    if not private.exists():
        keys.create(private, listed, datetime(2025, 1, 1, tzinfo=UTC), HUB_NAME)
    return {
        "COLDCHAIN_REPORT_SIGNING_KEY": str(private),
        "COLDCHAIN_REPORT_PUBLIC_KEYS": str(listed),
    }


def make_hub(influxdb: InfluxDB, directory: Path) -> Hub:
    database = f"test_{uuid.uuid4().hex[:12]}"
    influxdb.query(database, f'CREATE DATABASE "{database}"')
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    lines = [
        reading(VAN, VAN_SENSOR, ts, van_temperature(ts))
        for ts in minutes(LOADING - timedelta(hours=1), HANDOVER + timedelta(hours=1))
    ]
    lines += [reading(VAN, VAN_SENSOR, ts, 3.5) for ts in minutes(now - timedelta(hours=2), now)]
    room_day = datetime(2025, 10, 24, 22, tzinfo=UTC)
    lines += [
        reading(ROOM, ROOM_SENSOR, ts, 2.5 + (ts.hour % 3) / 2)
        for ts in minutes(room_day - timedelta(minutes=2), room_day + timedelta(days=1))
    ]
    lines.append(
        f"{measurements.ALERT_ACTION},site=dortmund-hub,alert_id=21,action=closed,"
        f"severity=critical,asset={VAN},sensor={VAN_SENSOR} "
        'actor="k.weber",cause="Tür an Stopp 1 zu lange offen",'
        'corrective_action="Ware geprüft, Kerntemperatur 5 °C",product_decision="release",'
        f'comment="",started_ns={ns(DOOR)}i {ns(CLOSED)}'
    )
    influxdb.write(database, "\n".join(lines))
    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    for site in fleet["sites"]:
        for gateway in site["gateways"]:
            for sensor in gateway["sensors"]:
                sensor["interval_s"] = 60
    (directory / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    keys, private = directory / "hub.pub", directory / "hub.key"
    hub = Hub(
        influxdb,
        database,
        directory,
        {
            "COLDCHAIN_REPORT_INFLUX_URL": influxdb.url,
            "COLDCHAIN_REPORT_INFLUX_DB": database,
            "COLDCHAIN_REPORT_FLEET": str(directory / "fleet.yaml"),
            "COLDCHAIN_REPORT_SIGNING_KEY": str(private),
        },
        keys,
        now,
    )
    hub.run("key", "create", "--private-key", str(private), "--keys", str(keys),
            "--valid-from", "2025-01-01T00:00:00Z", "--hub", HUB_NAME)  # fmt: skip
    return hub


def edited(path: Path, change: Any, name: str) -> Path:
    """A copy of the JSON document at `path`, changed by `change(data)`, laid out as before."""
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    copy = path.with_name(name)
    copy.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return copy


def replaced(path: Path, old: bytes, new: bytes, name: str) -> Path:
    """A copy of the file at `path` with the first `old` replaced by `new` of its length."""
    assert len(old) == len(new)
    content = path.read_bytes()
    assert old in content, old
    copy = path.with_name(name)
    copy.write_bytes(content.replace(old, new, 1))
    return copy


def flipped(path: Path, at: int, name: str) -> Path:
    """A copy of the file at `path` with one bit of its byte `at` flipped."""
    content = bytearray(path.read_bytes())
    content[at] ^= 0x01
    copy = path.with_name(name)
    copy.write_bytes(bytes(content))
    return copy


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
