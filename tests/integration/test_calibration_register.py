"""The calibration register through the real alerts service and its command line.

A check is entered through the API or imported from the lab's CSV; a probe whose
latest check is overdue or beyond ±1 K gets the maintenance alert `probe_unverified`,
told to the officer by e-mail like ingest's alerts, which clears with a good check.
`calibration export` writes the CSV `coldchain-report --calibration` reads.
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from coldchain.calibration import Calibration
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine, make_sessionmaker
from coldchain_alerts.models import AuditEntry
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import DEMO_FLEET, SITE
from coldchain_reports import calibration as report_calibration
from tests.alertsapi import AlertsApi, ApiStack, officers_on_call, token_for
from tests.fakes import SmtpSink

JSON = {"Content-Type": "application/json"}
ROOM, OTHER_ROOM = "cold-room-1.air", "cold-room-2.air"


def _check(sensor: str, checked_on: date, deviation_k: Any, **more: Any) -> dict[str, Any]:
    return {
        "sensor": sensor,
        "checked_on": checked_on.isoformat(),
        "reference": "Kalibrierschein K-2026-0117",
        "deviation_k": deviation_k,
        "checked_by": "Kalibrierlabor Nord",
    } | more


def _start(stack: ApiStack, **settings: str) -> AlertsApi:
    stack.alerts(COLDCHAIN_ALERTS_CALIBRATION_CHECK_INTERVAL_S="3600", **settings).start()
    wait_until(stack.alerts_healthy, 30, "the alerts service")
    return stack.alerts_api


def _probe_alert(stack: ApiStack, sensor: str) -> dict[str, Any] | None:
    found = [
        a
        for a in stack.alerts_api.alerts()
        if a["rule"] == "probe_unverified" and a["sensor"] == sensor
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


def test_an_unverified_probe_is_told_to_the_officer_and_clears_with_a_good_check(
    stack: ApiStack, smtp: SmtpSink
) -> None:
    officers_on_call(stack.alerts_database, SITE)
    api = _start(
        stack,
        COLDCHAIN_ALERTS_ESCALATION_WINDOW_S="0",
        COLDCHAIN_ALERTS_SMTP_HOST="127.0.0.1",
        COLDCHAIN_ALERTS_SMTP_PORT=str(smtp.port),
        COLDCHAIN_ALERTS_SMTP_SECURITY="none",
        COLDCHAIN_ALERTS_SMTP_FROM="coldchain@hub.example",
    )
    today = datetime.now(UTC).date()
    overdue = api.post("/api/v1/calibration", _check(ROOM, today - timedelta(days=400), -0.3))
    assert overdue.status_code == 201, overdue.text
    assert overdue.json()["due_on"] == (today - timedelta(days=35)).isoformat(), "a year later"
    off = api.post("/api/v1/calibration", _check(OTHER_ROOM, today - timedelta(days=3), 1.2))
    assert off.status_code == 201, off.text

    mails = smtp.wait_for(4, timeout=30)
    subjects = [mail["Subject"] for mail in mails]
    assert sum("probe not verified" in s for s in subjects) == 2, subjects
    assert sum("Fühler nicht verifiziert" in s for s in subjects) == 2, subjects
    alert = _probe_alert(stack, ROOM)
    assert alert is not None and alert["active"] and alert["severity"] == "warning", alert
    assert alert["asset"] == "cold-room-1" and alert["site"] == SITE
    other = _probe_alert(stack, OTHER_ROOM)
    assert other is not None and other["active"], other

    good = api.post("/api/v1/calibration", _check(ROOM, today, 0.2))
    assert good.status_code == 201, good.text
    cleared = wait_until(
        lambda: (a := _probe_alert(stack, ROOM)) and not a["active"] and a, 30, "it to clear"
    )
    assert cleared["id"] == alert["id"] and cleared["occurrences"] == 1, cleared
    still = _probe_alert(stack, OTHER_ROOM)
    assert still is not None and still["active"], "a deviation beyond ±1 K stays unverified"
    listed = api.get("/api/v1/calibration", sensor=ROOM).json()
    assert [c["deviation_k"] for c in listed] == [-0.3, 0.2]
    audit = api.get("/api/v1/audit").json()
    assert len([e for e in audit if e["action"] == "calibration.checked"]) == 3, audit


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (_check("cold-room-9.air", date(2026, 1, 5), 0.1), "no temperature probe of the current"),
        (_check("van-1.door", date(2026, 1, 5), 0.1), "no temperature probe of the current"),
        (_check(ROOM, date(2026, 1, 5), "0,3 K"), "valid number"),
        (json.dumps(_check(ROOM, date(2026, 1, 5), float("nan"))), "finite number"),
        (json.dumps(_check(ROOM, date(2026, 1, 5), float("inf"))), "finite number"),
        (_check(ROOM, date(2026, 1, 5), 1e6), "beyond ±100 K"),
        (_check(ROOM, date(2999, 1, 5), 0.1), "checked_on 2999-01-05 is in the future"),
        (_check(ROOM, date(2026, 1, 5), 0.1, due_on="2025-12-01"), "before checked_on"),
        (_check(ROOM, date(2026, 1, 5), 0.1, checked_by="\u0007"), "printable"),
        (_check(ROOM, date(2026, 1, 5), 0.1) | {"checked_on": "2026-02-30"}, "valid date"),
    ],
)
def test_a_check_the_register_cannot_take_is_refused_with_its_reason(
    stack: ApiStack, body: dict[str, Any] | str, says: str
) -> None:
    api = _start(stack)
    refused = (
        api.post("/api/v1/calibration", body)
        if isinstance(body, dict)
        else httpx.post(f"{api.url}/api/v1/calibration", content=body, headers=api.headers | JSON)
    )
    assert refused.status_code == 422, refused.text
    assert says in str(refused.json()["detail"]), refused.json()
    assert api.get("/api/v1/calibration").json() == []


def test_officers_enter_checks_and_auditors_read_them(stack: ApiStack) -> None:
    api = _start(stack)
    url = api.url
    auditor = AlertsApi(url, token_for(stack.alerts_database, "i.pruefer", Role.AUDITOR))
    officer = AlertsApi(url, token_for(stack.alerts_database, "a.schmidt", Role.OFFICER))
    body = _check(ROOM, date(2026, 1, 5), 0.1)
    assert auditor.post("/api/v1/calibration", body).status_code == 403
    made = officer.post("/api/v1/calibration", body)
    assert made.status_code == 201, made.text
    assert made.json()["entered_by"] == "a.schmidt"
    assert [c["id"] for c in auditor.get("/api/v1/calibration").json()] == [made.json()["id"]]
    anonymous = AlertsApi(url, "no-such-token")
    assert anonymous.get("/api/v1/calibration").status_code == 401


def _cli(database_url: str, cwd: Path) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    env |= {
        "COLDCHAIN_ALERTS_DATABASE_URL": database_url,
        "COLDCHAIN_ALERTS_FLEET": str(DEMO_FLEET),
    }
    cli = str(Path(sys.executable).parent / "coldchain-alerts")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
        )

    return run


LAB_CSV = """sensor,checked_on,due_on,deviation_k,reference
cold-room-1.air,2025-03-12,2026-03-12,-0.3,Kalibrierschein K-2025-0117
van-1.chilled,2025-05-06,,0.2,Kalibrierschein K-2025-0242
"""


def test_the_lab_csv_is_imported_all_or_nothing_and_exported_for_the_reports(
    database_url: str, tmp_path: Path
) -> None:
    run = _cli(database_url, tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        LAB_CSV
        + "cold-room-9.air,2025-03-12,2026-03-12,0.1,K-1\n"
        + "cold-room-2.air,2025-03-12,2026-03-12,abc,K-2\n"
        + "freezer-1.air,2999-03-12,2999-06-12,0.1,K-3\n"
    )
    refused = run("calibration", "import", str(bad))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    said = refused.stdout
    assert f"{bad}, line 5: could not convert string to float: 'abc'" in said, said
    assert "nothing imported" in said
    assert run("calibration", "list").stdout == ""
    bad.write_text(
        LAB_CSV
        + "cold-room-9.air,2025-03-12,2026-03-12,0.1,K-1\n"
        + "freezer-1.air,2999-03-12,2999-06-12,0.1,K-3\n"
    )
    refused = run("calibration", "import", str(bad))
    said = refused.stdout
    assert refused.returncode == 2 and "line 4: sensor 'cold-room-9.air' is no" in said, said
    assert "line 5: checked_on 2999-03-12 is in the future" in said, said
    assert run("calibration", "list").stdout == ""

    lab = tmp_path / "lab.csv"
    lab.write_text(LAB_CSV)
    imported = run("calibration", "import", str(lab))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    listed = run("calibration", "list").stdout.splitlines()
    assert listed[0].startswith("cold-room-1.air\t2025-03-12\tdue 2026-03-12\t-0.3 K"), listed
    assert listed[1].startswith("van-1.chilled\t2025-05-06\tdue 2026-05-06\t+0.2 K"), listed
    assert listed[1].endswith(f"entered by cli:{getpass.getuser()}"), listed

    exported = tmp_path / "register.csv"
    made = run("calibration", "export", str(exported))
    assert made.returncode == 0, made.stdout + made.stderr
    assert report_calibration.load(exported) == {
        "cold-room-1.air": [
            Calibration(
                ROOM, date(2025, 3, 12), date(2026, 3, 12), "Kalibrierschein K-2025-0117", -0.3
            )
        ],
        "van-1.chilled": [
            Calibration(
                "van-1.chilled",
                date(2025, 5, 6),
                date(2026, 5, 6),
                "Kalibrierschein K-2025-0242",
                0.2,
            )
        ],
    }
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            actions = session.scalars(select(AuditEntry.action)).all()
    finally:
        engine.dispose()
    assert actions.count("calibration.checked") == 2, actions
