"""Van 2's compressor fails, as the hygiene officer lives it, through the real services.

Readings are published as van 2's gateway would (one a minute, in reading time,
half an hour ago), so the rules run exactly as in production. After every
reading the alert must show that reading and the true peak: the truth is the
list of readings this test sent, not anything the code computed.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from coldchain.fleet import Fleet
from coldchain_alerts.auth import Role
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import ApiStack, add_user, log_in
from tests.mqttclient import telemetry_json

SENSOR = "van-2.chilled"
#: Van 2's chilled compartment, a reading a minute: fine, the compressor fails and it
#: warms to 26 °C, stays there, then a replacement van takes the goods (recovery).
READINGS = [4.0, 4.1] + [5.0 + 1.5 * k for k in range(15)] + [26.0, 25.5, 26.0] * 4 + [4.0] * 3


def _publish(stack: ApiStack, seq: int, ts: datetime, temp_c: float) -> None:
    payload = telemetry_json("van-2", SENSOR, seq, ts, temp_c)
    topic = f"coldchain/v1/{SITE}/van-2/telemetry"
    argv = ["mosquitto_pub", "-p", str(stack.mosquitto.port), "-q", "1", "-t", topic]
    subprocess.run([*argv, "-m", payload], check=True, timeout=10)


def _temperature_alert(stack: ApiStack) -> dict[str, Any] | None:
    found = [
        a
        for a in stack.alerts_api.alerts()
        if a["sensor"] == SENSOR and str(a["rule"]).startswith(("over_", "under_"))
    ]
    assert len(found) <= 1, found
    return found[0] if found else None


def _showing(stack: ApiStack, at: datetime) -> dict[str, Any] | None:
    alert = _temperature_alert(stack)
    if alert is None or alert["value_at"] is None:
        return None
    return alert if datetime.fromisoformat(alert["value_at"]) >= at else None


def _german(value: float) -> str:
    """How a German page writes a temperature: one decimal, a decimal comma."""
    return f"{value:.1f}".replace(".", ",") + " °C"


def _page_shows(page: str, current: float, peak: float) -> bool:
    return (
        f"Aktuell</dt><dd>{_german(current)}" in page
        and f"Spitzenwert</dt><dd>{_german(peak)}" in page
    )


def test_the_officer_sees_the_true_peak_decides_while_it_lasts_and_closes_after(
    stack: ApiStack,
) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=40)
    stack.start_ingest()
    stack.alerts().start()
    wait_until(stack.alerts_healthy, 30, "the alerts service")
    api = stack.alerts_api
    add_user(stack.alerts_database, "anna", Role.OFFICER, "anna-officer-password")
    phone = httpx.Client(base_url=api.url, timeout=10)
    assert log_in(phone, "anna", "anna-officer-password").status_code == 303, "logged in"
    phone.get("/language/de")
    fleet = Fleet.from_yaml(stack.fleet.read_text())
    absolute_c = next(
        asset.limits.absolute_max_c
        for site in fleet.sites
        for asset in site.assets
        if asset.id == "van-2-chilled"
    )
    assert absolute_c is not None and max(READINGS) > absolute_c
    decided = False
    for seq, value in enumerate(READINGS, start=1):
        at = start + timedelta(minutes=seq - 1)
        _publish(stack, seq, at, value)
        if value <= absolute_c:
            continue  # the absolute limit raises at once, the others after 15 minutes
        alert = wait_until(lambda at=at: _showing(stack, at), 20, f"the reading of {at}")
        sent = READINGS[:seq]
        assert alert["value_c"] == value, "the current value is the latest reading"
        assert alert["peak_c"] == max(sent), "the peak is the highest reading so far"
        page = phone.get(f"/alerts/{alert['id']}").text
        assert _page_shows(page, value, max(sent)), "the officer's page shows the same"
        if alert["active"]:
            began = datetime.fromisoformat(alert["opened_at"])
            assert alert["duration_s"] == (at - began).total_seconds()
        if alert["active"] and not decided:
            # The officer acts during the deviation.
            ack = api.post(f"/api/v1/alerts/{alert['id']}/acknowledge", {"comment": "on it"})
            assert ack.status_code == 200, ack.text
            assert ack.json()["standing"] == "decision_due"
            decision = api.post(
                f"/api/v1/alerts/{alert['id']}/decision",
                {
                    "cause": "compressor failed",
                    "corrective_action": "goods moved to van 3",
                    "product_decision": "quarantine",
                },
            )
            assert decision.status_code == 200, decision.text
            assert decision.json()["standing"] == "acknowledged"
            early = api.post(f"/api/v1/alerts/{alert['id']}/close", {"comment": "done"})
            assert (early.status_code, early.json()["code"]) == (409, "still_active")
            decided = True

    final = wait_until(
        lambda: (a := _temperature_alert(stack)) and not a["active"] and a, 20, "the clearing"
    )
    wait_until(
        lambda: (stack.metrics() or {}).get("coldchain_ingest_alert_events_unconfirmed") == 0,
        30,
        "ingest to hear that every event is stored",
    )
    assert decided and final["peak_c"] == 26.0 == max(READINGS)
    closed = api.post(f"/api/v1/alerts/{final['id']}/close", {"comment": "van 2 repaired"})
    assert closed.status_code == 200, closed.text
    assert (closed.json()["standing"], closed.json()["product_decision"]) == (
        "closed",
        "quarantine",
    )
    timeline = [s["action"] for s in api.get(f"/api/v1/alerts/{final['id']}").json()["timeline"]]
    assert timeline[0] == "opened" and timeline[-1] == "closed"
    assert {"acknowledged", "decided", "cleared"} <= set(timeline)
    verdict = api.get("/api/v1/audit/verify")
    assert verdict.status_code == 200 and verdict.json()["ok"] is True, verdict.text


def test_an_alert_closed_while_it_lasts_opens_again_when_it_gets_worse(stack: ApiStack) -> None:
    """A warning closed while it lasts must not hide the same excursion passing the
    absolute limit (found by a hostile review: one closed warning, no critical alarm)."""
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=40)
    stack.start_ingest()
    stack.alerts().start()
    wait_until(stack.alerts_healthy, 30, "the alerts service")
    api = stack.alerts_api
    warm = [4.0] + [5.5] * 18  # above the warning level, below the maximum: a warning
    for seq, value in enumerate(warm, start=1):
        _publish(stack, seq, start + timedelta(minutes=seq - 1), value)
    warning = wait_until(lambda: _temperature_alert(stack), 20, "the warning")
    assert warning["severity"] == "warning" and warning["active"]
    assert api.post(f"/api/v1/alerts/{warning['id']}/acknowledge", {"comment": "door"}).is_success
    loose = api.post(
        f"/api/v1/alerts/{warning['id']}/close", {"comment": "x", "while_active": "yes"}
    )
    assert loose.status_code == 422, "a boolean is true or false, not 'yes'"
    closing = {"comment": "door closed, cooling down", "while_active": True}
    closed = api.post(f"/api/v1/alerts/{warning['id']}/close", closing)
    assert closed.status_code == 200 and closed.json()["closed_while_active"], closed.text

    _publish(stack, len(warm) + 1, start + timedelta(minutes=len(warm)), 30.0)
    reopened = wait_until(
        lambda: (a := _temperature_alert(stack)) and a["status"] == "open" and a,
        20,
        "the alert open again, critical",
    )
    assert (reopened["id"], reopened["severity"], reopened["peak_c"]) == (
        warning["id"],
        "critical",
        30.0,
    )
    timeline = [s["action"] for s in api.get(f"/api/v1/alerts/{warning['id']}").json()["timeline"]]
    assert timeline[-2:] == ["closed", "reopened"]
