"""`coldchain-report` against a real InfluxDB: report, certificate and verify.

The dataset is two local days around the end of daylight-saving time (25 and
26 October 2025, 24 h and 25 h) of one-minute readings from cold room 1, with
an excursion above the legal maximum, one above only the (stricter) alarm
limit, a stretch below the lower alarm limit shorter than the alarm delay (a
short deviation) and a two-hour gap; plus a van compartment's delivery with a
door-opening excursion. Every expected number comes from coldchain.compliance,
the one implementation, with the assets' rules; the PDFs are read back with
pdftotext. tests/integration/test_compliance_seeded.py checks numbers worked
out by hand.
"""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from coldchain import compliance, measurements
from coldchain.categories import PRESETS
from coldchain.compliance import Band, Rules, Sample
from coldchain_devstack import REPO
from coldchain_devstack.servers import InfluxDB, free_port
from coldchain_devstack.stack import DEMO_FLEET
from coldchain_reports import keys, signing
from coldchain_reports.cli import app
from tests.signed import signing_env

INTERVAL_S = 60
ROOM, ROOM_SENSOR = "cold-room-1", "cold-room-1.air"
VAN, VAN_SENSOR = "van-1-chilled", "van-1.chilled"
#: Stricter than the category's legal maximum (6 °C), so alarm and legal numbers differ.
ROOM_ALARM_MAX_C = 5.0
#: Local 25 Oct 2025 00:00 CEST to 27 Oct 2025 00:00 CET: 24 h + 25 h.
START = datetime(2025, 10, 24, 22, tzinfo=UTC)
END = datetime(2025, 10, 26, 23, tzinfo=UTC)
GAP = (datetime(2025, 10, 26, 9, tzinfo=UTC), datetime(2025, 10, 26, 11, tzinfo=UTC))
#: The delivery: loading 08:00 CET, hand-over 09:30 CET on 26 Oct 2025.
LOADING = datetime(2025, 10, 26, 7, tzinfo=UTC)
HANDOVER = datetime(2025, 10, 26, 8, 30, tzinfo=UTC)
CALIBRATION = "sensor,checked_on,due_on,reference\ncold-room-1.air,2025-01-14,2026-01-14,DKD-4711\n"


def room_temperature(ts: datetime) -> float:
    if datetime(2025, 10, 25, 12, tzinfo=UTC) <= ts < datetime(2025, 10, 25, 12, 45, tzinfo=UTC):
        minute = (ts - datetime(2025, 10, 25, 12, tzinfo=UTC)).total_seconds() // 60
        return round(7.0 + 1.2 * math.sin(math.pi * minute / 44), 2)  # peak 8.2 °C
    if datetime(2025, 10, 25, 18, tzinfo=UTC) <= ts < datetime(2025, 10, 25, 18, 20, tzinfo=UTC):
        return 5.5  # beyond the alarm limit, within the legal maximum
    if datetime(2025, 10, 26, 4, tzinfo=UTC) <= ts < datetime(2025, 10, 26, 4, 10, tzinfo=UTC):
        return -1.5  # below the lower alarm limit (-1 °C) for 10 minutes: < the 15-min delay
    minute = (ts - START).total_seconds() // 60
    return round(3.0 + 0.8 * math.sin(2 * math.pi * minute / 240), 2)


def van_temperature(ts: datetime) -> float:
    door = datetime(2025, 10, 26, 7, 40, tzinfo=UTC)
    if door <= ts < door + timedelta(minutes=12):
        return 7.1
    return 4.0 if ts.minute % 10 == 0 else 4.25


def minute_readings(first: datetime, last: datetime) -> list[datetime]:
    """Every minute at hh:mm:30, from 30 s before `first` (a lead-in reading) to `last`."""
    times, ts = [], first - timedelta(seconds=30)
    while ts < last:
        times.append(ts)
        ts += timedelta(seconds=INTERVAL_S)
    return times


ROOM_SAMPLES = [
    Sample(ts, room_temperature(ts))
    for ts in minute_readings(START, END)
    if not GAP[0] <= ts < GAP[1]
]
VAN_SAMPLES = [
    Sample(ts, van_temperature(ts))
    for ts in minute_readings(LOADING - timedelta(hours=1), HANDOVER + timedelta(hours=1))
]


def line(sample: Sample, asset: str, sensor: str) -> str:
    ns = (sample.ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000
    gateway = sensor.split(".")[0]
    return (
        f"temperature,site=dortmund-hub,gateway={gateway},sensor={sensor},asset={asset} "
        f"temp_c={sample.temp_c},seq=1i {ns}"
    )


def closing(
    alert_id: int,
    asset: str,
    sensor: str,
    severity: str,
    started: datetime,
    closed: datetime,
    fields: str,
) -> str:
    """An alert's closing as the alerts service writes it (measurement alert_action)."""
    return (
        f"{measurements.ALERT_ACTION},site=dortmund-hub,alert_id={alert_id},action=closed,"
        f"severity={severity},asset={asset},sensor={sensor} {fields},"
        f"started_ns={_ns(started)}i {_ns(closed)}"
    )


def _ns(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


CLOSINGS = [
    # The warm spell of 25 Oct 12:00 UTC: its alert began with it.
    closing(
        11, ROOM, ROOM_SENSOR, "critical",
        datetime(2025, 10, 25, 12, 0, 30, tzinfo=UTC), datetime(2025, 10, 25, 13, 30, tzinfo=UTC),
        'actor="m.mueller",cause="Kompressor ausgefallen",'
        'corrective_action="Ware in Kühlraum 2 umgelagert",product_decision="quarantine",'
        'comment="Kerntemperatur 6,8 °C"',
    ),
    # 18:00 UTC: a warning from 17:55 that escalated when the alarm limit was passed.
    closing(
        12, ROOM, ROOM_SENSOR, "critical",
        datetime(2025, 10, 25, 17, 55, tzinfo=UTC), datetime(2025, 10, 25, 19, tzinfo=UTC),
        'actor="a.schmidt",cause="Tür offen",corrective_action="Tür geschlossen",'
        'product_decision="release",comment=""',
    ),
    # A warning only: answers no excursion beyond the alarm limits.
    closing(
        13, ROOM, ROOM_SENSOR, "warning",
        datetime(2025, 10, 26, 3, tzinfo=UTC), datetime(2025, 10, 26, 5, tzinfo=UTC),
        'actor="a.schmidt",cause="Abtauung",corrective_action="keine nötig",'
        'product_decision="release",comment=""',
    ),
    # Another probe of the room: not this report's sensor.
    closing(
        14, ROOM, "cold-room-1.spare", "critical",
        datetime(2025, 10, 26, 4, tzinfo=UTC), datetime(2025, 10, 26, 6, tzinfo=UTC),
        'actor="a.schmidt",cause="Fühler defekt",corrective_action="Fühler getauscht",'
        'product_decision="discard",comment=""',
    ),
    # The van's door opening at the first stop.
    closing(
        21, VAN, VAN_SENSOR, "critical",
        datetime(2025, 10, 26, 7, 40, 30, tzinfo=UTC), datetime(2025, 10, 26, 8, 5, tzinfo=UTC),
        'actor="k.weber",cause="Tür an Stopp 1 zu lange offen",'
        'corrective_action="Ware geprüft, Kerntemperatur 5 °C",product_decision="release",'
        'comment=""',
    ),
]  # fmt: skip


@dataclass
class Dataset:
    influxdb: InfluxDB
    database: str
    directory: Path
    env: dict[str, str]

    def run(self, *args: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, list(args), env=self.env)
        assert result.exit_code == code, f"{args}: {result.output}\n{result.exception!r}"
        return result.output


@pytest.fixture
def dataset(influxdb: InfluxDB, tmp_path: Path) -> Iterator[Dataset]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    influxdb.query(database, f'CREATE DATABASE "{database}"')
    lines = [line(s, ROOM, ROOM_SENSOR) for s in ROOM_SAMPLES]
    lines += [line(s, VAN, VAN_SENSOR) for s in VAN_SAMPLES]
    influxdb.write(database, "\n".join(lines + CLOSINGS))
    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    for site in fleet["sites"]:
        for asset in site["assets"]:
            if asset["id"] == ROOM:
                asset["limits"] = {"max_c": ROOM_ALARM_MAX_C}
        for gateway in site["gateways"]:
            for sensor in gateway["sensors"]:
                sensor["interval_s"] = INTERVAL_S
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump(fleet))
    env = {
        "COLDCHAIN_REPORT_INFLUX_URL": influxdb.url,
        "COLDCHAIN_REPORT_INFLUX_DB": database,
        "COLDCHAIN_REPORT_FLEET": str(tmp_path / "fleet.yaml"),
        "COLDCHAIN_REPORT_INFLUX_CHUNK_SIZE": "500",  # several chunks per answer
    } | signing_env(tmp_path)
    yield Dataset(influxdb, database, tmp_path, env)


def pdf_text(path: Path, raw: bool = False) -> str:
    """The PDF's text as laid out on the page, or (`raw`) in drawing order: cell by cell."""
    return subprocess.run(
        ["pdftotext", "-raw" if raw else "-layout", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def de(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}".replace(".", ",")


def hms(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


ALARM = Band(max_c=ROOM_ALARM_MAX_C, min_c=-1.0)
LEGAL = Band(max_c=6.0)
#: The room's limits in this test's fleet: its category's, with the stricter alarm maximum.
ROOM_RULES = Rules(PRESETS["meat_products"].limits(max_c=ROOM_ALARM_MAX_C))
DAYS = [date(2025, 10, 25), date(2025, 10, 26)]


def expected_days(band: Band) -> list[tuple[date, compliance.PeriodStats]]:
    return compliance.daily_stats(
        ROOM_SAMPLES, DAYS[0], DAYS[1], band, INTERVAL_S, ROOM_RULES.timezone, ROOM_RULES
    )


def expected_period(band: Band) -> compliance.PeriodStats:
    return compliance.period_stats(ROOM_SAMPLES, START, END, band, INTERVAL_S, ROOM_RULES)


def test_report_pdf_in_german_has_the_numbers(dataset: Dataset) -> None:
    calibration = dataset.directory / "calibration.csv"
    calibration.write_text(CALIBRATION)
    out = dataset.directory / "out"
    printed = dataset.run(
        "report", "--asset", ROOM, "--from", "2025-10-25", "--to", "2025-10-27",
        "--lang", "de", "--out-dir", str(out), "--calibration", str(calibration),
    )  # fmt: skip
    pdf = out / "report_cold-room-1_2025-10-25_2025-10-26_de.pdf"
    assert str(pdf) in printed
    text = pdf_text(pdf)
    period, legal = expected_period(ALARM), expected_period(LEGAL)
    for label in ["Temperaturbericht", "Kühlraum 1 (Molkereiprodukte)", "Zusammenfassung",
                  "Abdeckung", "Mittlere kinetische Temperatur (MKT)", "Tageswerte",
                  "Grenzwertüberschreitungen und Maßnahmen", "Korrektur-",
                  "Produkt-", "nicht erfasst", "Gesetzliche Höchsttemperatur",
                  "Zeiten in Europe/Berlin", "Seite 1 von"]:  # fmt: skip
        assert label in text, label
    rows = _squeezed(pdf_text(pdf, raw=True))
    first, second = period.excursions
    (third,) = period.short_deviations
    assert (
        f"1 25.10.2025 14:00 MESZ 25.10.2025 14:45 MESZ 0:45:00 8,2 °C "
        f"{de(first.degree_minutes, 1)} Ware in Kühlraum 2 umgelagert Ursache: Kompressor "
        "ausgefallen „Kerntemperatur 6,8 °C“ abgeschlossen von m.mueller, 25.10.2025 15:30 "
        "MESZ Sperrung"
    ) in rows, "the closing of the alert that began with the excursion"
    assert (
        f"{de(second.degree_minutes, 1)} Tür geschlossen Ursache: Tür offen abgeschlossen von "
        "a.schmidt, 25.10.2025 21:00 MESZ Freigabe"
    ) in rows, "the closing of the warning that escalated into the excursion"
    assert (
        f"1 26.10.2025 05:00 MEZ 26.10.2025 05:10 MEZ 0:10:00 -1,5 °C "
        f"{de(third.degree_minutes, 1)} kürzer als die Alarmverzögerung (0:15:00)"
    ) in rows, "a short deviation, listed as what it is"
    for other in ["keine nötig", "Fühler getauscht", "Entsorgung"]:
        assert other not in rows, "a warning's or another probe's closing"
    assert period.samples == 2940 - 120
    assert f"Messwerte {period.samples}" in _squeezed(text)
    summary = _squeezed(text)
    assert f"Abdeckung {de(period.coverage_pct, 2)} %" in summary
    assert f"Minimum {de(period.min_c or 0, 1)} °C" in summary
    assert f"Maximum {de(period.max_c or 0, 1)} °C" in summary
    assert f"(MKT) {de(period.mkt_c or 0, 1)} °C" in summary
    assert f"Zeit innerhalb {de(period.time_in_range_pct, 2)} %" in summary
    assert f"Zeit außerhalb {hms(period.excursion_s)} {hms(legal.excursion_s)}" in summary
    assert (
        f"Gradminuten {de(period.degree_minutes, 1)} K·min {de(legal.degree_minutes, 1)} K·min"
        in summary
    )
    assert len(period.excursions) == 2 and len(legal.excursions) == 1
    assert "Überschreitungen 2 1" in summary
    assert "Kurze Abweichungen 1 0" in summary
    # Excursion times in local time with the zone: the peak one at 14:00:30 CEST.
    assert "25.10.2025 14:00 MESZ" in rows and "26.10.2025 05:00 MEZ" in rows
    for (day, alarm), (_, day_legal) in zip(
        expected_days(ALARM), expected_days(LEGAL), strict=True
    ):
        temperatures, limits = (
            r.split() for r in text.splitlines() if f"{day:%d.%m.%Y}" in r and "%" in r
        )
        assert temperatures[2] == str(round(alarm.duration_s / 3600)), temperatures
        assert temperatures[3] == str(alarm.samples), temperatures
        assert temperatures[4] == de(alarm.coverage_pct, 2), temperatures
        assert limits[-1] == "verifiziert", "the probe's check was in force and good"
        assert limits[-2] == hms(day_legal.excursion_s), limits
        assert limits[-3:-5:-1] == [str(len(alarm.short_deviations)), str(len(alarm.excursions))]
        assert limits[-5] == de(alarm.degree_minutes, 1), limits
    assert (
        "verifiziert: geprüft am 14.01.2025, Abweichung nicht angegeben, nächste Prüfung "
        "fällig am 14.01.2026 (DKD-4711)"
    ) in summary
    inside = [s for s in ROOM_SAMPLES if START <= s.ts < END]
    assert compliance.digest(inside, ROOM_SENSOR) in text


@pytest.mark.parametrize(
    ("last", "language", "period"),
    [
        ("2025-10-26", "de", "25.10.2025 (1 Tag)"),
        ("2025-10-27", "de", "25.10.2025 – 26.10.2025 (2 Tage)"),
        ("2025-10-26", "en", "2025-10-25 (1 day)"),
        ("2025-10-27", "en", "2025-10-25 – 2025-10-26 (2 days)"),
    ],
)
def test_the_period_is_counted_in_words(
    dataset: Dataset, last: str, language: str, period: str
) -> None:
    out = dataset.directory / "out"
    dataset.run("report", "--asset", ROOM, "--from", "2025-10-25", "--to", last,
                "--lang", language, "--out-dir", str(out))  # fmt: skip
    (pdf,) = out.glob(f"report_*_{language}.pdf")
    assert f"{period}; " in _squeezed(pdf_text(pdf)), _squeezed(pdf_text(pdf))[:600]


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_report_csv_has_the_numbers_of_each_local_day(dataset: Dataset) -> None:
    out = dataset.directory / "out"
    dataset.run("report", "--asset", ROOM, "--from", "2025-10-25", "--to", "2025-10-27",
              "--out-dir", str(out))  # fmt: skip
    with (out / "report_cold-room-1_2025-10-25_2025-10-26.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert [row["day"] for row in rows] == ["2025-10-25", "2025-10-26"]
    assert [row["duration_s"] for row in rows] == ["86400", "90000"], "24 h, then 25 h"
    assert rows[1]["coverage_pct"] == "92", "two hours of 25 missing"
    for row, (_, alarm), (_, legal) in zip(rows, expected_days(ALARM), expected_days(LEGAL),
                                         strict=True):  # fmt: skip
        assert int(row["readings"]) == alarm.samples
        numbers = {
            "coverage_pct": alarm.coverage_pct, "covered_s": alarm.covered_s,
            "min_c": alarm.min_c, "max_c": alarm.max_c, "mean_c": alarm.mean_c,
            "mkt_c": alarm.mkt_c, "in_range_s": alarm.in_range_s,
            "time_in_range_pct": alarm.time_in_range_pct, "beyond_alarm_s": alarm.excursion_s,
            "alarm_degree_minutes": alarm.degree_minutes,
            "above_regulatory_s": legal.excursion_s,
            "regulatory_degree_minutes": legal.degree_minutes,
        }  # fmt: skip
        for column, value in numbers.items():
            assert value is not None
            assert float(row[column]) == pytest.approx(value, abs=0.0005), column
        assert int(row["alarm_excursions"]) == len(alarm.excursions)
        assert int(row["short_deviations"]) == len(alarm.short_deviations)
        assert row["alarm_max_c"] == "5" and row["alarm_min_c"] == "-1"
        assert row["regulatory_max_c"] == "6"
    assert rows[0]["start_utc"] == "2025-10-24T22:00:00Z"
    assert rows[1]["end_utc"] == "2025-10-26T23:00:00Z"


def test_report_in_english_without_calibration_renders(dataset: Dataset) -> None:
    out = dataset.directory / "out"
    dataset.run("report", "--asset", ROOM, "--from", "2025-10-25", "--to", "2025-10-27",
              "--lang", "en", "--out-dir", str(out))  # fmt: skip
    pdf = out / "report_cold-room-1_2025-10-25_2025-10-26_en.pdf"
    text = pdf_text(pdf)
    period = expected_period(ALARM)
    summary = _squeezed(text)
    for label in ["Temperature report", "Cold room 1 (dairy)", "Coverage", "Daily figures",
                  "Excursions and actions", "Corrective", "Product",
                  "not recorded", "Legal maximum", "Times in Europe/Berlin",
                  "unknown: no calibration record for this sensor", "Page 1 of"]:  # fmt: skip
        assert label in text, label
    rows = _squeezed(pdf_text(pdf, raw=True))
    assert (
        "umgelagert Cause: Kompressor ausgefallen “Kerntemperatur 6,8 °C” closed by "
        "m.mueller, 2025-10-25 15:30 CEST quarantine" in rows
    ), "the recorded texts as they were typed, the labels in English"
    assert "a.schmidt, 2025-10-25 21:00 CEST release" in rows
    assert "0:10:00 -1.5 °C 5.0 shorter than the alarm delay (0:15:00)" in rows
    assert f"Coverage {period.coverage_pct:.2f} %" in summary
    assert f"(MKT) {period.mkt_c:.1f} °C" in summary
    assert "2025-10-25 14:00 CEST" in rows and "2025-10-26 05:00 CET" in rows
    assert "Sun 2025-10-26" in text
    page = dataset.directory / "page"
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(pdf), str(page)],
                   check=True)  # fmt: skip
    rendered = next(dataset.directory.glob("page*.png"))
    with Image.open(rendered) as image:
        assert image.size[0] == pytest.approx(210 / 25.4 * 50, abs=2), "A4 portrait"
        grey = image.convert("L")
        dark = sum(grey.histogram()[:128])
        assert dark > 0.01 * image.size[0] * image.size[1], "page 1 has text and a plot"


#: As `coldchain-alerts calibration export` writes the register: the room's check fell due
#: on the report's first day, so it no longer verifies the probe on the report's last day.
REGISTER_EXPORT = (
    "sensor,checked_on,due_on,deviation_k,reference,checked_by\n"
    "cold-room-1.air,2024-10-24,2025-10-24,-0.3,DKD-4711,Kalibrierlabor Nord\n"
    "van-1.chilled,2025-03-01,2026-03-01,0.2,DKD-4712,Kalibrierlabor Nord\n"
)


@pytest.mark.parametrize(
    ("lang", "says"),
    [
        (
            "de",
            "nicht verifiziert (Prüfung überfällig): geprüft am 24.10.2024, Abweichung -0,3 K, "
            "Prüfung fällig am 24.10.2025 (DKD-4711)",
        ),
        (
            "en",
            "unverified (check overdue): checked on 2024-10-24, deviation -0.3 K, check due on "
            "2025-10-24 (DKD-4711)",
        ),
    ],
)
def test_a_report_past_the_due_day_of_the_registers_check_says_unverified(
    dataset: Dataset, lang: str, says: str
) -> None:
    register = dataset.directory / "register.csv"
    register.write_text(REGISTER_EXPORT)
    out = dataset.directory / "out"
    dataset.run(
        "report", "--asset", ROOM, "--from", "2025-10-25", "--to", "2025-10-27",
        "--lang", lang, "--out-dir", str(out), "--calibration", str(register),
    )  # fmt: skip
    text = _squeezed(pdf_text(out / f"report_cold-room-1_2025-10-25_2025-10-26_{lang}.pdf"))
    assert says in text, text


#: The room's check falls due on 25 October 2025: its probe is unverified from local
#: midnight of the 26th, 2025-10-25T22:00Z (CEST), the report's second day.
DUE_ON_FIRST_DAY = (
    "sensor,checked_on,due_on,deviation_k,reference,checked_by\n"
    "cold-room-1.air,2024-10-25,2025-10-25,-0.3,DKD-4711,Kalibrierlabor Nord\n"
)


def test_an_overdue_probe_marks_its_readings_from_the_due_day_on(dataset: Dataset) -> None:
    register = dataset.directory / "register.csv"
    register.write_text(DUE_ON_FIRST_DAY)
    out = dataset.directory / "out"
    dataset.run(
        "report", "--asset", ROOM, "--from", "2025-10-25", "--to", "2025-10-27",
        "--lang", "de", "--out-dir", str(out), "--calibration", str(register),
    )  # fmt: skip
    stem = out / "report_cold-room-1_2025-10-25_2025-10-26"
    (stored,) = dataset.influxdb.query(
        dataset.database,
        f"SELECT count(temp_c) FROM temperature WHERE sensor = '{ROOM_SENSOR}' "
        "AND time >= '2025-10-25T22:00:00Z' AND time < '2025-10-26T23:00:00Z'",
    )
    after_due = stored["values"][0][1]
    assert after_due == 25 * 60 - 120, "the 25-hour day's minutes but the two-hour gap"
    with Path(f"{stem}.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["day"], r["calibration"], r["unverified_readings"]) for r in rows] == [
        ("2025-10-25", "valid", "0"),
        ("2025-10-26", "unverified", str(after_due)),
    ]
    document = json.loads(Path(f"{stem}.json").read_text())
    assert document["version"] == 3
    assert [(d["calibration"], d["unverified_readings"]) for d in document["days"]] == [
        ("valid", "0"),
        ("unverified", str(after_due)),
    ]
    text = _squeezed(pdf_text(Path(f"{stem}_de.pdf"), raw=True))
    assert "0:45:00 verifiziert So 26.10.2025" in text, "the first day's row, verified"
    assert f"0:00:00 nicht verifiziert: {after_due} Messwerte" in text, text
    assert f"bis eine gute Prüfung galt): {after_due}." in text


def test_report_seal_verifies(dataset: Dataset) -> None:
    out = dataset.directory / "out"
    dataset.run("report", "--asset", ROOM, "--from", "2025-10-25", "--to", "2025-10-27",
              "--lang", "en", "--out-dir", str(out))  # fmt: skip
    text = pdf_text(out / "report_cold-room-1_2025-10-25_2025-10-26_en.pdf")
    seal = re.search(r"--seal '(\{.*?\})'", text, re.DOTALL)
    assert seal, "the report prints its verify command"
    assert "matches: 2820 readings" in dataset.run("verify", "--seal", seal.group(1))


#: The delivery's own data, as a dispatcher's system writes it (docs/compliance.md).
DELIVERY = {
    "delivery_note": "LS-2025-10-26-0042",
    "tour": "Tour 1, Stopp 2",
    "goods": [
        {"description": "Putenbrust, frisch", "lot": "L-251025-07", "quantity": "24 kg"},
        {"description": "Hähnchenkeulen", "quantity": "12 kg"},
    ],
    "receiver": {"name": "Schulmensa Eving", "address": "Bergstraße 5, 44339 Dortmund"},
    "responsible": {"name": "Sabine Keller", "role": "Fahrerin"},
}


def certificate(
    dataset: Dataset, lang: str = "de", *options: str, delivery: Any = DELIVERY
) -> tuple[Path, dict[str, Any]]:
    out = dataset.directory / "cert"
    path = dataset.directory / "delivery.yaml"
    path.write_text(yaml.safe_dump(delivery, allow_unicode=True), encoding="utf-8")
    printed = dataset.run(
        "certificate", "--sensor", VAN_SENSOR, "--from", "2025-10-26T08:00",
        "--to", "2025-10-26T09:30", "--delivery", str(path),
        "--lang", lang, "--out-dir", str(out), *options,
    )  # fmt: skip
    pdf, json_path = (Path(p) for p in printed.split())
    return pdf, json.loads(json_path.read_text())


def test_certificate_json_and_pdf(dataset: Dataset) -> None:
    pdf, data = certificate(dataset)
    stats = compliance.period_stats(
        VAN_SAMPLES, LOADING, HANDOVER, Band(max_c=6.0, min_c=-1.0), INTERVAL_S
    )
    assert data["sensor"] == VAN_SENSOR and data["asset"]["id"] == VAN
    assert data["from"] == {"utc": "2025-10-26T07:00:00Z", "local": "2025-10-26T08:00:00+01:00"}
    assert data["to"]["utc"] == "2025-10-26T08:30:00Z"
    assert data["limits"] == {"regulatory_max_c": 6.0, "max_c": 6.0, "min_c": -1.0}
    assert data["readings"] == stats.samples == 90
    assert data["coverage_pct"] == 100.0 == round(stats.coverage_pct, 3)
    for field in ["min_c", "max_c", "mean_c", "mkt_c", "covered_s", "in_range_s"]:
        assert data[field] == round(getattr(stats, field), 3), field
    beyond = data["beyond"]
    assert beyond["max_c"]["seconds"] == 720.0 == stats.excursion_s
    assert beyond["regulatory_max_c"]["seconds"] == 720.0
    assert beyond["min_c"] == {"limit_c": -1.0, "seconds": 0.0, "degree_minutes": 0.0}
    assert beyond["max_c"]["degree_minutes"] == round(stats.degree_minutes, 3)
    [excursion] = data["excursions"]
    assert excursion["from"]["utc"] == "2025-10-26T07:40:30Z" and excursion["peak_c"] == 7.1
    assert excursion["actions"] == [
        {
            "alert_id": "21",
            "closed": {"utc": "2025-10-26T08:05:00Z", "local": "2025-10-26T09:05:00+01:00"},
            "closed_by": "k.weber",
            "cause": "Tür an Stopp 1 zu lange offen",
            "corrective_action": "Ware geprüft, Kerntemperatur 5 °C",
            "product_decision": "release",
            "comment": "",
        }
    ]
    inside = [s for s in VAN_SAMPLES if LOADING <= s.ts < HANDOVER]
    assert data["digest"]["value"] == compliance.digest(inside, VAN_SENSOR)
    text = _squeezed(pdf_text(pdf))
    for label in ["Temperaturnachweis zur Lieferung", "Tour 1, Stopp 2",
                  "Beladen 26.10.2025 08:00:00 MEZ", "Übergabe 26.10.2025 09:30:00 MEZ",
                  "Gesetzliche Höchsttemperatur für 0:12:00 überschritten",
                  f"Messwerte {stats.samples}", f"MKT) {de(stats.mkt_c or 0, 1)} °C",
                  "Abdeckung 100,00 %", data["digest"]["value"]]:  # fmt: skip
        assert label in text, label
    assert (
        "Ware geprüft, Kerntemperatur 5 °C Ursache: Tür an Stopp 1 zu lange offen "
        "abgeschlossen von k.weber, 26.10.2025 09:05 MEZ Freigabe"
    ) in _squeezed(pdf_text(pdf, raw=True))


def test_certificate_in_english(dataset: Dataset) -> None:
    pdf, _ = certificate(dataset, lang="en")
    text = _squeezed(pdf_text(pdf))
    for label in ["Delivery temperature certificate", "Loading 2025-10-26 08:00:00 CET",
                  "Hand-over 2025-10-26 09:30:00 CET", "Legal maximum exceeded for 0:12:00",
                  "Time above upper alarm limit (6.0 °C) 0:12:00"]:  # fmt: skip
        assert label in text, label


def test_certificate_states_delivery_sender_vehicle_and_probe(dataset: Dataset) -> None:
    """What a receiving kitchen and an inspector ask for: delivery note, goods and lots,
    sender, receiver, the vehicle's plate, the responsible person, the probe's calibration."""
    pdf, data = certificate(dataset)
    assert data["version"] == 4
    assert data["delivery"] == {
        "delivery_note": "LS-2025-10-26-0042",
        "tour": "Tour 1, Stopp 2",
        "goods": [
            {"description": "Putenbrust, frisch", "lot": "L-251025-07", "quantity": "24 kg"},
            {"description": "Hähnchenkeulen", "lot": None, "quantity": "12 kg"},
        ],
        "receiver": {"name": "Schulmensa Eving", "address": "Bergstraße 5, 44339 Dortmund"},
        "responsible": {"name": "Sabine Keller", "role": "Fahrerin"},
    }
    assert data["sender"] == {
        "site": "dortmund-hub",
        "name": "REGIOwez Dortmund",
        "address": "Musterstraße 1, 44147 Dortmund",
    }
    assert data["vehicle"] == {"gateway": "van-1", "plate": "DO-RW 101"}
    assert data["probe"] == {
        "sensor": VAN_SENSOR,
        "calibration": _calibration("unknown", None, None, None, None, []),
        "checks": [],
        "unverified": {"readings": 0, "spans": []},
    }
    text = _squeezed(pdf_text(pdf))
    for label in ["Lieferschein-Nr. LS-2025-10-26-0042", "Tour Tour 1, Stopp 2",
                  "Absender REGIOwez Dortmund, Musterstraße 1, 44147 Dortmund",
                  "Empfänger Schulmensa Eving, Bergstraße 5, 44339 Dortmund",
                  "Ware Putenbrust, frisch, 24 kg, Los L-251025-07 Hähnchenkeulen, 12 kg",
                  "Fahrzeug (Kennzeichen) DO-RW 101 (Gateway van-1)",
                  "Verantwortlich Sabine Keller, Fahrerin",
                  "Kalibrierung (EN 13486) unbekannt: für diesen Fühler ist keine "
                  "Kalibrierung hinterlegt",
                  "Beladen 26.10.2025 08:00:00 MEZ",
                  "Übergabe 26.10.2025 09:30:00 MEZ"]:  # fmt: skip
        assert label in text, label
    pdf, _ = certificate(dataset, "en")
    text = _squeezed(pdf_text(pdf))
    for label in ["Delivery note no. LS-2025-10-26-0042",
                  "Sender REGIOwez Dortmund, Musterstraße 1, 44147 Dortmund",
                  "Receiver Schulmensa Eving, Bergstraße 5, 44339 Dortmund",
                  "Goods Putenbrust, frisch, 24 kg, lot L-251025-07 Hähnchenkeulen, 12 kg",
                  "Vehicle (plate) DO-RW 101 (gateway van-1)",
                  "Responsible Sabine Keller, Fahrerin",
                  "Calibration (EN 13486) unknown: no calibration record for this sensor",
                  ]:  # fmt: skip
        assert label in text, label


CHECKS_HEADER = "sensor,checked_on,due_on,deviation_k,reference"


def _calibration(state: str, checked: str | None, due: str | None, deviation: float | None,
                 reference: str | None, reasons: list[str]) -> dict[str, Any]:  # fmt: skip
    return {"state": state, "checked_on": checked, "due_on": due, "deviation_k": deviation,
            "reference": reference, "reasons": reasons}  # fmt: skip


def _stated_check(calibration: dict[str, Any]) -> dict[str, Any]:
    """A certificate's `probe.checks` entry of the check its `probe.calibration` names."""
    return {key: calibration[key] for key in ("checked_on", "due_on", "deviation_k", "reference")}


@pytest.mark.parametrize(
    ("checks", "state", "shown"),
    [
        # The check in force at hand-over (26 Oct 2025) is the latest made by then: a later
        # one does not count, so the probe's check was overdue (due 1 Oct 2025).
        (
            ["2024-10-01,2025-10-01,0.2,DKD-0815", "2025-11-03,2026-11-03,0.1,DKD-0999"],
            _calibration("unverified", "2024-10-01", "2025-10-01", 0.2, "DKD-0815", ["overdue"]),
            "nicht verifiziert (Prüfung überfällig): geprüft am 01.10.2024, Abweichung +0,2 K, "
            "Prüfung fällig am 01.10.2025 (DKD-0815)",
        ),
        (
            ["2024-10-01,2025-10-01,0.2,DKD-0815", "2025-03-01,2026-03-01,-0.4,DKD-0900"],
            _calibration("valid", "2025-03-01", "2026-03-01", -0.4, "DKD-0900", []),
            "verifiziert: geprüft am 01.03.2025, Abweichung -0,4 K, nächste Prüfung fällig am "
            "01.03.2026 (DKD-0900)",
        ),
        # Checked more than a year before hand-over (25 Oct 2024 + 1 year < 26 Oct 2025),
        # though the CSV gives a later due date: EN 13486 asks for a yearly check.
        (
            ["2024-10-25,2026-10-25,0.1,DKD-0700"],
            _calibration("unverified", "2024-10-25", "2026-10-25", 0.1, "DKD-0700", ["overdue"]),
            "nicht verifiziert (Prüfung überfällig): geprüft am 25.10.2024",
        ),
        # Exactly one year: still in force.
        (
            ["2024-10-26,2025-10-26,0.1,DKD-0701"],
            _calibration("valid", "2024-10-26", "2025-10-26", 0.1, "DKD-0701", []),
            "verifiziert: geprüft am 26.10.2024",
        ),
        (
            ["2025-03-01,2026-03-01,1.2,DKD-0901"],
            _calibration("unverified", "2025-03-01", "2026-03-01", 1.2, "DKD-0901", ["deviation"]),
            "nicht verifiziert (Abweichung über ±1 K): geprüft am 01.03.2025, Abweichung +1,2 K",
        ),
        # -1.0 K is within ±1 K.
        (
            ["2025-03-01,2026-03-01,-1.0,DKD-0902"],
            _calibration("valid", "2025-03-01", "2026-03-01", -1.0, "DKD-0902", []),
            "verifiziert: geprüft am 01.03.2025, Abweichung -1,0 K",
        ),
        (
            ["2024-09-01,2025-09-01,-1.5,DKD-0500"],
            _calibration("unverified", "2024-09-01", "2025-09-01", -1.5, "DKD-0500",
                         ["overdue", "deviation"]),
            "nicht verifiziert (Prüfung überfällig; Abweichung über ±1 K)",
        ),
        # No deviation in the CSV: the dates are judged and the deviation said unknown.
        (
            ["2025-03-01,2026-03-01,,DKD-0903"],
            _calibration("valid", "2025-03-01", "2026-03-01", None, "DKD-0903", []),
            "verifiziert: geprüft am 01.03.2025, Abweichung nicht angegeben, nächste",
        ),
    ],
)  # fmt: skip
def test_certificate_shows_the_probes_calibration_in_force(
    dataset: Dataset, checks: list[str], state: dict[str, Any], shown: str
) -> None:
    records = dataset.directory / "calibration.csv"
    rows = [f"{VAN_SENSOR},{check}" for check in checks]
    records.write_text("\n".join([CHECKS_HEADER, *rows]) + "\n")
    pdf, data = certificate(dataset, "de", "--calibration", str(records))
    assert data["probe"]["calibration"] == state
    assert f"Kalibrierung (EN 13486) {shown}" in _squeezed(pdf_text(pdf))
    json_path = next((dataset.directory / "cert").glob("*.json"))
    assert "its numbers, limits and actions agree" in dataset.run(
        "verify", "--certificate", str(json_path)
    )


def test_a_certificate_marks_the_readings_after_the_due_day(dataset: Dataset) -> None:
    """The van's check fell due on 25 October, the day before the delivery: every reading
    of it is unverified, from loading on; one made during the delivery's day would end it
    at that midnight, which the stated checks let verify compute again."""
    records = dataset.directory / "calibration.csv"
    records.write_text(
        f"{CHECKS_HEADER}\n{VAN_SENSOR},2024-09-01,2025-09-01,0.2,DKD-0400\n"
        f"{VAN_SENSOR},2024-10-25,2025-10-25,0.2,DKD-0815\n"
    )
    pdf, data = certificate(dataset, "de", "--calibration", str(records))
    (stored,) = dataset.influxdb.query(
        dataset.database,
        f"SELECT count(temp_c) FROM temperature WHERE sensor = '{VAN_SENSOR}' "
        "AND time >= '2025-10-26T07:00:00Z' AND time < '2025-10-26T08:30:00Z'",
    )
    readings = stored["values"][0][1]
    assert readings == data["readings"] == 90
    assert data["probe"]["checks"] == [
        {"checked_on": "2024-10-25", "due_on": "2025-10-25", "deviation_k": 0.2,
         "reference": "DKD-0815"},
    ], "the check in force during the delivery, not the one before"  # fmt: skip
    assert data["probe"]["unverified"] == {
        "readings": readings,
        "spans": [{"from": data["from"], "to": data["to"]}],
    }
    text = _squeezed(pdf_text(pdf))
    assert f"nicht verifiziert: {readings} Messwerte ab 26.10.2025 08:00 MEZ" in text, text
    json_path = next((dataset.directory / "cert").glob("*.json"))
    assert "its numbers, limits and actions agree" in dataset.run(
        "verify", "--certificate", str(json_path)
    )

    def hidden(d: dict[str, Any]) -> None:
        d["probe"]["unverified"] = {"readings": 0, "spans": []}

    edited = dataset.directory / "hidden.json"
    changed = {key: value for key, value in data.items() if key != "signature"}
    hidden(changed)
    edited.write_text(json.dumps(resigned(dataset, changed)))
    output = dataset.run("verify", "--certificate", str(edited), code=1)
    assert (
        f"probe.unverified.readings: the certificate says 0, its calibration dates and "
        f"hand-over give {readings}"
    ) in output, output


def test_a_certificate_of_version_3_is_still_verified(dataset: Dataset) -> None:
    """Issued before certificates listed the probe's checks: compared without them."""
    records = dataset.directory / "calibration.csv"
    records.write_text(f"{CHECKS_HEADER}\n{VAN_SENSOR},2025-03-01,2026-03-01,-0.4,DKD-0900\n")
    _, data = certificate(dataset, "de", "--calibration", str(records))
    older = {key: value for key, value in data.items() if key != "signature"} | {"version": 3}
    older["probe"] = {"sensor": VAN_SENSOR, "calibration": data["probe"]["calibration"]}
    path = dataset.directory / "version-3.json"
    path.write_text(json.dumps(resigned(dataset, older)))
    assert "its numbers, limits and actions agree" in dataset.run(
        "verify", "--certificate", str(path)
    )


def test_an_unverified_probe_in_english(dataset: Dataset) -> None:
    records = dataset.directory / "calibration.csv"
    records.write_text(f"{CHECKS_HEADER}\n{VAN_SENSOR},2024-09-01,2025-09-01,-1.5,DKD-0500\n")
    pdf, _ = certificate(dataset, "en", "--calibration", str(records))
    assert (
        "Calibration (EN 13486) unverified (check overdue; deviation beyond ±1 K): checked on "
        "2024-09-01, deviation -1.5 K, check due on 2025-09-01 (DKD-0500)"
    ) in _squeezed(pdf_text(pdf))


def _without_plate(dataset: Dataset, gateway: str) -> None:
    path = Path(dataset.env["COLDCHAIN_REPORT_FLEET"])
    fleet = yaml.safe_load(path.read_text())
    for site in fleet["sites"]:
        for entry in site["gateways"]:
            if entry["id"] == gateway:
                del entry["plate"]
    path.write_text(yaml.safe_dump(fleet, allow_unicode=True))


def test_certificate_says_when_the_vehicle_is_unknown_or_none(dataset: Dataset) -> None:
    _without_plate(dataset, "van-1")
    pdf, data = certificate(dataset)
    assert data["vehicle"] == {"gateway": "van-1", "plate": None}
    assert (
        "Fahrzeug (Kennzeichen) Kennzeichen unbekannt: für Gateway van-1 nicht im "
        "Flottenverzeichnis hinterlegt"
    ) in _squeezed(pdf_text(pdf))
    path = dataset.directory / "delivery.yaml"
    printed = dataset.run(
        "certificate", "--sensor", ROOM_SENSOR, "--from", "2025-10-25T10:00",
        "--to", "2025-10-25T11:00", "--delivery", str(path), "--lang", "en",
        "--out-dir", str(dataset.directory / "room"),
    )  # fmt: skip
    pdf, json_path = (Path(p) for p in printed.split())
    assert json.loads(json_path.read_text())["vehicle"] is None
    assert "Vehicle (plate) none: a stationary probe (gateway cold-room-1)" in _squeezed(
        pdf_text(pdf)
    )


def test_the_documented_delivery_file_makes_a_certificate(dataset: Dataset) -> None:
    example = REPO / "docs" / "examples" / "delivery_tour-nord-stopp-3.yaml"
    printed = dataset.run(
        "certificate", "--sensor", VAN_SENSOR, "--from", "2025-10-26T08:00",
        "--to", "2025-10-26T09:30", "--delivery", str(example),
        "--out-dir", str(dataset.directory / "example"),
    )  # fmt: skip
    data = json.loads(Path(printed.split()[1]).read_text())
    assert data["delivery"]["receiver"]["name"] == "Betriebskantine Mengede"
    assert [item["lot"] for item in data["delivery"]["goods"]] == ["L-251025-07", "L-251024-11"]


def _full_delivery(**changes: Any) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(DELIVERY))
    changed.update(changes)
    return {key: value for key, value in changed.items() if value is not None}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (_full_delivery(responsible=None), "responsible: Field required"),
        (
            _full_delivery(responsible={"name": "Keller", "role": "Fahrerin"}),
            "responsible.name: give the full name (given and family name)",
        ),
        (_full_delivery(responsible={"name": "Sabine Keller"}), "responsible.role: Field required"),
        (_full_delivery(receiver={"name": ""}), "receiver.name: String should have at least 1"),
        (_full_delivery(goods=[]), "goods: List should have at least 1 item"),
        (_full_delivery(delivery_note=None), "or a lot for every item of goods"),
        (_full_delivery(reciever={"name": "x"}), "reciever: Extra inputs are not permitted"),
        (
            _full_delivery(tour="Tour 1\u0007"),
            "tour: one line of text without control characters",
        ),
        (["LS-1"], "does not describe a delivery: expected delivery_note, goods"),
        ("goods: [", "is not YAML or JSON"),
        (b"\xff\xfe\x00", "is not YAML or JSON"),
        ("#" * (64 * 1024 + 1), "larger than 64 KiB"),
    ],
)
def test_a_delivery_file_that_is_not_complete_is_refused(
    dataset: Dataset, content: Any, reason: str
) -> None:
    path = dataset.directory / "delivery.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    output = dataset.run(
        "certificate", "--sensor", VAN_SENSOR, "--from", "2025-10-26T08:00",
        "--to", "2025-10-26T09:30", "--delivery", str(path), code=2,
    )  # fmt: skip
    assert output.startswith(f"error: the delivery file {path}"), output
    assert reason in output, output
    assert not (dataset.directory / "cert").exists(), "no certificate without its delivery"


def test_certificate_needs_its_delivery_and_readable_files(dataset: Dataset) -> None:
    args = ["certificate", "--sensor", VAN_SENSOR, "--from", "2025-10-26T08:00",
            "--to", "2025-10-26T09:30"]  # fmt: skip
    assert "--delivery" in dataset.run(*args, code=2)
    missing = dataset.directory / "none.yaml"
    output = dataset.run(*args, "--delivery", str(missing), code=2)
    assert f"cannot read the delivery file {missing} (No such file or directory)" in output
    path = dataset.directory / "delivery.yaml"
    path.write_text(yaml.safe_dump(DELIVERY))
    output = dataset.run(*args, "--delivery", str(path), "--calibration", str(missing), code=2)
    assert f"cannot read the calibration file {missing}" in output
    output = dataset.run("report", "--asset", ROOM, "--from", "2025-10-25",
                         "--calibration", str(missing), code=2)  # fmt: skip
    assert f"cannot read the calibration file {missing}" in output


def test_verify_matches_until_a_reading_changes(dataset: Dataset) -> None:
    _, data = certificate(dataset)
    json_path = next((dataset.directory / "cert").glob("*.json"))
    assert dataset.run("verify", "--certificate", str(json_path)).startswith("matches: 90 readings")
    assert dataset.run("verify", "--seal", str(data["seal"])).startswith("matches")
    changed = next(s for s in VAN_SAMPLES if s.ts == datetime(2025, 10, 26, 7, 20, 30, tzinfo=UTC))
    dataset.influxdb.write(dataset.database, line(Sample(changed.ts, 4.5), VAN, VAN_SENSOR))
    output = dataset.run("verify", "--certificate", str(json_path), code=1)
    assert output.startswith("does not match: 90 readings"), output
    assert dataset.run("verify", "--seal", str(data["seal"]), code=1).startswith("does not match")


def resigned(dataset: Dataset, data: dict[str, Any]) -> dict[str, Any]:
    """`data` signed again with the hub's own key: what a hub that signed a wrong
    certificate would hand out. Its signature holds; the database check must not."""
    return signing.sign(
        data, keys.load_signing_key(Path(dataset.env["COLDCHAIN_REPORT_SIGNING_KEY"]))
    )


def test_verify_notices_an_edited_certificate(dataset: Dataset) -> None:
    _, data = certificate(dataset)
    data["to"] = {"utc": "2025-10-26T08:00:00Z", "local": "2025-10-26T09:00:00+01:00"}
    edited = dataset.directory / "edited.json"
    edited.write_text(json.dumps(data))
    output = dataset.run("verify", "--certificate", str(edited), code=1)
    assert output.startswith("not verified: the signature does not match the contents"), output
    edited.write_text(json.dumps(resigned(dataset, data)))
    assert "was edited" in dataset.run("verify", "--certificate", str(edited), code=1)


def test_verify_notices_edited_numbers_limits_and_actions(dataset: Dataset) -> None:
    """The seal covers the readings, not what the certificate says about them: verify
    computes the certificate again from the readings and compares every field."""
    _, data = certificate(dataset)

    def edited(change: Callable[[dict[str, Any]], None]) -> str:
        copy = json.loads(json.dumps(data))
        change(copy)
        path = dataset.directory / "edited.json"
        path.write_text(json.dumps(resigned(dataset, copy)))
        return dataset.run("verify", "--certificate", str(path), code=1)

    def lower_the_peak(d: dict[str, Any]) -> None:
        d["max_c"], d["beyond"]["max_c"]["seconds"] = 5.9, 0.0

    output = edited(lower_the_peak)
    assert output.startswith("does not match:"), output
    assert "max_c: the certificate says 5.9, the readings give 7.1" in output
    assert "beyond.max_c.seconds: the certificate says 0.0, the readings give 720.0" in output

    output = edited(lambda d: d["limits"].update(max_c=10.0))
    assert "limits.max_c: the certificate says 10.0, the fleet file gives 6.0" in output

    def release_to_discard(d: dict[str, Any]) -> None:
        d["excursions"][0]["actions"][0]["product_decision"] = "discard"

    output = edited(release_to_discard)
    assert "excursions.0.actions.0.product_decision: the certificate says 'discard'" in output

    output = edited(lambda d: d.pop("excursions"))
    assert "excursions: missing from the certificate" in output

    output = edited(lambda d: d["vehicle"].update(plate="DO-XY 999"))
    assert "vehicle.plate: the certificate says 'DO-XY 999', the fleet file gives 'DO-RW 101'" in (
        output
    )

    def overdue_as_valid(d: dict[str, Any]) -> None:
        d["probe"]["calibration"] = _calibration(
            "valid", "2024-09-01", "2025-09-01", 0.3, "DKD-0815", []
        )
        d["probe"]["checks"] = [_stated_check(d["probe"]["calibration"])]

    output = edited(overdue_as_valid)
    assert (
        "probe.calibration.state: the certificate says 'valid', its calibration dates and "
        "hand-over give 'unverified'"
    ) in output
    assert (
        "probe.calibration.reasons: the certificate lists 0, its calibration dates and "
        "hand-over give 1"
    ) in output

    def deviation_hidden(d: dict[str, Any]) -> None:
        d["probe"]["calibration"] = _calibration(
            "valid", "2025-03-01", "2026-03-01", 1.4, "DKD-0901", []
        )
        d["probe"]["checks"] = [_stated_check(d["probe"]["calibration"])]

    output = edited(deviation_hidden)
    assert "probe.calibration.state: the certificate says 'valid'" in output


def test_verify_refuses_what_it_cannot_read_as_a_certificate_of_today(dataset: Dataset) -> None:
    _, data = certificate(dataset)
    path = dataset.directory / "changed.json"
    for change, reason in [
        ({"version": 2}, "of version 2, which carries no delivery data"),
        ({"delivery": "Tour 1"}, "the certificate's delivery does not describe a delivery"),
        ({"probe": {"sensor": VAN_SENSOR}}, "garbles its probe's calibration"),
    ]:
        path.write_text(json.dumps(resigned(dataset, data | change)))
        output = dataset.run("verify", "--certificate", str(path), code=2)
        assert reason in output, output


def test_verify_fails_closed_on_a_file_it_cannot_use(dataset: Dataset) -> None:
    output = dataset.run("verify", "--certificate", str(dataset.directory / "none.json"), code=2)
    assert "does not exist" in output
    output = dataset.run("verify", "--certificate", "/proc/self/mem", code=2)
    assert "cannot read /proc/self/mem" in output
    _, data = certificate(dataset)
    del data["seal"]
    unsealed = dataset.directory / "unsealed.json"
    unsealed.write_text(json.dumps(resigned(dataset, data)))
    assert "not a seal" in dataset.run("verify", "--certificate", str(unsealed), code=2)


def test_errors_say_what_to_do(dataset: Dataset) -> None:
    output = dataset.run("report", "--asset", "cold-room-9", "--from", "2025-10-25", code=2)
    assert "no asset 'cold-room-9'" in output and "cold-room-1" in output
    delivery = dataset.directory / "delivery.yaml"
    delivery.write_text(yaml.safe_dump(DELIVERY))
    output = dataset.run("certificate", "--sensor", "van-1.door", "--from", "2025-10-26T08:00",
                         "--to", "2025-10-26T07:00", "--delivery", str(delivery),
                         code=2)  # fmt: skip
    assert "no temperature sensor 'van-1.door'" in output
    output = dataset.run("certificate", "--sensor", VAN_SENSOR, "--from", "2025-10-26T08:00",
                         "--to", "2025-10-26T07:00", "--delivery", str(delivery),
                         code=2)  # fmt: skip
    assert "must be after loading" in output
    output = dataset.run("verify", "--seal", '{"v":1}', code=2)
    assert "not a seal" in output
    dataset.influxdb.write(
        dataset.database,
        f"{measurements.ALERT_ACTION},site=dortmund-hub,alert_id=15,action=closed,"
        f'severity=critical,asset={ROOM},sensor={ROOM_SENSOR} actor="x",cause="",'
        'corrective_action="",product_decision="release",comment="" 1761400000000000000',
    )
    output = dataset.run("report", "--asset", ROOM, "--from", "2025-10-25", code=2)
    assert "closing of alert 15" in output and "has no started_ns" in output
    dataset.env["COLDCHAIN_REPORT_INFLUX_URL"] = f"http://127.0.0.1:{free_port()}"
    output = dataset.run("report", "--asset", ROOM, "--from", "2025-10-25", code=2)
    assert "unreachable" in output and "COLDCHAIN_REPORT_INFLUX_URL" in output


def test_the_plots_axes_are_text_in_the_pdfs(dataset: Dataset) -> None:
    """The plots are drawn as vectors: their axis labels and ticks are text in the PDF.
    Two local days (24 h + 25 h) have a tick each 6 hours at local 00, 06, 12 and 18 h;
    the 90-minute delivery one each 10 minutes, in CET; the °C axis one each kelvin."""
    out = dataset.directory / "out"
    dataset.run("report", "--asset", ROOM, "--from", "2025-10-25", "--to", "2025-10-27",
                "--lang", "de", "--out-dir", str(out))  # fmt: skip
    text = _squeezed(pdf_text(out / "report_cold-room-1_2025-10-25_2025-10-26_de.pdf"))
    days = " ".join(["25.10."] * 4 + ["26.10."] * 4 + ["27.10."])
    hours = " ".join(["00:00", "06:00", "12:00", "18:00"] * 2 + ["00:00"])
    for label in ["Temperaturverlauf 8 7 Temperatur (°C) 6 5 4 3 2 1 0 -1", days, hours,
                  "Ortszeit (Europe/Berlin)", "Überschreitung der Alarmgrenzen",
                  "Obere Alarmgrenze 5,0 °C"]:  # fmt: skip
        assert label in text, label
    pdf, _ = certificate(dataset, "en")
    text = _squeezed(pdf_text(pdf))
    ticks = " ".join(f"{8 + minutes // 60:02d}:{minutes % 60:02d}" for minutes in range(0, 91, 10))
    for label in ["Temperature (°C) 6 5 4 3 2 1 0 -1", ticks, "Local time (Europe/Berlin)",
                  "Beyond alarm limits", "Legal maximum 6.0 °C = Upper alarm limit"]:  # fmt: skip
        assert label in text, label
