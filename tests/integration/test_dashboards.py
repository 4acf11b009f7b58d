"""The dashboards by what they show: every query of the committed JSON against InfluxDB.

A known dataset goes into a real InfluxDB: readings, alert events, excursions, the
alerts service's alert actions and audit-log chain, and the daily compliance rollup
that `coldchain-rollup` (ingest's rollup code) computes from those readings. Every
panel target, annotation and variable query of every `dashboards/*/*.json` (German
and English) runs as Grafana would send it (template variables substituted for a
time range); the daily compliance table must give the numbers of
coldchain.compliance.daily_stats for the same readings.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner

from coldchain import calibration, measurements
from coldchain.calibration import Calibration
from coldchain.compliance import Band, PeriodStats, Rules, Sample, daily_stats, local_day_bounds
from coldchain.fleet import Fleet
from coldchain.languages import Language
from coldchain.rollup import day_records
from coldchain_dashboards import build
from coldchain_dashboards.audit import chain_title, verifications_title
from coldchain_dashboards.compliance import table_title
from coldchain_dashboards.language import LANGUAGES
from coldchain_dashboards.queries import TABLE_FIELDS
from coldchain_dashboards.sites import SITELESS
from coldchain_devstack import REPO
from coldchain_devstack.servers import InfluxDB
from coldchain_devstack.stack import DEMO_FLEET, SITE
from coldchain_ingest.cli import app as ingest_app
from coldchain_ingest.cli import rollup_app
from coldchain_io.lineprotocol import point
from tests.twosites import (
    CANTEEN,
    CANTEEN_ASSET,
    CANTEEN_GATEWAY,
    CANTEEN_INTERVAL_S,
    CANTEEN_SENSOR,
    two_sites_data,
    two_sites_yaml,
)

BOARDS = REPO / "dashboards"
BERLIN = ZoneInfo("Europe/Berlin")
FIRST_DAY, LAST_DAY = date(2026, 3, 28), date(2026, 3, 30)  # 29 March: 23 hours
START, _ = local_day_bounds(FIRST_DAY)
_, END = local_day_bounds(LAST_DAY)
INTERVAL_S = 5  # both assets' probes in the demo fleet
CHILLED, FROZEN = "cold-room-1", "freezer-1"  # alarm band -1..6 °C; at most -18 °C
GRAFANA_REGEX_SPECIALS = set("/.*+?|()[]{}\\")


def _local(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=BERLIN).astimezone(UTC)


def _chilled(ts: datetime) -> float | None:
    """cold-room-1: gaps, excursions on both sides, one across midnight, limit values."""
    local = ts.astimezone(BERLIN)
    day, clock = local.date(), (local.hour, local.minute, local.second)
    if day == date(2026, 3, 29) and (10, 0, 0) <= clock < (10, 30, 0):
        return None  # a 30-minute gap on the daylight-saving day
    if day == date(2026, 3, 30) and clock == (8, 1, 0):
        return None  # one missing reading ends no excursion
    if day == date(2026, 3, 29) and (3, 10, 0) <= clock < (3, 25, 0):
        return 6.5 + 0.1 * local.minute  # above the band on the daylight-saving day
    if day == date(2026, 3, 28) and (14, 0, 0) <= clock < (14, 5, 0):
        return -1.5  # below
    if day == date(2026, 3, 28) and (16, 0, 0) <= clock < (16, 0, 30):
        return 8.0  # above, then straight below: two stretches, each shorter than the delay
    if day == date(2026, 3, 28) and (16, 0, 30) <= clock < (16, 1, 0):
        return -2.0
    if (day, clock) >= (date(2026, 3, 29), (23, 58, 0)) and (day, clock) < (
        date(2026, 3, 30),
        (0, 3, 0),
    ):
        return 7.5  # across local midnight: counts on the day it starts
    if day == date(2026, 3, 30) and (8, 0, 0) <= clock < (8, 2, 0):
        return 6.2
    if clock[1] == 30 and clock[2] == 0:
        return 6.0 if clock[0] % 2 else -1.0  # exactly at a limit: in range
    return 3.0 + 0.5 * math.sin(ts.timestamp() / 3600)


def _frozen(ts: datetime) -> float | None:
    """freezer-1: above its maximum as the range starts and in the afternoon of the 29th."""
    local = ts.astimezone(BERLIN)
    if local < START.astimezone(BERLIN) + timedelta(minutes=2):
        return -17.0  # above before the range: counted on the day it started, not in the range
    if local.date() == date(2026, 3, 29) and 15 <= local.hour < 16 and local.minute < 10:
        return -16.0 - local.minute / 10
    if local.date() == date(2026, 3, 30) and local.hour == 6:
        return None  # an hour without data
    return -21.0 + 0.3 * math.cos(ts.timestamp() / 5000)


SERIES = {
    CHILLED: ("cold-room-1.air", "cold-room-1", _chilled),
    FROZEN: ("freezer-1.air", "freezer-1", _frozen),
}


def _samples() -> dict[str, list[Sample]]:
    """Readings every 5 s from an hour before the range to an hour after it."""
    samples: dict[str, list[Sample]] = {asset: [] for asset in SERIES}
    ts = START - timedelta(hours=1)
    while ts < END + timedelta(hours=1):
        for asset, (_, _, temp) in SERIES.items():
            value = temp(ts)
            if value is not None:
                samples[asset].append(Sample(ts, value))
        ts += timedelta(seconds=INTERVAL_S)
    return samples


def _lines(samples: dict[str, list[Sample]]) -> list[str]:
    lines = []
    for asset, readings in samples.items():
        sensor, gateway, _ = SERIES[asset]
        tags = f"temperature,site={SITE},gateway={gateway},sensor={sensor},asset={asset}"
        lines += [f"{tags} temp_c={s.temp_c!r},seq=1i {_ns(s.ts)}" for s in readings]
    raised, cleared = _local(FIRST_DAY, 14, 0, 30), _local(FIRST_DAY, 14, 5)
    excursion_start, excursion_end = (
        _local(date(2026, 3, 29), 15, 0),
        _local(date(2026, 3, 29), 15, 10),
    )
    lines += [
        *_alarm("under_min", raised, cleared),
        _alert("no_data", "raised", cleared + timedelta(minutes=1), cleared, "gateway=van-1"),
        f"excursion,site={SITE},asset={FROZEN},sensor=freezer-1.air,rule=over_max,"
        "severity=critical ended=true,alarmed=true,peak_c=-15.1,limit_c=-18.0,"
        f"regulatory_limit_c=-18.0,degree_minutes=14.5,duration_s=600.0,"
        f"end_ns={_ns(excursion_end)}i {_ns(excursion_start)}",
        f"position,site={SITE},gateway=van-1 lat=51.51,lon=7.46,seq=3i {_ns(END) - 10**9}",
        *_audit_lines(raised),
    ]
    return lines + _recent_lines(datetime.now(UTC).replace(microsecond=0))


def _audit_lines(raised: datetime) -> list[str]:
    """The alerts service's records: alert 7 (cold-room-1, under_min) handled to the end,
    alert 8 (freezer-1) only opened; the audit log's entries and a verification."""
    seven = f"site={SITE},alert_id=7,severity=critical,asset={CHILLED},sensor=cold-room-1.air"
    eight = f"site={SITE},alert_id=8,severity=critical,asset={FROZEN},sensor=freezer-1.air"
    started = f"started_ns={_ns(raised)}i"
    steps = [
        (seven, "opened", 1, f'actor="system",comment="",{started}', "unacknowledged"),
        (
            seven,
            "notified",
            2,
            f'actor="system",comment="SMS an Schicht",level=1i,{started}',
            "unacknowledged",
        ),
        (
            seven,
            "acknowledged",
            600,
            f'actor="m.mueller",comment="Tür stand offen",{started}',
            "decision_due",
        ),
        (seven, "escalated", 1800, f'actor="system",comment="",level=2i,{started}', "decision_due"),
        (
            seven,
            "closed",
            3600,
            'actor="m.mueller",comment="",cause="Tür offen gelassen",'
            'corrective_action="Tür geschlossen, Ware umgelagert",'
            f'product_decision="release",{started}',
            "closed",
        ),
        (eight, "opened", 7200, f'actor="system",comment="",{started}', "unacknowledged"),
    ]
    lines = [
        f'{measurements.ALERT_ACTION},{tags},action={action} {fields},standing="{standing}" '
        f"{_ns(raised + timedelta(seconds=after))}"
        for tags, action, after, fields, standing in steps
    ]
    lines += [
        f'{measurements.AUDIT_CHAIN} seq={seq}i,sha256="{seq:064x}",action="acknowledged",'
        f'actor="m.mueller" {_ns(raised + timedelta(minutes=seq))}'
        for seq in (1, 2, 3)
    ]
    return [
        *lines,
        f'{measurements.AUDIT_VERIFY} ok=true,entries=3i,first_bad_seq=0i,problem="" '
        f"{_ns(raised + timedelta(hours=2))}",
    ]


def _recent_lines(now: datetime) -> list[str]:
    """The state the operations panels look back for from now(): alerts, battery, probes."""
    hours_ago = [now - timedelta(hours=h) for h in (3, 2, 1)]
    minute_ago = _ns(now - timedelta(minutes=1))
    return [
        *_alarm("over_max", hours_ago[0], hours_ago[1]),
        _alert("no_data", "raised", hours_ago[2], hours_ago[2], "gateway=van-1"),
        f"gateway,site={SITE},gateway=van-1 battery_v=3.7,seq=9i {minute_ago}",
        f"temperature,site={SITE},gateway=cold-room-1,sensor=cold-room-1.air,asset={CHILLED} "
        f"temp_c=3.5,seq=9i {minute_ago}",
        f"temperature,site={SITE},gateway=freezer-1,sensor=freezer-1.air,asset={FROZEN} "
        f"temp_c=-21.0,seq=9i {minute_ago}",
        f"{measurements.AUDIT_VERIFY} ok=false,entries=5i,first_bad_seq=4i,"
        f'problem="entry 4: sha256 does not match" {minute_ago}',
    ]


def _alarm(rule: str, raised: datetime, cleared: datetime) -> list[str]:
    """A temperature alarm of cold-room-1, raised and cleared."""
    who = f"asset={CHILLED},sensor=cold-room-1.air"
    return [
        _alert(rule, "raised", raised, raised, who, ",value_c=7.1"),
        _alert(rule, "cleared", cleared, raised, who),
    ]


def _alert(
    rule: str, state: str, at: datetime, started: datetime, who: str, values: str = ""
) -> str:
    severity = "warning" if rule == "no_data" else "critical"
    key = f"{rule}/{who}/{started.isoformat()}"
    return (
        f"alert,site={SITE},rule={rule},severity={severity},state={state},{who} "
        f'key="{key}",started_ns={_ns(started)}i{values} {_ns(at)}'
    )


def _ns(ts: datetime) -> int:
    return round(ts.timestamp()) * 10**9


@pytest.fixture(scope="module")
def loaded(influxdb: InfluxDB) -> Iterator[tuple[InfluxDB, str, dict[str, list[Sample]]]]:
    database = f"test_{uuid.uuid4().hex[:12]}"
    setup = CliRunner().invoke(ingest_app, ["influx", "setup"], env=_env(influxdb, database))
    assert setup.exit_code == 0, setup.output
    samples = _samples()
    lines = [*_lines(samples), *_calibration_lines()]
    for i in range(0, len(lines), 5000):
        influxdb.write(database, "\n".join(lines[i : i + 5000]))
    _rollup(influxdb, database)
    yield influxdb, database, samples
    influxdb.query(database, f'DROP DATABASE "{database}"')


#: The cold room's probe: checked a year before the range, due on its first day, so it is
#: unverified from local midnight of 29 March on. The freezer's probe has no check.
CHECKS = {
    "cold-room-1.air": [
        Calibration("cold-room-1.air", date(2025, 3, 28), FIRST_DAY, "K-2025-0117", -0.3)
    ],
}


def _calibration_lines() -> list[str]:
    """The checks as the alerts service writes them when they are entered."""
    entered = datetime(2025, 3, 29, 9, tzinfo=UTC)
    return [
        point(
            measurements.CALIBRATION,
            {"site": SITE, "asset": sensor.split(".")[0], "sensor": sensor, "check": str(n)},
            calibration.fields_of(check),
            entered,
        )
        for sensor, checks in CHECKS.items()
        for n, check in enumerate(checks, 1)
    ]


def _env(influxdb: InfluxDB, database: str) -> dict[str, str]:
    return {
        "COLDCHAIN_INGEST_INFLUX_URL": influxdb.url,
        "COLDCHAIN_INGEST_INFLUX_DB": database,
        "COLDCHAIN_INGEST_FLEET": str(DEMO_FLEET),
    }


def _rollup(influxdb: InfluxDB, database: str) -> None:
    """The compliance_daily points and 15-minute buckets of the range's days, as ingest's
    rollup computes them."""
    env = _env(influxdb, database)
    sensors = [option for asset in SERIES for option in ("--sensor", SERIES[asset][0])]
    last = (LAST_DAY + timedelta(days=1)).isoformat()
    args = ["--from", FIRST_DAY.isoformat(), "--to", last, *sensors]
    result = CliRunner().invoke(rollup_app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "cold-room-1.air: 3 days from 2026-03-28" in result.output


# --- Grafana's substitution of template variables, for one time range -------------------


class Variables:
    """The values Grafana would put into a query for a time range and selections."""

    def __init__(self, influx: InfluxDB, database: str, board: dict[str, Any]) -> None:
        self.values: dict[str, list[str]] = {}
        self.multi: dict[str, bool] = {}
        for variable in board["templating"]["list"]:
            options = _tag_values(influx, database, self.substitute(variable["query"]))
            name = variable["name"]
            self.multi[name] = variable.get("multi", False)
            self.values[name] = [SITE] if name == "site" else options  # asset: "All"
            assert set(self.values[name]) <= set(options), (name, options)

    def substitute(self, query: str, min_interval: str | None = None) -> str:
        time_filter = f"time >= '{_iso(START)}' AND time < '{_iso(END)}'"
        text = query.replace("$timeFilter", time_filter)
        text = text.replace("$__interval", _interval(min_interval))
        return re.sub(r"\$(\w+)", lambda m: self._value(m.group(1), text), text)

    def _value(self, name: str, query: str) -> str:
        values = self.values[name]
        in_regex = re.search(rf"(=~|!~)\s*/[^/]*\${name}\b[^/]*/", query) is not None
        if self.multi[name]:
            return "(" + "|".join(_escape(v) for v in values) + ")"
        return _escape(values[0]) if in_regex else values[0]


def _escape(value: str) -> str:
    return "".join(f"\\{c}" if c in GRAFANA_REGEX_SPECIALS else c for c in value)


def _interval(min_interval: str | None) -> str:
    """Grafana's $__interval: the range over ~1000 points rounded to a round interval,
    and at least the panel's minimum interval."""
    raw = (END - START).total_seconds() / 1000
    floor = float(min_interval.rstrip("s")) if min_interval else 0.0
    seconds = max(next(nice for limit, nice in _ROUND_INTERVALS if raw <= limit), floor)
    return f"{seconds:g}s"


#: Grafana's roundInterval: (at most this many seconds, becomes this interval).
_ROUND_INTERVALS = [
    (1.5, 1),
    (3.5, 2),
    (7.5, 5),
    (12.5, 10),
    (17.5, 15),
    (25, 20),
    (45, 30),
    (90, 60),
    (210, 120),
    (450, 300),
    (750, 600),
    (1050, 900),
    (1500, 1200),
    (2700, 1800),
    (5400, 3600),
    (9000, 7200),
    (16200, 10800),
    (32400, 21600),
    (86400, 43200),
    (math.inf, 86400),
]


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _tag_values(influx: InfluxDB, database: str, query: str) -> list[str]:
    return [row[1] for series in _query(influx, database, query) for row in series["values"]]


def _query(influx: InfluxDB, database: str, query: str) -> list[dict[str, Any]]:
    """InfluxDB's series for one statement; fails with InfluxDB's message and the query."""
    response = httpx.post(
        f"{influx.url}/query", data={"db": database, "q": query, "epoch": "ns"}, timeout=30
    )
    result = response.json()
    error = result.get("error") or result["results"][0].get("error")
    assert error is None, f"{error}\nin: {query}"
    series: list[dict[str, Any]] = result["results"][0].get("series", [])
    return series


# --- the tests ---------------------------------------------------------------------------


def _boards(lang: Language = "en") -> dict[str, dict[str, Any]]:
    folder = BOARDS / lang
    boards = {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
    assert set(boards) == {"operations.json", "compliance.json", "audit.json", "years.json"}
    return boards


def _queries(board: dict[str, Any]) -> Iterator[tuple[str, str, str | None]]:
    """(where, query, minimum interval) of every panel target and annotation."""
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield f"{panel['title']} / {target['refId']}", target["query"], panel.get("interval")
    for annotation in board["annotations"].get("list", []):
        yield f"annotation {annotation['name']}", annotation["target"]["query"], None


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_query_of_every_dashboard_runs(
    loaded: tuple[InfluxDB, str, Any], lang: Language
) -> None:
    influx, database, _ = loaded
    rows: dict[str, int] = {}
    for name, board in _boards(lang).items():
        variables = Variables(influx, database, board)
        for where, query, min_interval in _queries(board):
            series = _query(influx, database, variables.substitute(query, min_interval))
            panel = f"{name}: {where.split(' / ')[0]}"
            rows[panel] = rows.get(panel, 0) + sum(len(s["values"]) for s in series)
    assert len(rows) == 27  # every panel with a query, and the annotations
    empty = [panel for panel, count in rows.items() if count == 0]
    assert not empty, f"panels that show nothing of the dataset: {empty}"


def test_operations_show_current_state(loaded: tuple[InfluxDB, str, Any]) -> None:
    influx, database, samples = loaded
    results = _run_panels(influx, database, _boards()["operations.json"])
    current = results["Current temperature"]["current"]
    latest = {asset: [s for s in readings if s.ts < END][-1] for asset, readings in samples.items()}
    assert {s["tags"]["asset"]: s["values"][0][1] for s in current} == {
        asset: sample.temp_c for asset, sample in latest.items()
    }
    open_work = results["Open alerts"]
    assert [s["values"][0][1] for s in open_work["open"]] == [1], "alert 8; 7 is closed"
    assert [s["values"][0][1] for s in open_work["unacknowledged"]] == [1]
    assert open_work["decision_due"] == []
    (listed,) = results["Open alerts: what each asks for"]["open"]
    assert [row[1:4] for row in listed["values"]] == [["8", "unacknowledged", "critical"]]
    sensors = results["Sensors: last seen"]["sensors"]
    assert {s["tags"]["sensor"] for s in sensors} == {"cold-room-1.air", "freezer-1.air"}
    (position,) = results["Van positions"]["positions"]
    assert position["tags"] == {"gateway": "van-1"} and position["values"][0][1:] == [51.51, 7.46]
    (battery,) = results["Gateways: last message, battery, backlog"]["battery"]
    assert battery["values"][0][1] == 3.7


def test_audit_counts_alert_events(loaded: tuple[InfluxDB, str, Any]) -> None:
    influx, database, _ = loaded
    results = _run_panels(influx, database, _boards()["audit.json"])
    assert results["Alert events raised"]["raised"][0]["values"][0][1] == 2
    assert results["Alert events cleared"]["cleared"][0]["values"][0][1] == 1
    (events,) = results["Alert events"]["events"]
    assert [row[1] for row in events["values"]] == ["raised", "cleared", "raised"]


def test_audit_shows_how_each_alert_was_handled(loaded: tuple[InfluxDB, str, Any]) -> None:
    influx, database, _ = loaded
    results = _run_panels(influx, database, _boards()["audit.json"])
    handled = _joined(
        results["Alerts: acknowledgement, corrective action, product decision"], "alert_id"
    )
    raised = _local(FIRST_DAY, 14, 0, 30)
    assert handled["7"] == {
        "opened": _ns(raised + timedelta(seconds=1)),
        "asset": CHILLED,
        "sensor": "cold-room-1.air",
        "severity": "critical",
        "opened_by": "system",
        "acknowledged": _ns(raised + timedelta(minutes=10)),
        "acknowledged_by": "m.mueller",
        "acknowledgement": "Tür stand offen",
        "closed": _ns(raised + timedelta(hours=1)),
        "closed_by": "m.mueller",
        "cause": "Tür offen gelassen",
        "corrective_action": "Tür geschlossen, Ware umgelagert",
        "product_decision": "release",
        "closing_comment": "",
    }
    assert set(handled["8"]) == {"opened", "asset", "sensor", "severity", "opened_by"}
    (sent,) = results["Notifications and escalations"]["notifications"]
    columns = sent["columns"]
    rows = [dict(zip(columns, row, strict=True)) for row in sent["values"]]
    assert [(r["alert_id"], r["action"], r["level"]) for r in rows] == [
        ("7", "escalated", 2),
        ("7", "notified", 1),
    ]
    assert rows[1]["comment"] == "SMS an Schicht"


def test_audit_shows_the_state_of_the_audit_log(loaded: tuple[InfluxDB, str, Any]) -> None:
    influx, database, _ = loaded
    results = _run_panels(influx, database, _boards()["audit.json"])
    (last,) = results[chain_title("en")]["verified"]
    ((_, ok, entries, first_bad, problem),) = last["values"]
    assert (ok, entries, first_bad) == (False, 5, 4), "the latest verification, from now()"
    assert problem == "entry 4: sha256 does not match"
    (history,) = results["Audit log: verifications"]["verifications"]
    assert [row[1:4] for row in history["values"]] == [[True, 3, 0]], "the one in the range"
    (entries_shown,) = results["Audit log: entries"]["entries"]
    assert [row[1] for row in entries_shown["values"]] == [3, 2, 1]


def test_alert_actions_are_annotations(loaded: tuple[InfluxDB, str, Any]) -> None:
    influx, database, _ = loaded
    for name in ("audit.json", "compliance.json"):
        board = _boards()[name]
        variables = Variables(influx, database, board)
        shown = {
            annotation["name"]: _query(
                influx, database, variables.substitute(annotation["target"]["query"])
            )
            for annotation in board["annotations"]["list"]
        }
        ((steps,), (closed,)) = shown["Alert actions"], shown["Corrective actions"]
        assert sorted(row[2] for row in steps["values"]) == [
            "acknowledged",
            "escalated",
            "notified",
            "opened",
            "opened",
        ], name
        ((_, corrective_action, decision, *_),) = closed["values"]
        assert (corrective_action, decision) == ("Tür geschlossen, Ware umgelagert", "release")


def _joined(results: dict[str, list[dict[str, Any]]], key: str) -> dict[str, dict[str, Any]]:
    """Rows by `key`, as Grafana's joinByField (outer) and organize transformations make them:
    the panel renames the time of its n-th query ("Time n") to that query's refId."""
    rows: dict[str, dict[str, Any]] = {}
    for ref, series_list in results.items():
        for series in series_list:
            columns = ["time", *series["columns"][1:]]
            for values in series["values"]:
                row = dict(zip(columns, values, strict=True))
                joined = rows.setdefault(row.pop(key), {})
                joined[ref] = row.pop("time")
                joined.update(row)
    return rows


def test_daily_compliance_table_agrees_with_the_compliance_code(
    loaded: tuple[InfluxDB, str, dict[str, list[Sample]]],
) -> None:
    influx, database, samples = loaded
    board = _boards()["compliance.json"]
    (table,) = [p for p in board["panels"] if p["title"] == table_title("en")]
    shown = _merged_rows(_run_targets(influx, database, board, table))
    fleet = Fleet.from_yaml(DEMO_FLEET.read_text())
    for asset, readings in samples.items():
        _, _, _, watched = next(entry for entry in fleet.sensors() if entry[3].id == asset)
        limits = watched.limits
        band = Band(max_c=limits.max_c, min_c=limits.min_c)
        legal = Band(max_c=limits.regulatory_max_c)
        rules = Rules(limits, "Europe/Berlin")
        tz = rules.timezone
        by_day = daily_stats(readings, FIRST_DAY, LAST_DAY, band, INTERVAL_S, tz, rules)
        legal_by_day = dict(
            daily_stats(readings, FIRST_DAY, LAST_DAY, legal, INTERVAL_S, tz, rules)
        )
        records = day_records(
            readings, FIRST_DAY, LAST_DAY, band, limits.regulatory_max_c, INTERVAL_S, tz, rules
        )
        times = sorted(sample.ts for sample in readings)
        checks = CHECKS.get(f"{asset}.air", [])
        for (day, stats), record in zip(by_day, records, strict=True):
            row = {name: value for name, value in shown[(asset, day)].items() if value is not None}
            fields = record.marked(checks, tz, times).fields()
            assert set(row) == {name for name in TABLE_FIELDS if name in fields}, (asset, day)
            assert row["calibration"] == fields["calibration"], (asset, day)
            assert row["unverified_readings"] == fields["unverified_readings"], (asset, day)
            expected = _figures(stats) | {
                "time_in_legal_range_pct": legal_by_day[day].time_in_range_pct,
                "above_legal_s": legal_by_day[day].excursion_s,
            }
            for name, value in expected.items():
                assert row.get(name) == pytest.approx(value, rel=1e-12, abs=1e-12), (
                    asset,
                    day,
                    name,
                )
            assert row["legal_max_c"] == limits.regulatory_max_c
            assert row["alarm_max_c"] == limits.max_c
    assert {day for _, day in shown} == {FIRST_DAY, date(2026, 3, 29), LAST_DAY}
    dst = shown[(CHILLED, date(2026, 3, 29))]
    assert dst["coverage_pct"] == pytest.approx(100 * (23 * 3600 - 1800) / (23 * 3600))
    # 30 s at 8 °C, then 30 s at -2 °C: shorter than the 30 s delay (the demo's) each.
    assert shown[(CHILLED, date(2026, 3, 28))]["excursions_above"] == 0
    assert shown[(CHILLED, date(2026, 3, 28))]["excursions_below"] == 1
    assert shown[(CHILLED, date(2026, 3, 28))]["short_deviations"] == 2
    assert shown[(CHILLED, date(2026, 3, 29))]["excursions_above"] == 2  # 03:10 and 23:58
    assert shown[(CHILLED, LAST_DAY)]["excursions_above"] == 1  # one reading missing in it
    assert shown[(FROZEN, FIRST_DAY)]["excursions_above"] == 0  # began the day before
    assert shown[(FROZEN, FIRST_DAY)]["excursions_below"] == 0  # no lower limit
    assert "alarm_min_c" not in {k for k, v in shown[(FROZEN, FIRST_DAY)].items() if v is not None}
    # By hand: the cold room's check fell due on 28 March; every reading after is unverified.
    assert [shown[(CHILLED, day)]["calibration"] for day in sorted({d for _, d in shown})] == [
        "valid",
        "unverified",
        "unverified",
    ]
    for day in (date(2026, 3, 29), LAST_DAY):
        unverified = shown[(CHILLED, day)]
        assert unverified["unverified_readings"] == unverified["samples"] > 0, day
    assert shown[(CHILLED, FIRST_DAY)]["unverified_readings"] == 0
    assert {shown[(FROZEN, day)]["calibration"] for day in (FIRST_DAY, LAST_DAY)} == {"unknown"}


def _figures(stats: PeriodStats) -> dict[str, float | int | None]:
    above = sum(1 for excursion in stats.excursions if excursion.above)
    return {
        "coverage_pct": stats.coverage_pct,
        "time_in_range_pct": stats.time_in_range_pct,
        "excursions_above": above,
        "excursions_below": len(stats.excursions) - above,
        "short_deviations": len(stats.short_deviations),
        "excursion_s": stats.excursion_s,
        "degree_minutes": stats.degree_minutes,
        "samples": stats.samples,
        "min_c": stats.min_c,
        "max_c": stats.max_c,
        "mean_c": stats.mean_c,
        "mkt_c": stats.mkt_c,
    }


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("interval_s", [900, 6 * 3600])
def test_the_long_range_panel_gives_min_mean_max_of_the_readings(
    loaded: tuple[InfluxDB, str, dict[str, list[Sample]]], lang: Language, interval_s: int
) -> None:
    """Buckets of 15 minutes (the panel's least interval) and of 6 hours (a long range)
    against min, mean and max of the readings worked out here."""
    influx, database, samples = loaded
    board = _boards(lang)["years.json"]
    [panel] = board["panels"]
    assert panel["interval"] == "900s"
    [target] = panel["targets"]
    query = Variables(influx, database, board).substitute(target["query"], panel["interval"])
    query = re.sub(r"GROUP BY time\(\d+s\)", f"GROUP BY time({interval_s}s)", query)

    series = {s["tags"]["asset"]: s for s in _query(influx, database, query)}

    assert set(series) == {CHILLED, FROZEN}
    for asset, readings in samples.items():
        rows = {row[0] // 10**9: row[1:] for row in series[asset]["values"]}
        by_hand: dict[int, list[float]] = {}
        for reading in readings:
            if START <= reading.ts < END:
                begin = int(reading.ts.timestamp()) // interval_s * interval_s
                by_hand.setdefault(begin, []).append(reading.temp_c)
        assert sorted(rows) == sorted(by_hand), "one row per interval with readings"
        for begin, values in by_hand.items():
            low, mean, high = rows[begin]
            assert (low, high) == (min(values), max(values))
            assert mean == pytest.approx(sum(values) / len(values), abs=1e-9)


def _run_panels(
    influx: InfluxDB, database: str, board: dict[str, Any]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    return {p["title"]: _run_targets(influx, database, board, p) for p in board["panels"]}


def _run_targets(
    influx: InfluxDB, database: str, board: dict[str, Any], panel: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    variables = Variables(influx, database, board)
    return {
        target["refId"]: _query(
            influx, database, variables.substitute(target["query"], panel.get("interval"))
        )
        for target in panel.get("targets", [])
    }


def _merged_rows(
    results: dict[str, list[dict[str, Any]]],
) -> dict[tuple[str, date], dict[str, Any]]:
    """Rows by (asset, local day), as Grafana's merge transformation joins the queries."""
    rows: dict[tuple[str, date], dict[str, Any]] = {}
    for series_list in results.values():
        for series in series_list:
            for values in series["values"]:
                day = datetime.fromtimestamp(values[0] / 1e9, BERLIN).date()
                row = rows.setdefault((series["tags"]["asset"], day), {})
                row.update(zip(series["columns"][1:], values[1:], strict=True))
    return rows


# --- a site's own dashboards: the hub's and a canteen's readings in one database --------

FARM = "farm-1"  # a site of the fleet with no data at all
CANTEEN_DAY = date(2026, 3, 29)
#: What only the hub's points hold (tags and fields); none may reach a canteen's answer.
HUB_MARKS = ("cold-room-1", "freezer-1", "van-1", "m.mueller", "Tür", SITE)


def _canteen_temp(ts: datetime) -> float:
    """The canteen's cold room: 4 °C, above its band from 12:00 to 12:20 local."""
    local = ts.astimezone(BERLIN)
    return 9.0 if (local.hour, local.minute // 20) == (12, 0) else 4.0


def _canteen_lines() -> list[str]:
    start, end = local_day_bounds(CANTEEN_DAY)
    where = f"site={CANTEEN},gateway={CANTEEN_GATEWAY},sensor={CANTEEN_SENSOR}"
    lines = []
    ts = start
    while ts < end:
        value = _canteen_temp(ts)
        lines.append(f"temperature,{where},asset={CANTEEN_ASSET} temp_c={value!r},seq=1i {_ns(ts)}")
        ts += timedelta(seconds=CANTEEN_INTERVAL_S)
    raised, cleared = _local(CANTEEN_DAY, 12, 5), _local(CANTEEN_DAY, 12, 20)
    who = f"asset={CANTEEN_ASSET},sensor={CANTEEN_SENSOR}"
    key = f"over_max/{who}/{raised.isoformat()}"
    alert = f"alert,site={CANTEEN},rule=over_max,severity=critical"
    nine = f"site={CANTEEN},alert_id=9,severity=critical,{who}"
    ten = f"site={CANTEEN},alert_id=10,severity=warning,gateway={CANTEEN_GATEWAY}"
    started = f"started_ns={_ns(raised)}i"
    now = datetime.now(UTC).replace(microsecond=0)
    return [
        *lines,
        f'{alert},state=raised,{who} key="{key}",{started},value_c=9.0 {_ns(raised)}',
        f'{alert},state=cleared,{who} key="{key}",{started} {_ns(cleared)}',
        f"excursion,site={CANTEEN},asset={CANTEEN_ASSET},sensor={CANTEEN_SENSOR},rule=over_max,"
        "severity=critical ended=true,alarmed=true,peak_c=9.0,limit_c=7.0,"
        f"regulatory_limit_c=7.0,degree_minutes=40.0,duration_s=1200.0,"
        f"end_ns={_ns(cleared)}i {_ns(_local(CANTEEN_DAY, 12, 0))}",
        *(
            f'{measurements.ALERT_ACTION},{nine},action={action} actor="{actor}",comment="",'
            f'{extra}{started},standing="{standing}" {_ns(raised + timedelta(minutes=after))}'
            for action, after, actor, extra, standing in (
                ("opened", 0, "system", "", "unacknowledged"),
                ("notified", 1, "system", "level=1i,", "unacknowledged"),
                ("acknowledged", 5, "k.nord", "", "decision_due"),
                (
                    "closed",
                    30,
                    "k.nord",
                    'cause="Lieferung",corrective_action="umgelagert",product_decision="release",',
                    "closed",
                ),
            )
        ),
        f'{measurements.ALERT_ACTION},{ten},action=opened actor="system",comment="",'
        f'{started},standing="unacknowledged" {_ns(_local(CANTEEN_DAY, 18, 0))}',
        f"position,site={CANTEEN},gateway={CANTEEN_GATEWAY} lat=51.53,lon=7.47,seq=2i "
        f"{_ns(_local(CANTEEN_DAY, 18, 0))}",
        f"gateway,site={CANTEEN},gateway={CANTEEN_GATEWAY} battery_v=3.9,seq=9i "
        f"{_ns(now - timedelta(minutes=1))}",
        f"temperature,{where},asset={CANTEEN_ASSET} temp_c=4.5,seq=9i "
        f"{_ns(now - timedelta(minutes=1))}",
    ]


def _three_sites() -> Fleet:
    data = two_sites_data()
    data["sites"].append(
        {
            "id": FARM,
            "name": "Hof 1",
            "assets": [
                {
                    "id": "farm-1-room",
                    "name": {"de": "Hofkühlraum", "en": "Farm room"},
                    "category": "meat_products",
                }
            ],
            "gateways": [
                {"id": "farm-1-gw", "sensors": [{"id": "farm-1-gw.air", "asset": "farm-1-room"}]}
            ],
        }
    )
    return Fleet.model_validate(data)


@pytest.fixture(scope="module")
def two_sites_loaded(
    loaded: tuple[InfluxDB, str, dict[str, list[Sample]]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[InfluxDB, str]:
    """The hub's dataset and the canteen's day in one database, with the canteen's rollup.
    Every canteen point is tagged with its site, so the hub's panels show what they did."""
    influx, database, _ = loaded
    influx.write(database, "\n".join(_canteen_lines()))
    fleet = tmp_path_factory.mktemp("fleet") / "fleet.yaml"
    fleet.write_text(two_sites_yaml())
    env = _env(influx, database) | {"COLDCHAIN_INGEST_FLEET": str(fleet)}
    days = [
        "--from",
        CANTEEN_DAY.isoformat(),
        "--to",
        (CANTEEN_DAY + timedelta(days=1)).isoformat(),
    ]
    result = CliRunner().invoke(rollup_app, [*days, "--sensor", CANTEEN_SENSOR], env=env)
    assert result.exit_code == 0, result.output
    return influx, database


def _site_answers(
    influx: InfluxDB, database: str, site: str, lang: Language, assets: list[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Every answer of every query of a site's dashboards in `lang`, by dashboard and panel;
    with `assets`, as Grafana asks when the URL sets `var-asset` to those values."""
    built = build(_three_sites(), per_site=True)
    answers: dict[str, list[dict[str, Any]]] = {}
    for name, board in built.items():
        if not name.startswith(f"sites/{site}/{lang}/"):
            continue
        variables = Variables(influx, database, board)
        if assets is not None:
            variables.values["asset"] = assets
        for where, query, min_interval in _queries(board):
            series = _query(influx, database, variables.substitute(query, min_interval))
            key = f"{name.rsplit('/', 1)[1]}: {where.split(' / ')[0]}"
            answers.setdefault(key, []).extend(series)
    return answers


def _reads_no_site(board_query: str) -> bool:
    return set(re.findall(r'FROM "([^"]+)"', board_query)) <= set(SITELESS)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_query_of_a_sites_dashboards_runs_and_shows_its_data(
    two_sites_loaded: tuple[InfluxDB, str], lang: Language
) -> None:
    influx, database = two_sites_loaded
    for site in (SITE, CANTEEN):
        answers = _site_answers(influx, database, site, lang)
        assert len(answers) == 26, site  # the hub's 27 but the audit log's entries
        empty = [panel for panel, series in answers.items() if not series]
        assert not empty, f"{site}: panels that show nothing of the dataset: {empty}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_answer_of_a_sites_dashboards_holds_another_sites_data(
    two_sites_loaded: tuple[InfluxDB, str], lang: Language
) -> None:
    influx, database = two_sites_loaded
    canteen = _site_answers(influx, database, CANTEEN, lang)
    siteless = {f"audit.json: {chain_title(lang)}", f"audit.json: {verifications_title(lang)}"}
    for panel, series in canteen.items():
        if panel in siteless:
            continue
        shown = json.dumps(series, ensure_ascii=False)
        assert not [mark for mark in HUB_MARKS if mark in shown], (panel, shown[:500])
    for panel, series in _site_answers(influx, database, SITE, lang).items():
        assert CANTEEN not in json.dumps(series), panel


def test_a_site_without_data_is_shown_nothing_of_the_others(
    two_sites_loaded: tuple[InfluxDB, str],
) -> None:
    """The farm's dashboards over the hub's and the canteen's data: every answer empty but
    the audit log's verdict, which belongs to no site (as the alerts API's audit/verify)."""
    influx, database = two_sites_loaded
    built = build(_three_sites(), per_site=True)
    for lang in LANGUAGES:
        answers = _site_answers(influx, database, FARM, lang)
        assert len(answers) == 26
        for name in ("operations", "compliance", "audit", "years"):
            board = built[f"sites/{FARM}/{lang}/{name}.json"]
            for where, query, _ in _queries(board):
                shown = answers[f"{name}.json: {where.split(' / ')[0]}"]
                assert shown == [] or _reads_no_site(query), (name, where, shown)


def test_an_address_naming_the_hubs_assets_shows_the_canteen_nothing_of_them(
    two_sites_loaded: tuple[InfluxDB, str],
) -> None:
    """`?var-asset=cold-room-1&var-asset=...`: Grafana escapes a multi-value variable's
    values for the regex, and the site literal is ANDed with the asset."""
    influx, database = two_sites_loaded
    hostile = [CHILLED, FROZEN, 'x$/ OR "site" =~ /.*', ".*"]
    for panel, series in _site_answers(influx, database, CANTEEN, "en", hostile).items():
        shown = json.dumps(series, ensure_ascii=False)
        assert not [mark for mark in HUB_MARKS if mark in shown], (panel, shown[:500])
