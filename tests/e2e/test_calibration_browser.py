"""The calibration register's page in a real browser: checks entered, refusals shown.

Anna (officer) opens the page: no probe has a check. She enters cold room 1's last
check, made 400 days ago (due a year later): the probe is unverified, overdue, and
its maintenance alert is raised; cold room 2's check found 1.5 K. Forms sent around
the browser's checks are refused with the reason on the page, never a 500. The
alerts service runs as deployed; Chromium is the real one (tests/browsing.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from coldchain_devstack.servers import wait_until
from tests.alertsapi import ApiStack
from tests.browsing import Scene, chromium, context, csrf, fits_the_phone, log_in, shoot

ROOM, OTHER_ROOM = "cold-room-1.air", "cold-room-2.air"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture
def scene(stack: ApiStack) -> Scene:
    made = Scene(stack, COLDCHAIN_ALERTS_CALIBRATION_CHECK_INTERVAL_S="3600")
    made.start()
    return made


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    made = context(browser)
    yield made.new_page()
    made.close()


def _enter(page: Page, sensor: str, checked_on: str, deviation: str, due_on: str = "") -> None:
    form = page.locator("#enter")
    form.locator("select[name=sensor]").select_option(sensor)
    form.locator("input[name=checked_on]").fill(checked_on)
    form.locator("input[name=due_on]").fill(due_on)
    form.get_by_label("Abweichung (K)").fill(deviation)
    form.get_by_label("Referenzgerät oder Kalibrierschein").fill("Kalibrierschein K-2025-0117")
    form.get_by_label("Geprüft von").fill("Kalibrierlabor Nord")
    form.get_by_role("button", name="Prüfung eintragen").click()


def _probe(page: Page, sensor: str) -> Locator:
    """The row of the probe in the table of today's states."""
    return page.locator(f'[id="probe-{sensor}"]')


def _probe_alert(scene: Scene, sensor: str) -> dict[str, Any] | None:
    found = [
        a for a in scene.api.alerts() if a["rule"] == "probe_unverified" and a["sensor"] == sensor
    ]
    return found[0] if found else None


def test_an_officer_enters_checks_and_sees_each_probes_state(
    scene: Scene, phone: Page, tmp_path: Path
) -> None:
    page = phone
    page.goto(f"{scene.url}/calibration")
    log_in(page)
    expect(page).to_have_url(f"{scene.url}/calibration")
    expect(_probe(page, ROOM).locator(".state")).to_have_text("unbekannt (keine Prüfung)")
    expect(page.locator("#checks")).to_contain_text("Noch keine Prüfung eingetragen.")
    fits_the_phone(page)
    shoot(page, tmp_path, "1-empty")

    today = datetime.now(UTC).date()
    made = today - timedelta(days=400)
    _enter(page, ROOM, made.isoformat(), "-0,3")
    expect(page.locator("#done")).to_have_text("Die Prüfung ist eingetragen.")
    room = _probe(page, ROOM)
    expect(room.locator(".state")).to_have_text("nicht verifiziert: Prüfung überfällig")
    expect(room).to_contain_text(f"{made:%d.%m.%Y}")
    expect(room).to_contain_text("-0,3")
    _enter(page, OTHER_ROOM, (today - timedelta(days=3)).isoformat(), "1.5")
    other = _probe(page, OTHER_ROOM).locator(".state")
    expect(other).to_have_text("nicht verifiziert: Abweichung über ±1 K")
    rows = page.locator("#checks tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Kalibrierlabor Nord")
    expect(rows.first).to_contain_text("anna")
    shoot(page, tmp_path, "2-entered")

    listed = scene.api.get("/api/v1/calibration", sensor=ROOM).json()
    assert [(c["checked_on"], c["deviation_k"], c["entered_by"]) for c in listed] == [
        (made.isoformat(), -0.3, "anna")
    ]
    alert = wait_until(lambda: _probe_alert(scene, ROOM), 30, "the maintenance alert")
    assert alert["active"] and alert["severity"] == "warning", alert

    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Calibration")
    expect(_probe(page, OTHER_ROOM).locator(".state")).to_have_text(
        "unverified: deviation beyond ±1 K"
    )


def test_what_the_page_refuses_it_says_on_the_page(scene: Scene, phone: Page) -> None:
    """Forms sent around the browser's checks: an expired form, a day that is none, a
    deviation that is no number or beyond ±100 K, a check in the future, a probe the
    fleet does not have, a blank reference."""
    page = phone
    page.goto(f"{scene.url}/calibration")
    log_in(page)
    token = csrf(page)
    good = {
        "sensor": ROOM,
        "checked_on": "2026-03-12",
        "deviation_k": "0,2",
        "reference": "Kalibrierschein K-2026-0117",
        "checked_by": "Kalibrierlabor Nord",
    }

    def send(**changed: str) -> tuple[int, str]:
        form = good | {"csrf": token} | changed
        answer = page.request.post(f"{scene.url}/calibration", form=form)
        return answer.status, " ".join(answer.text().split())

    future = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    cases = [
        ({"csrf": "forged"}, 400, "Das Formular ist abgelaufen"),
        ({"checked_on": "12.03.2026"}, 422, "„12.03.2026“ ist kein Tag"),
        ({"due_on": "morgen"}, 422, "„morgen“ ist kein Tag"),
        ({"deviation_k": "warm"}, 422, "„warm“ ist keine Abweichung in K"),
        ({"deviation_k": "nan"}, 422, "„nan“ ist keine Abweichung in K"),
        ({"deviation_k": "150"}, 422, "deviation_k 150.0 K is beyond ±100 K"),
        ({"checked_on": future}, 422, f"checked_on {future} is in the future"),
        ({"due_on": "2026-03-01"}, 422, "due_on 2026-03-01 is before checked_on 2026-03-12"),
        ({"sensor": "no-such.probe"}, 404, "gibt es an Ihren Standorten nicht"),
        ({"sensor": "van-1.door"}, 404, "gibt es an Ihren Standorten nicht"),
        ({"reference": "   "}, 422, "Bitte geben Sie das Referenzgerät"),
        ({"reference": "x" * 201}, 422, "reference"),
        ({"checked_by": "tab\there"}, 422, "checked_by must be 1 to 200 printable characters"),
    ]
    for changed, status, says in cases:
        answered, text = send(**changed)
        assert (answered, says in text) == (status, True), (changed, text[:600])
    assert scene.api.get("/api/v1/calibration").json() == [], "nothing was entered"
    assert send()[0] == 200, "the good form, after the refusals: back on the page"
    assert len(scene.api.get("/api/v1/calibration").json()) == 1
