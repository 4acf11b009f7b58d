"""Excursions told one way: the daily rollup, the report's CSV and PDF, and the alarms.

A seeded dataset of cold room 1 (one reading a minute, 3.0 °C between the features)
over both clock-change days of 2026 in Europe/Berlin goes into a real InfluxDB:

- 29 March (23 h): a 60-minute wobble of ±0.3 K around the 6 °C limit, an 8-minute
  spike to 8 °C (shorter than the 10-minute alarm delay), a two-hour gap, and from
  23:30 an excursion to 9 °C across midnight, with a five-minute gap inside it;
- 30 March: the rest of that excursion (to 00:40), and a door opening at 09:00 with
  a 14-minute rise to 8 °C that ends within the 15-minute door grace;
- 25 October (25 h): an excursion to 7 °C through the doubled hour (02:30 CEST to
  02:30 CET) and an hour's gap;
- 26 October: 30 minutes at -2 °C, below the lower limit (-1 °C).

`coldchain-rollup` (ingest's rollup) computes the days into `compliance_daily`, and
`coldchain-report` writes the CSV and the PDF; each is checked against numbers worked
out by hand below, and the rule engine run over the same readings and door events
raises as many critical temperature alarms on each day as the days count excursions.
"""

from __future__ import annotations

import csv
import math
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner

from coldchain import measurements
from coldchain.contract import AlertState, Event, EventKind, Reading, Severity
from coldchain.engine import EngineState, RuleEngine
from coldchain.fleet import Fleet
from coldchain.retention import DEFAULT_RETENTION_DAYS
from coldchain_devstack.servers import InfluxDB
from coldchain_devstack.stack import DEMO_FLEET, SITE
from coldchain_ingest import influxsetup
from coldchain_ingest.cli import rollup_app
from coldchain_ingest.influx import Influx
from coldchain_ingest.rollup import DayWriter, Span, watched_sensors
from coldchain_reports.cli import app as report_app
from tests.signed import signing_env

BERLIN = ZoneInfo("Europe/Berlin")
ASSET, SENSOR, DOOR = "cold-room-1", "cold-room-1.air", "cold-room-1.door"
#: The asset's limits: meat products (6 °C; alarm band -1..6 °C, hysteresis 0.5 K,
#: absolute 12 °C, door grace 15 min) with a 10-minute alarm delay.
LIMITS = {"delay_s": 600}
BASE_C = 3.0
MARCH = (date(2026, 3, 29), date(2026, 3, 30))
OCTOBER = (date(2026, 10, 25), date(2026, 10, 26))


def local(day: date, hh: int, mm: int, fold: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=BERLIN, fold=fold).astimezone(UTC)


def minutes(first: datetime, last: datetime) -> list[datetime]:
    """Every minute from `first` up to, not including, `last`."""
    count = int((last - first) / timedelta(minutes=1))
    return [first + timedelta(minutes=n) for n in range(count)]


WOBBLE = (local(MARCH[0], 10, 0), local(MARCH[0], 11, 0))
SPIKE = (local(MARCH[0], 14, 0), local(MARCH[0], 14, 8))
GAP_MARCH = (local(MARCH[0], 16, 0), local(MARCH[0], 18, 0))
MIDNIGHT = (local(MARCH[0], 23, 30), local(MARCH[1], 0, 40))
GAP_IN_MIDNIGHT = (local(MARCH[0], 23, 50), local(MARCH[0], 23, 55))
DOOR_OPEN = local(MARCH[1], 9, 0)
DOOR_RISE = (DOOR_OPEN, local(MARCH[1], 9, 14))
DOUBLED_HOUR = (local(OCTOBER[0], 2, 30), local(OCTOBER[0], 2, 30, fold=1))
GAP_OCTOBER = (local(OCTOBER[0], 12, 0), local(OCTOBER[0], 13, 0))
COLD = (local(OCTOBER[1], 6, 0), local(OCTOBER[1], 6, 30))


def temperature(ts: datetime) -> float | None:
    def within(span: tuple[datetime, datetime]) -> bool:
        return span[0] <= ts < span[1]

    if within(GAP_MARCH) or within(GAP_IN_MIDNIGHT) or within(GAP_OCTOBER):
        return None
    if within(WOBBLE):
        return 6.3 if ts.minute % 2 == 0 else 5.7
    if within(SPIKE) or within(DOOR_RISE):
        return 8.0
    if within(MIDNIGHT):
        return 9.0
    if within(DOUBLED_HOUR):
        return 7.0
    if within(COLD):
        return -2.0
    return BASE_C


def readings() -> list[tuple[datetime, float]]:
    """From two hours before each window's first day to two hours after its last."""
    times = minutes(local(MARCH[0], 0, 0) - timedelta(hours=2), local(date(2026, 3, 31), 2, 0))
    times += minutes(local(OCTOBER[0], 0, 0) - timedelta(hours=2), local(date(2026, 10, 27), 2, 0))
    return [(ts, temp) for ts in times if (temp := temperature(ts)) is not None]


DOOR_EVENTS = [(DOOR_OPEN, EventKind.DOOR_OPEN), (local(MARCH[1], 9, 5), EventKind.DOOR_CLOSED)]


@dataclass(frozen=True)
class Day:
    """One local day's numbers, worked out by hand from the features above."""

    hours: int
    samples: int
    uncovered_s: float
    beyond_s: float
    degree_minutes: float
    above: int
    below: int
    short: int
    #: Readings by value: for min, max, mean and MKT.
    values: dict[float, int]
    above_legal_s: float
    legal_degree_minutes: float
    legal_excursions: int


# 29 March, 23 h = 1380 minutes. Gaps: 16:00-18:00 (120 readings, 7200 s) and 23:50-23:55
# inside the midnight excursion (5 readings; 23:49 holds one minute, so 300 s uncovered).
# Beyond 6 °C: the wobble's 30 readings at 6.3 (1800 s, 30 x 0.3 = 9 K·min), the spike's
# 8 at 8.0 (480 s, 16 K·min), the midnight excursion's 20 + 5 readings at 9.0 before
# midnight (1500 s, 25 x 3 = 75 K·min). Counted here: the wobble (one excursion, not 30)
# and the midnight excursion (it starts here); the spike is a short deviation.
# 30 March, 1440 minutes: the midnight excursion's 40 readings at 9.0 (2400 s, 120 K·min;
# counted on the 29th) and the door rise's 14 at 8.0 (840 s, 28 K·min; a short deviation:
# it lasted the 10-minute delay, but ended within the door's 15-minute grace).
# 25 October, 25 h = 1500 minutes, an hour's gap (60 readings): 60 readings at 7.0 from
# 02:30 CEST to 02:30 CET (3600 s, 60 K·min), one excursion.
# 26 October: 30 readings at -2.0 (1800 s, 30 K·min below -1 °C), one excursion below; the
# legal maximum has no lower limit.
DAYS = {
    MARCH[0]: Day(
        23, 1380 - 125, 7200 + 300, 1800 + 480 + 1500, 9 + 16 + 75, 2, 0, 1,
        {6.3: 30, 5.7: 30, 8.0: 8, 9.0: 25, BASE_C: 1380 - 125 - 93},
        1800 + 480 + 1500, 9 + 16 + 75, 2,
    ),
    MARCH[1]: Day(
        24, 1440, 0, 2400 + 840, 120 + 28, 0, 0, 1,
        {9.0: 40, 8.0: 14, BASE_C: 1440 - 54},
        2400 + 840, 120 + 28, 0,
    ),
    OCTOBER[0]: Day(
        25, 1500 - 60, 3600, 3600, 60, 1, 0, 0, {7.0: 60, BASE_C: 1440 - 60}, 3600, 60, 1
    ),
    OCTOBER[1]: Day(
        24, 1440, 0, 1800, 30, 0, 1, 0, {-2.0: 30, BASE_C: 1410}, 0, 0, 0
    ),
}  # fmt: skip


def mkt(values: dict[float, int]) -> float:
    """Mean kinetic temperature as the BRIEF writes it, ΔH/R = 10 000 K."""
    n = sum(values.values())
    total = sum(count * math.exp(-10_000 / (temp + 273.15)) for temp, count in values.items())
    return 10_000 / -math.log(total / n) - 273.15


def expected_fields(day: date) -> dict[str, float | int | str]:
    hand = DAYS[day]
    duration = hand.hours * 3600.0
    covered = duration - hand.uncovered_s
    in_range = covered - hand.beyond_s
    count = sum(hand.values.values())
    return {
        "preliminary": False,  # every day here has ended
        "limit_periods": 1,  # one fleet, no change
        "duration_s": duration,
        "interval_s": 60.0,
        "samples": hand.samples,
        "covered_s": covered,
        "coverage_pct": covered / duration * 100,
        "alarm_max_c": 6.0,
        "alarm_min_c": -1.0,
        "in_range_s": in_range,
        "time_in_range_pct": in_range / duration * 100,
        "excursion_s": hand.beyond_s,
        "degree_minutes": hand.degree_minutes,
        "excursions": hand.above + hand.below,
        "excursions_above": hand.above,
        "excursions_below": hand.below,
        "short_deviations": hand.short,
        "legal_max_c": 6.0,
        "time_in_legal_range_pct": (covered - hand.above_legal_s) / duration * 100,
        "above_legal_s": hand.above_legal_s,
        "legal_degree_minutes": hand.legal_degree_minutes,
        "legal_excursions": hand.legal_excursions,
        "min_c": min(hand.values),
        "max_c": max(hand.values),
        "mean_c": sum(t * c for t, c in hand.values.items()) / count,
        "mkt_c": mkt(hand.values),
        "calibration": "unknown",  # no check of the probe in the register
        "unverified_readings": 0,
    }


def _ns(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


@dataclass
class Seeded:
    influxdb: InfluxDB
    database: str
    fleet: Path
    directory: Path

    def rollup(self, first: date, last: date) -> None:
        env = {
            "COLDCHAIN_INGEST_INFLUX_URL": self.influxdb.url,
            "COLDCHAIN_INGEST_INFLUX_DB": self.database,
            "COLDCHAIN_INGEST_FLEET": str(self.fleet),
        }
        args = ["--from", first.isoformat(), "--to", (last + timedelta(days=1)).isoformat()]
        result = CliRunner().invoke(rollup_app, [*args, "--sensor", SENSOR], env=env)
        assert result.exit_code == 0, result.output

    def daily(self, day: date) -> dict[str, Any]:
        (series,) = self.influxdb.query(
            self.database,
            f'SELECT * FROM "{measurements.COMPLIANCE_DAILY}" WHERE time = {_ns(local(day, 0, 0))}',
        )
        (row,) = series["values"]
        return dict(zip(series["columns"], row, strict=True))

    def report(self, first: date, last: date, lang: str = "de") -> tuple[Path, Path]:
        env = {
            "COLDCHAIN_REPORT_INFLUX_URL": self.influxdb.url,
            "COLDCHAIN_REPORT_INFLUX_DB": self.database,
            "COLDCHAIN_REPORT_FLEET": str(self.fleet),
        } | signing_env(self.directory)
        out = self.directory / "out"
        args = ["report", "--asset", ASSET, "--from", first.isoformat(),
                "--to", (last + timedelta(days=1)).isoformat(), "--lang", lang,
                "--out-dir", str(out)]  # fmt: skip
        result = CliRunner().invoke(report_app, args, env=env)
        assert result.exit_code == 0, result.output
        pdf, csv_path, _json = result.output.split()[:3]
        return Path(pdf), Path(csv_path)


@pytest.fixture(scope="module")
def seeded(influxdb: InfluxDB, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    directory = tmp_path_factory.mktemp("seeded")
    database = f"test_{uuid.uuid4().hex[:12]}"
    setup = Influx(influxdb.url, database)
    influxsetup.set_up(setup, DEFAULT_RETENTION_DAYS)
    setup.close()
    tags = f"temperature,site={SITE},gateway=cold-room-1,sensor={SENSOR},asset={ASSET}"
    lines = [f"{tags} temp_c={temp!r},seq=1i {_ns(ts)}" for ts, temp in readings()]
    lines += [
        f"event,site={SITE},gateway=cold-room-1,sensor={DOOR},kind={kind.value} seq=1i {_ns(ts)}"
        for ts, kind in DOOR_EVENTS
    ]
    influxdb.write(database, "\n".join(lines))
    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    for site in fleet["sites"]:
        for asset in site["assets"]:
            if asset["id"] == ASSET:
                asset["limits"] = LIMITS
        for gateway in site["gateways"]:
            if gateway["id"] == "cold-room-1":
                gateway["sensors"] = [
                    {"id": SENSOR, "asset": ASSET, "interval_s": 60},
                    {"id": DOOR, "asset": ASSET, "kind": "door"},
                ]
    path = directory / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet))
    yield Seeded(influxdb, database, path, directory)


def test_the_daily_rollup_has_the_numbers_worked_out_by_hand(seeded: Seeded) -> None:
    seeded.rollup(*MARCH)
    seeded.rollup(*OCTOBER)
    for day in [*MARCH, *OCTOBER]:
        shown = seeded.daily(day)
        numbers = {k: v for k, v in shown.items() if k not in ("time", "site", "asset", "sensor")}
        expected = expected_fields(day)
        assert set(numbers) == set(expected), day
        for name, value in expected.items():
            wanted = value if isinstance(value, str) else pytest.approx(value, rel=1e-9, abs=1e-9)
            assert numbers[name] == wanted, (day, name)


def test_the_report_csv_has_the_same_days_and_states_its_conventions(seeded: Seeded) -> None:
    _, march = seeded.report(*MARCH)
    _, october = seeded.report(*OCTOBER)
    rows = []
    for path in (march, october):
        with path.open() as file:
            rows += list(csv.DictReader(file))
    assert [row["day"] for row in rows] == [d.isoformat() for d in [*MARCH, *OCTOBER]]
    for row in rows:
        day = date.fromisoformat(row["day"])
        hand, fields = DAYS[day], expected_fields(day)
        assert row["day_hours"] == str(hand.hours) and float(row["duration_s"]) == hand.hours * 3600
        assert int(row["readings"]) == hand.samples
        assert int(row["alarm_excursions"]) == hand.above + hand.below
        assert int(row["short_deviations"]) == hand.short
        for column, name in [
            ("covered_s", "covered_s"), ("coverage_pct", "coverage_pct"),
            ("in_range_s", "in_range_s"), ("time_in_range_pct", "time_in_range_pct"),
            ("beyond_alarm_s", "excursion_s"), ("alarm_degree_minutes", "degree_minutes"),
            ("above_regulatory_s", "above_legal_s"),
            ("regulatory_degree_minutes", "legal_degree_minutes"),
            ("mean_c", "mean_c"), ("mkt_c", "mkt_c"),
        ]:  # fmt: skip
            assert float(row[column]) == pytest.approx(fields[name], abs=0.0005), (day, column)
        assert (row["alarm_delay_s"], row["hysteresis_k"], row["interval_s"]) == (
            "600",
            "0.5",
            "60",
        )
        assert (row["reading_holds_at_most_s"], row["door_grace_s"]) == ("90", "900")
        assert row["timezone"] == "Europe/Berlin"
    by_day = {row["day"]: row for row in rows}
    assert by_day["2026-03-30"]["alarm_excursions_carried"] == "1", "the midnight excursion"
    assert by_day["2026-03-29"]["short_deviation_s"] == "480"
    assert by_day["2026-03-30"]["short_deviation_s"] == "840"


def pdf_text(path: Path, raw: bool = False) -> str:
    text = subprocess.run(
        ["pdftotext", "-raw" if raw else "-layout", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return re.sub(r"\s+", " ", text)


def test_the_report_pdf_lists_excursions_and_short_deviations_as_what_they_are(
    seeded: Seeded,
) -> None:
    pdf, _ = seeded.report(*MARCH)
    text, raw = pdf_text(pdf), pdf_text(pdf, raw=True)
    assert "Überschreitungen 2 2" in text and "Kurze Abweichungen 2 2" in text
    assert "Stunden" in text and "So 29.03.2026 23 1255" in raw, "the 23-hour day"
    assert "Mo 30.03.2026 24 1440" in raw
    wobble = "1 29.03.2026 10:00 MESZ 29.03.2026 11:00 MESZ 1:00:00 6,3 °C 9,0 nicht erfasst"
    assert wobble in raw, "the wobble is one excursion"
    midnight = "2 29.03.2026 23:30 MESZ 30.03.2026 00:40 MESZ 1:10:00 9,0 °C 195,0 nicht erfasst"
    assert midnight in raw, "judged as a whole"
    assert "2: Gradminuten je Tag: 29.03.2026: 75,0; 30.03.2026: 120,0 K·min" in text
    assert "3 29.03.2026" not in raw, "nothing else is an excursion"
    assert (
        "1 29.03.2026 14:00 MESZ 29.03.2026 14:08 MESZ 0:08:00 8,0 °C 16,0 "
        "kürzer als die Alarmverzögerung (0:10:00)"
    ) in raw
    assert (
        "2 30.03.2026 09:00 MESZ 30.03.2026 09:14 MESZ 0:14:00 8,0 °C 28,0 "
        "in der Nachfrist nach Türöffnung oder Abtauung"
    ) in raw
    assert "kürzer als die Alarmverzögerung oder" not in text, "never 'not recorded: too short'"
    for convention in [
        "In diesem Bericht: 29.03.2026 23 h, 30.03.2026 24 h.",
        "binnen 1,5 Messintervallen (0:01:30) folgt, sonst ein Messintervall (0:01:00)",
        "Zeit ohne Messwert ist weder innerhalb noch außerhalb und nie konform",
        "um die Hysterese (0,5 K) zurück ist; eine Lücke beendet sie nicht",
        "die Alarmverzögerung (0:10:00) gedauert hat; nach einer Türöffnung wartet sie 0:15:00",
        "am Tag ihres Beginns gezählt",
        "höchstens 7 Tage weit",
    ]:
        assert convention in text, convention
    english, _ = seeded.report(*OCTOBER, lang="en")
    text, raw = pdf_text(english), pdf_text(english, raw=True)
    assert "In this report: 2026-10-25 25 h, 2026-10-26 24 h." in text
    assert "Sun 2026-10-25 25 1440" in raw
    assert "1 2026-10-25 02:30 CEST 2026-10-25 02:30 CET 1:00:00 7.0 °C 60.0" in raw
    assert "2 2026-10-26 06:00 CET 2026-10-26 06:30 CET 0:30:00 -2.0 °C 30.0" in raw
    assert "No short deviation in this period." in text


def test_the_alarms_of_each_day_are_its_excursions(seeded: Seeded) -> None:
    """The rule engine over the same readings and door events raises one critical
    temperature alarm per excursion the days count, on the day it starts."""
    fleet = Fleet.from_yaml(seeded.fleet.read_text())
    engine = RuleEngine(fleet, EngineState(started_at=local(MARCH[0], 0, 0)))
    outcome = engine.observe(
        [Reading(sensor=SENSOR, ts=ts, temp_c=temp) for ts, temp in readings()],
        [Event(sensor=DOOR, ts=ts, kind=kind) for ts, kind in DOOR_EVENTS],
    )
    raised = [
        alert
        for alert in outcome.alerts
        if alert.state is AlertState.RAISED
        and alert.severity is Severity.CRITICAL
        and alert.rule in ("over_max", "under_min", "over_absolute")
    ]
    alarms = {day: 0 for day in DAYS}
    for alert in raised:
        alarms[alert.started_at.astimezone(BERLIN).date()] += 1
    assert alarms == {day: hand.above + hand.below for day, hand in DAYS.items()}
    seeded.rollup(*MARCH)
    seeded.rollup(*OCTOBER)
    assert {day: seeded.daily(day)["excursions"] for day in DAYS} == alarms


def test_the_rollup_watches_the_readings_that_judged_a_day(seeded: Seeded) -> None:
    """A day judged with readings beyond its reach (the excursion across midnight) is
    watched over them: a late reading there marks it again (RollupJob)."""
    watched = watched_sensors(Fleet.from_yaml(seeded.fleet.read_text()))[SENSOR]
    influx = Influx(seeded.influxdb.url, seeded.database)
    writer = DayWriter(influx)
    reach = timedelta(seconds=90)
    try:
        first, second = (writer.write(watched, day, day) for day in MARCH)
        assert first == Span(local(MARCH[0], 0, 0) - reach, MIDNIGHT[1]), "forward to its end"
        assert second == Span(
            MIDNIGHT[0] - timedelta(minutes=1), local(date(2026, 3, 31), 0, 0) + reach
        ), "back to the last reading before it"
        assert writer.write(watched, OCTOBER[0], OCTOBER[0]) is None, "its reach was enough"
    finally:
        influx.close()
