"""The fleet registry's pages in a real browser: a limit changed with a reason, four eyes.

Anna (officer) tightens cold room 1's upper alarm limit from +6 to +4 °C with a
reason: it takes effect at once. She then loosens it to +5 °C: it waits, and she
cannot approve her own request. Ben (a second officer) logs in and approves it; the
history shows who changed what, when, old → new and why, and the API and the audit
chain agree. The alerts service runs as deployed; Chromium is the real one
(tests/browsing.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Browser, Page, expect

from coldchain_alerts.auth import Role
from coldchain_devstack.stack import DEMO_FLEET
from tests.alertsapi import ApiStack, add_user
from tests.browsing import Scene, chromium, context, fits_the_phone, log_in, shoot

SECOND, SECOND_PASSWORD = "ben", "vier-augen-pruefen-7"
MAX_C = "assets/cold-room-1/limits/max_c"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture
def scene(stack: ApiStack) -> Scene:
    made = Scene(stack)
    made.start()
    add_user(stack.alerts_database, SECOND, Role.OFFICER, SECOND_PASSWORD)
    seeded = made.api.put(
        "/api/v1/fleet",
        {"fleet": yaml.safe_load(DEMO_FLEET.read_text()), "reason": "registry seeded"},
    )
    assert seeded.status_code == 201, seeded.text
    return made


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    made = context(browser)
    yield made.new_page()
    made.close()


def _change(page: Page, value: str, reason: str) -> None:
    form = page.locator("#change")
    form.locator("select[name=asset]").select_option("cold-room-1")
    form.locator("select[name=field]").select_option("max_c")
    form.get_by_label("Neuer Wert").fill(value)
    form.get_by_label("Begründung (HACCP)").fill(reason)
    form.get_by_role("button", name="Änderung beantragen").click()


def test_a_limit_changed_with_a_reason_and_a_loosening_approved_by_a_second_person(
    scene: Scene, phone: Page, tmp_path: Path
) -> None:
    page = phone
    page.goto(f"{scene.url}/fleet")
    log_in(page)
    expect(page).to_have_url(f"{scene.url}/fleet")
    expect(page.locator("#asset-cold-room-1 .max_c")).to_have_text("6")
    expect(page.locator("#pending")).to_contain_text("Keine Änderung wartet.")
    fits_the_phone(page)
    shoot(page, tmp_path, "1-fleet")

    # Without a reason the browser does not send the form; sent anyway, the page says why.
    page.locator("#change textarea[name=reason]").evaluate("field => field.required = false")
    _change(page, "4", "")
    expect(page.locator("#error")).to_contain_text("Bitte begründen Sie die Änderung")
    _change(page, "4,0", "Geflügel zieht in Kühlraum 1 ein")
    expect(page.locator("#done")).to_have_text("Die Änderung ist in Kraft.")
    expect(page.locator("#asset-cold-room-1 .max_c")).to_have_text("4")

    _change(page, "5", "Nur noch Molkereiprodukte in Kühlraum 1")
    expect(page.locator("#done")).to_contain_text("wartet auf die Freigabe")
    expect(page.locator("#asset-cold-room-1 .max_c")).to_have_text("4")
    request = page.locator("#pending article.request")
    expect(request).to_contain_text("cold-room-1: max_c 4 → 5")
    expect(request).to_contain_text("Ihr eigener Antrag")
    expect(request.get_by_role("button", name="Freigeben")).to_have_count(0)
    shoot(page, tmp_path, "2-pending")

    page.get_by_role("button", name="Abmelden").click()
    page.goto(f"{scene.url}/fleet")
    page.get_by_label("Benutzername").fill(SECOND)
    page.get_by_label("Passwort").fill(SECOND_PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(f"{scene.url}/fleet")
    request = page.locator("#pending article.request")
    expect(request).to_contain_text("Beantragt von anna")
    request.get_by_role("button", name="Freigeben").click()
    expect(page.locator("#done")).to_have_text("Freigegeben: die Änderung ist in Kraft.")
    expect(page.locator("#asset-cold-room-1 .max_c")).to_have_text("5")
    expect(page.locator("#pending")).to_contain_text("Keine Änderung wartet.")

    page.get_by_role("link", name="Änderungen der Flotte").click()
    rows = page.locator("table.history tbody tr")
    expect(rows).to_have_count(3)
    newest = rows.first
    expect(newest).to_contain_text("anna")
    expect(newest).to_contain_text(f"{MAX_C}: 4 → 5")
    expect(newest).to_contain_text("Nur noch Molkereiprodukte in Kühlraum 1")
    expect(newest).to_contain_text("in Kraft, ergab Version 3")
    expect(newest).to_contain_text("in Kraft von ben")
    expect(rows.nth(1)).to_contain_text(f"{MAX_C}: nicht gesetzt → 4")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_have_text("Changes to the fleet")
    expect(rows.first).to_contain_text(f"{MAX_C}: 4 → 5")
    expect(rows.first).to_contain_text("in force by ben")
    shoot(page, tmp_path, "3-history")

    current = scene.api.get("/api/v1/fleet").json()
    assert (current["version"], current["created_by"], current["approved_by"]) == (3, "anna", "ben")
    entries = scene.api.get("/api/v1/audit").json()
    changed = [json.loads(e["detail"]) for e in entries if e["action"] == "fleet.changed"]
    assert changed[-1]["approved_by"] == "ben"
    assert changed[-1]["reason"] == "Nur noch Molkereiprodukte in Kühlraum 1"
    assert scene.api.get("/api/v1/audit/verify").json()["ok"]


def test_what_the_pages_refuse_they_say_on_the_page(scene: Scene, phone: Page) -> None:
    """Forms sent around the browser's checks: an own loosening approved, an expired
    form, a value that is no number, an unknown asset, a limit above the legal maximum."""
    page = phone
    page.goto(f"{scene.url}/fleet")
    log_in(page)
    token = page.locator("input[name=csrf]").first.input_value()

    def send(path: str, **form: str) -> tuple[int, str]:
        answer = page.request.post(f"{scene.url}{path}", form=form | {"csrf": token})
        return answer.status, " ".join(answer.text().split())

    fields = {"asset": "cold-room-1", "field": "delay_s", "reason": "Kühlraum 1 taut länger ab"}
    assert send("/fleet/change", **fields, value="60")[0] == 200, "pending: back on /fleet"
    (pending,) = scene.api.get("/api/v1/fleet/requests", status="pending").json()
    status, text = send(f"/fleet/requests/{pending['id']}/approve")
    assert status == 409 and "needs a second person" in text
    assert "Die Änderung wurde nicht angenommen" in text

    forged = page.request.post(
        f"{scene.url}/fleet/change", form=fields | {"value": "30", "csrf": "bad"}
    )
    assert forged.status == 400 and "Das Formular ist abgelaufen" in forged.text()
    status, text = send("/fleet/change", **fields, value="warm")
    assert status == 422 and "„warm“ ist keine Zahl" in text
    status, text = send("/fleet/change", **(fields | {"asset": "no-such-room"}), value="3")
    assert status == 422 and "no-such-room" in text
    status, text = send("/fleet/change", **(fields | {"field": "max_c"}), value="7")
    assert status == 422 and "legal maximum" in text.lower()
    status, text = send("/fleet/change", **(fields | {"field": "budget_window_s"}), value="7")
    assert status == 422 and "Diesen Grenzwert kann die Seite nicht ändern" in text
    assert scene.api.get("/api/v1/fleet").json()["version"] == 1, "nothing else changed"
