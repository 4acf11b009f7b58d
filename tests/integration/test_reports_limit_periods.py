"""Reports and certificates show which limits applied when, from the fleet registry.

Ingest writes each registry version's limits to `fleet_limits` (docs/fleet.md); here
they are written with ingest's own line builder into a real InfluxDB with one day of
cold room 1 and a delivery of van 1. Version 1 (+6 °C) holds from before the period,
version 2 (+5 °C) from 12:00 local on 25 October 2025, version 3 only after it. The
report and the certificate must list the versions in force in their period, in the
JSON (signed) and in the PDF (read back with pdftotext), German and English.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from coldchain.contract import FleetVersion
from coldchain.fleet import Fleet, parse_yaml
from coldchain.registry import set_value
from coldchain_devstack.servers import InfluxDB
from coldchain_devstack.stack import DEMO_FLEET
from coldchain_ingest.points import fleet_limits_lines
from coldchain_reports import keys, signing
from coldchain_reports.cli import app
from tests.signed import signing_env

ROOM, ROOM_SENSOR = "cold-room-1", "cold-room-1.air"
VAN, VAN_SENSOR = "van-1-chilled", "van-1.chilled"
#: Local 25 Oct 2025 (CEST): 22:00Z the day before to 22:00Z.
DAY_START, DAY_END = datetime(2025, 10, 24, 22, tzinfo=UTC), datetime(2025, 10, 25, 22, tzinfo=UTC)
CHANGE = datetime(2025, 10, 25, 10, tzinfo=UTC)  # 12:00 CEST
#: (version, valid_from, max_c of both assets, who, why)
VERSIONS = [
    (1, datetime(2025, 10, 1, 6, tzinfo=UTC), None, "admin", "registry seeded"),
    (2, CHANGE, 5.0, "a.schmidt", "Geflügel eingelagert"),
    (3, datetime(2025, 10, 27, 6, tzinfo=UTC), 4.0, "a.schmidt", "after the period"),
]


DELIVERY = {
    "delivery_note": "LS-2025-10-25-0001",
    "goods": [{"description": "Putenbrust, frisch", "quantity": "24 kg"}],
    "receiver": {"name": "Schulmensa Eving", "address": "Bergstraße 5, 44339 Dortmund"},
    "responsible": {"name": "Sabine Keller", "role": "Fahrerin"},
}


def _minute_lines(asset: str, sensor: str, first: datetime, last: datetime) -> list[str]:
    gateway = sensor.split(".")[0]
    tags = f"temperature,site=dortmund-hub,gateway={gateway},sensor={sensor},asset={asset}"
    lines, ts = [], first
    while ts < last:
        lines.append(f"{tags} temp_c=3.0,seq=1i {int(ts.timestamp()) * 10**9}")
        ts += timedelta(minutes=1)
    return lines


def _limit_lines() -> list[str]:
    data = parse_yaml(DEMO_FLEET.read_text())
    lines = []
    for number, valid_from, max_c, by, reason in VERSIONS:
        fleet = data
        for asset in (ROOM, VAN):
            fleet = set_value(fleet, f"assets/{asset}/limits/max_c", max_c)
        message = FleetVersion(
            version=number, valid_from=valid_from, created_by=by, reason=reason, fleet=fleet
        )
        lines += fleet_limits_lines(message, Fleet.from_data(fleet))
    return lines


@dataclass
class Stored:
    influxdb: InfluxDB
    database: str
    directory: Path
    env: dict[str, str]

    def run(self, *args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, list(args), env=self.env)
        assert result.exit_code == code, f"{args}: {result.output}\n{result.exception!r}"
        return result.output


@pytest.fixture
def stored(influxdb: InfluxDB, tmp_path: Path) -> Iterator[Stored]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    influxdb.query(database, f'CREATE DATABASE "{database}"')
    lines = _minute_lines(ROOM, ROOM_SENSOR, DAY_START - timedelta(hours=1), DAY_END)
    lines += _minute_lines(
        VAN, VAN_SENSOR, CHANGE - timedelta(hours=2), CHANGE + timedelta(hours=2)
    )
    influxdb.write(database, "\n".join(lines + _limit_lines()))
    env = {
        "COLDCHAIN_REPORT_INFLUX_URL": influxdb.url,
        "COLDCHAIN_REPORT_INFLUX_DB": database,
        "COLDCHAIN_REPORT_FLEET": str(DEMO_FLEET),
    } | signing_env(tmp_path)
    yield Stored(influxdb, database, tmp_path, env)
    influxdb.query(database, f'DROP DATABASE "{database}"')


def _pdf_text(path: Path) -> str:
    text = subprocess.run(
        ["pdftotext", "-raw", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return " ".join(text.split())


def _period(start: str, end: str, version: int, max_c: float, by: str, why: str) -> dict[str, Any]:
    valid_from = {1: "2025-10-01T06:00:00Z", 2: "2025-10-25T10:00:00Z"}[version]
    return {
        "from": start,
        "to": end,
        "version": version,
        "valid_from": valid_from,
        "category": "meat_products",
        "max_c": max_c,
        "min_c": -1.0,
        "regulatory_max_c": 6.0,
        "delay_s": 30.0,  # the demo fleet's
        "changed_by": by,
        "reason": why,
    }


def test_the_report_lists_the_limits_in_force_in_its_period(stored: Stored) -> None:
    out = stored.directory / "out"
    for lang in ("de", "en"):
        stored.run("report", "--asset", ROOM, "--from", "2025-10-25", "--lang", lang,
                   "--out-dir", str(out))  # fmt: skip
    document = json.loads((out / "report_cold-room-1_2025-10-25.json").read_text())
    assert document["limit_periods"] == [
        _period("2025-10-24T22:00:00Z", "2025-10-25T10:00:00Z", 1, 6.0, "admin",
                "registry seeded"),
        _period("2025-10-25T10:00:00Z", "2025-10-25T22:00:00Z", 2, 5.0, "a.schmidt",
                "Geflügel eingelagert"),
    ]  # fmt: skip
    assert document["version"] == 3, "version 3 added the days' calibration"

    german = _pdf_text(out / "report_cold-room-1_2025-10-25_de.pdf")
    assert "Geltende Grenzwerte (Flottenregister)" in german
    assert "Geflügel eingelagert geändert von a.schmidt" in german
    assert "25.10.2025 12:00 MESZ" in german and "5,0 °C" in german
    english = _pdf_text(out / "report_cold-room-1_2025-10-25_en.pdf")
    assert "Limits in force (fleet registry)" in english
    assert "registry seeded changed by admin" in english
    assert "2025-10-25 12:00 CEST" in english


def test_the_certificate_lists_them_and_verify_checks_them(stored: Stored) -> None:
    out = stored.directory / "cert"
    delivery = stored.directory / "delivery.yaml"
    delivery.write_text(yaml.safe_dump(DELIVERY, allow_unicode=True), encoding="utf-8")
    printed = stored.run(
        "certificate", "--sensor", VAN_SENSOR, "--from", "2025-10-25T11:00",
        "--to", "2025-10-25T13:00", "--delivery", str(delivery), "--lang", "en",
        "--out-dir", str(out),
    )  # fmt: skip
    pdf, json_path = (Path(p) for p in printed.split())
    document = json.loads(json_path.read_text())
    assert [(p["version"], p["from"], p["to"]) for p in document["limit_periods"]] == [
        (1, "2025-10-25T09:00:00Z", "2025-10-25T10:00:00Z"),
        (2, "2025-10-25T10:00:00Z", "2025-10-25T11:00:00Z"),
    ]
    text = _pdf_text(pdf)
    assert "Limits in force (fleet registry)" in text
    assert "Geflügel eingelagert changed by a.schmidt" in text
    assert stored.run("verify", "--certificate", str(json_path)).startswith("matches")

    key = keys.load_signing_key(Path(stored.env["COLDCHAIN_REPORT_SIGNING_KEY"]))
    edited = json.loads(json_path.read_text())
    del edited["signature"]
    edited["limit_periods"][1]["reason"] = "nothing changed"
    path = stored.directory / "edited.json"
    path.write_text(json.dumps(signing.sign(edited, key)))
    output = stored.run("verify", "--certificate", str(path), code=1)
    assert (
        "limit_periods.1.reason: the certificate says 'nothing changed', the fleet "
        "registry's limits in InfluxDB give 'Geflügel eingelagert'"
    ) in output

    del edited["limit_periods"]  # as certificates issued before they were listed
    path.write_text(json.dumps(signing.sign(edited, key)))
    assert stored.run("verify", "--certificate", str(path)).startswith("matches")


def test_without_a_registry_version_the_fleet_files_limits_are_named(stored: Stored) -> None:
    stored.influxdb.query(stored.database, 'DROP MEASUREMENT "fleet_limits"')
    out = stored.directory / "out"
    stored.run("report", "--asset", ROOM, "--from", "2025-10-25", "--out-dir", str(out))
    document = json.loads((out / "report_cold-room-1_2025-10-25.json").read_text())
    assert document["limit_periods"] == []
    text = _pdf_text(out / "report_cold-room-1_2025-10-25_de.pdf")
    assert "Im Zeitraum galt keine Version des Flottenregisters" in text
