"""The daily compliance rollup in the running ingest service, on real Mosquitto and InfluxDB.

Readings of a past day go through the broker into ingest; its rollup job must
write that day's `compliance_daily` point with the numbers of
coldchain.compliance for the same readings, and compute the day again when late
readings for it arrive. The pending marks themselves are checked on their SQLite file.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from coldchain import measurements
from coldchain.calibration import Calibration
from coldchain.categories import PRESETS
from coldchain.compliance import Band, Rules, Sample, local_day_bounds
from coldchain.rollup import day_records, local_date
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE, TEST_DELAY_S, TEST_INTERVAL_S
from coldchain_ingest.rollup import PendingDays
from coldchain_io.lineprotocol import nanoseconds
from tests.alertsapi import ApiStack

SENSOR, ASSET = "cold-room-1.air", "cold-room-1"
BAND = Band(max_c=6.0, min_c=-1.0)  # meat products, as the demo fleet has it
LEGAL_MAX_C = 6.0
RULES = Rules(PRESETS["meat_products"].limits(delay_s=TEST_DELAY_S))


def _publish(stack: ApiStack, seq: int, samples: list[Sample]) -> None:
    payload = {
        "v": 1,
        "gateway": "cold-room-1",
        "seq": seq,
        "sent_at": datetime.now(UTC).isoformat(),
        "readings": [
            {"sensor": SENSOR, "ts": s.ts.isoformat(), "temp_c": s.temp_c} for s in samples
        ],
    }
    topic = f"coldchain/v1/{SITE}/cold-room-1/telemetry"
    argv = ["mosquitto_pub", "-p", str(stack.mosquitto.port), "-q", "1", "-t", topic]
    subprocess.run([*argv, "-m", json.dumps(payload)], check=True, timeout=10)


def _only_cold_room_1(stack: ApiStack) -> None:
    fleet = yaml.safe_load(stack.fleet.read_text())
    site = fleet["sites"][0]
    site["assets"] = [a for a in site["assets"] if a["id"] == ASSET]
    site["gateways"] = [g for g in site["gateways"] if g["id"] == "cold-room-1"]
    stack.fleet.write_text(yaml.safe_dump(fleet))


def _record(stack: ApiStack, day: date) -> dict[str, Any] | None:
    """The day's compliance_daily point as {field: value}, with its tags; None if absent."""
    start, _ = local_day_bounds(day)
    series = stack.influxdb.query(
        stack.database,
        f'SELECT * FROM "{measurements.COMPLIANCE_DAILY}" '
        f"WHERE time = {int(start.timestamp()) * 10**9}",
    )
    if not series:
        return None
    (row,) = series[0]["values"]
    return dict(zip(series[0]["columns"], row, strict=True))


def _expected(
    samples: list[Sample], day: date, checks: Sequence[Calibration] = ()
) -> dict[str, float | int | str]:
    """The day's fields by coldchain.rollup, its readings marked by the probe's `checks`."""
    (record,) = day_records(
        samples, day, day, BAND, LEGAL_MAX_C, TEST_INTERVAL_S, RULES.timezone, RULES
    )
    return record.marked(checks, RULES.timezone, sorted(s.ts for s in samples)).fields()


def _differences(shown: dict[str, Any], expected: dict[str, float | int | str]) -> list[str]:
    """What of the record `shown` differs from `expected`, as "field: shown != expected"."""
    numbers = {k: v for k, v in shown.items() if k not in ("time", "site", "asset", "sensor")}
    found = {k for k, v in numbers.items() if v is not None}
    differences = (
        [] if found == set(expected) else [f"fields {sorted(found)} != {sorted(expected)}"]
    )
    for name, value in expected.items():
        if isinstance(value, str):
            alike = shown.get(name) == value
        else:
            alike = shown.get(name) == pytest.approx(value, rel=1e-12, abs=1e-12)
        if not alike:
            differences.append(f"{name}: {shown.get(name)!r} != {value!r}")
    return differences


def _settled(
    stack: ApiStack, day: date, expected: dict[str, float | int | str], what: str
) -> dict[str, Any]:
    """The day's record once it equals `expected`. Polled until then: InfluxDB 1.x
    writes a point's fields one by one, so a query during the write of a new record
    may see some fields of it and some of the one before."""
    last: dict[str, Any] | None = None

    def equal() -> bool:
        nonlocal last
        last = _record(stack, day)
        return last is not None and not _differences(last, expected)

    try:
        wait_until(equal, 30, what)
    except AssertionError:
        assert last is not None, f"no record of {day}"
        raise AssertionError(f"{what}: {_differences(last, expected)}") from None
    assert last is not None
    return last


def test_a_late_reading_for_a_past_day_computes_that_day_again(stack: ApiStack) -> None:
    _only_cold_room_1(stack)
    today = local_date(datetime.now(UTC))
    day = today - timedelta(days=3)
    start, _ = local_day_bounds(day)
    morning = [  # 08:00 to 10:00 local, with a warm spell; then nothing until 11:00
        Sample(start + timedelta(hours=8, minutes=m), 7.5 if 30 <= m < 40 else 3.0)
        for m in range(120)
    ]
    late = [  # the gateway's buffered readings of 10:00 to 11:00, arriving afterwards
        Sample(start + timedelta(hours=10, minutes=m), 2.0) for m in range(60)
    ]
    stack.start_ingest(COLDCHAIN_INGEST_ROLLUP_INTERVAL_S="0.2")
    _publish(stack, 1, morning)

    shown = _settled(stack, day, _expected(morning, day), f"the rollup of {day}")
    assert (shown["site"], shown["asset"], shown["sensor"]) == (SITE, ASSET, SENSOR)
    assert shown["samples"] == 120
    assert (shown["excursions"], shown["short_deviations"]) == (0, 1), "10 min < the delay"
    wait_until(
        lambda: (
            (r := _record(stack, today - timedelta(days=1)))
            and (r["samples"], r["coverage_pct"]) == (0, 0.0)
        ),
        30,
        "yesterday closed without data",
    )

    _publish(stack, 2, late)
    again = _settled(stack, day, _expected(morning + late, day), "the day again")
    assert again["samples"] == 180
    assert again["covered_s"] == shown["covered_s"] + 3600
    assert _record(stack, day - timedelta(days=1)) is None, "a day nothing touched"


def _check(checked_on: date, due_on: date, deviation_k: float) -> dict[str, Any]:
    return {
        "sensor": SENSOR,
        "checked_on": checked_on.isoformat(),
        "due_on": due_on.isoformat(),
        "reference": "Kalibrierschein K-2026-0117",
        "deviation_k": deviation_k,
        "checked_by": "Kalibrierlabor Nord",
    }


def _marked(stack: ApiStack, day: date, calibration: str) -> dict[str, Any] | None:
    found = _record(stack, day)
    return found if found is not None and found.get("calibration") == calibration else None


def test_an_overdue_probe_marks_the_days_of_its_readings_in_the_rollup(stack: ApiStack) -> None:
    """A check entered through the alerts service's API, overdue since the day before
    `first`, marks the days already computed as unverified from `first` on; a good check
    made on `second` marks that day and the ones after it verified again."""
    _only_cold_room_1(stack)
    today = local_date(datetime.now(UTC))
    first, second = today - timedelta(days=3), today - timedelta(days=2)
    readings = {
        day: [
            Sample(local_day_bounds(day)[0] + timedelta(hours=8, minutes=m), 3.0) for m in range(90)
        ]
        for day in (first, second)
    }
    stack.start_ingest(COLDCHAIN_INGEST_ROLLUP_INTERVAL_S="0.2")
    stack.alerts(COLDCHAIN_ALERTS_CALIBRATION_CHECK_INTERVAL_S="3600").start()
    wait_until(stack.alerts_healthy, 30, "the alerts service")
    _publish(stack, 1, readings[first] + readings[second])
    for day in (first, second):
        shown = _settled(stack, day, _expected(readings[day], day), f"the rollup of {day}")
        assert shown["calibration"] == "unknown"

    overdue = _check(first - timedelta(days=300), first - timedelta(days=1), -0.3)
    entered = stack.alerts_api.post("/api/v1/calibration", overdue)
    assert entered.status_code == 201, entered.text
    checks = [
        Calibration(SENSOR, first - timedelta(days=300), first - timedelta(days=1), "K", -0.3)
    ]
    for day in (first, second):
        shown = _settled(stack, day, _expected(readings[day], day, checks), f"{day} unverified")
        assert shown["calibration"] == "unverified"
        since, until = (nanoseconds(t) for t in local_day_bounds(day))
        (stored,) = stack.influxdb.query(
            stack.database,
            f"SELECT count(temp_c) FROM temperature WHERE sensor = '{SENSOR}' "
            f"AND time >= {since} AND time < {until}",
        )
        assert shown["unverified_readings"] == stored["values"][0][1] == 90, "all of the day's"

    good = stack.alerts_api.post("/api/v1/calibration", _check(second, second, 0.2))
    assert good.status_code == 201, good.text
    checks.append(Calibration(SENSOR, second, second, "K", 0.2))
    valid = _settled(stack, second, _expected(readings[second], second, checks), "verified")
    assert (valid["calibration"], valid["unverified_readings"]) == ("valid", 0)
    assert _marked(stack, first, "unverified") is not None, "before the good check: still"
    points = stack.influxdb.query(stack.database, 'SELECT * FROM "calibration"')
    assert sum(len(series["values"]) for series in points) == 2, points


def test_pending_days_survive_a_restart_and_a_new_mark_outlives_done(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    day = date(2026, 3, 29)
    pending = PendingDays(path)
    pending.add([(SENSOR, day), (SENSOR, day + timedelta(days=1))])
    ((sensor, taken_day, mark),) = pending.take([SENSOR], day)
    assert (sensor, taken_day) == (SENSOR, day)
    pending.add([(SENSOR, day)])  # a late reading while the day is being computed
    pending.done(SENSOR, day, mark)
    pending.close()

    reopened = PendingDays(path)
    assert [(s, d) for s, d, _ in reopened.take([SENSOR], day + timedelta(days=1))] == [
        (SENSOR, day),
        (SENSOR, day + timedelta(days=1)),
    ]
    reopened.close_days(SITE, [SENSOR, "freezer-1.air"], day + timedelta(days=3))
    reopened.close_days(SITE, [SENSOR, "freezer-1.air"], day + timedelta(days=5))
    closed = reopened.take(["freezer-1.air"], day + timedelta(days=10))
    assert [d for _, d, _ in closed] == [day + timedelta(days=n) for n in (3, 4, 5)]
    reopened.close()
