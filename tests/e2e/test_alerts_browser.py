"""The officer acts on an alert in a real browser on a phone, as at night (tests/browsing.py).

She acknowledges, records the cause, the corrective action and the product decision
while the condition lasts (HACCP: during the deviation), amends them, and closes the
alert after recovery, or explicitly while the condition is still present, with a
reason. What the service refuses is said on the page, in German or English.
Screenshots go to the test's directory (their paths are printed; `pytest -s`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from coldchain.contract import AlertState
from coldchain_devstack.servers import free_port, wait_until
from tests.alertsapi import ApiStack
from tests.browsing import (
    FULL_NAME,
    PASSWORD,
    USER,
    Scene,
    big_enough,
    chromium,
    context,
    csrf,
    fits_the_phone,
    log_in,
    shoot,
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture
def scene(stack: ApiStack) -> Scene:
    made = Scene(stack)
    made.start()
    return made


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    made = context(browser)
    yield made.new_page()
    made.close()


def test_an_officer_acknowledges_decides_while_it_lasts_and_closes_after_recovery(
    scene: Scene, phone: Page, tmp_path: Path
) -> None:
    alert = scene.raise_van_2()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = phone

    page.goto(f"{scene.url}/alerts")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    fits_the_phone(page)
    log_in(page, shots)
    expect(page).to_have_url(f"{scene.url}/alerts")
    item = page.locator("li.alert").filter(has_text="Transporter 2, Kühlfach")
    expect(item).to_contain_text("Kritisch")
    expect(item).to_contain_text("Unbestätigt")
    expect(item).to_contain_text("besteht noch")
    fits_the_phone(page)
    tabs = page.locator(".tabs a")
    big_enough(item, tabs.first, tabs.last, page.get_by_role("button", name="Abmelden"))
    shoot(page, shots, "1-inbox")

    item.get_by_role("link").tap()
    expect(page).to_have_url(f"{scene.url}/alerts/{alert['id']}")
    expect(page.locator("h1")).to_contain_text("Transporter 2, Kühlfach")
    expect(page.locator("#status")).to_have_text("Unbestätigt")
    expect(page.locator("#decision")).to_have_count(0)
    big_enough(page.get_by_role("button", name="Bestätigen"))
    fits_the_phone(page)
    shoot(page, shots, "2-detail-open")

    page.get_by_label("Kommentar").fill("Kühlaggregat neu gestartet, Fahrer informiert.")
    page.get_by_role("button", name="Bestätigen").tap()
    expect(page.locator(".done")).to_have_text("Alarm bestätigt.")
    expect(page.locator("#status")).to_have_text("Entscheidung fällig")
    acknowledged = page.locator("li.step.acknowledged")
    expect(acknowledged).to_contain_text(FULL_NAME)
    expect(acknowledged.locator("blockquote")).to_have_text(
        "Kühlaggregat neu gestartet, Fahrer informiert."
    )

    # While it lasts: the decision is recorded now, the closing waits for recovery.
    form = page.locator("#decision")
    form.get_by_label("Ursache").fill("Kompressor von Transporter 2 ausgefallen.")
    form.get_by_label("Maßnahme").fill("Ware in Kühlraum 1 umgelagert, Werkstatt beauftragt.")
    form.get_by_label("Entscheidung zur Ware").select_option("quarantine")
    big_enough(form.get_by_role("button", name="Speichern"))
    fits_the_phone(page)
    shoot(page, shots, "3-decision-while-it-lasts")
    form.get_by_role("button", name="Speichern").tap()
    expect(page.locator(".done")).to_have_text("Entscheidung gespeichert.")
    expect(page.locator("#status")).to_have_text("Bestätigt")
    expect(page.locator("#close")).to_have_count(0)
    expect(page.locator("#close-while-active")).to_be_visible()

    scene.publish(scene.excursion.event(AlertState.CLEARED))
    wait_until(lambda: scene.stored_alert(active=False), 20, "the alert to be cleared")
    page.reload()
    close = page.locator("#close")
    expect(close).to_be_visible()
    expect(page.locator("#close-while-active")).to_have_count(0)
    # What was recorded is in the form, to amend; the closing names it.
    expect(page.locator("#decision").get_by_label("Ursache")).to_have_value(
        "Kompressor von Transporter 2 ausgefallen."
    )
    fits_the_phone(page)
    shoot(page, shots, "4-detail-close-form")
    close.get_by_label("Kommentar").fill("Werkstatt hat den Kompressor getauscht.")
    big_enough(close.get_by_role("button", name="Abschließen"))
    close.get_by_role("button", name="Abschließen").tap()

    expect(page.locator(".done")).to_have_text("Alarm abgeschlossen.")
    expect(page.locator("#status")).to_have_text("Abgeschlossen")
    expect(page.locator("li.step.cleared")).to_contain_text("Zustand behoben")
    closed = page.locator("li.step.closed")
    expect(closed).to_contain_text("Ware in Kühlraum 1 umgelagert, Werkstatt beauftragt.")
    expect(closed).to_contain_text("Sperren (Quarantäne)")
    expect(closed).to_contain_text("Kompressor von Transporter 2 ausgefallen.")
    expect(closed).to_contain_text("Werkstatt hat den Kompressor getauscht.")
    expect(closed).to_contain_text(FULL_NAME)
    actions = page.locator("ol.timeline > li").evaluate_all(
        "steps => steps.map(step => step.className.split(' ')[1])"
    )
    assert actions == ["opened", "acknowledged", "decided", "cleared", "closed"]
    fits_the_phone(page)
    shoot(page, shots, "5-closed")

    stored = scene.stored_alert(status="closed", product_decision="quarantine")
    assert stored is not None, scene.api.alerts()
    assert stored["closed_while_active"] is False


def test_the_officer_amends_the_decision_and_closes_while_it_lasts_with_a_reason(
    scene: Scene, phone: Page
) -> None:
    alert = scene.raise_van_2()
    page = phone
    detail = f"{scene.url}/alerts/{alert['id']}"
    page.goto(detail)
    log_in(page)
    expect(page).to_have_url(detail)

    # Nothing to decide before somebody has taken the alert.
    refused = page.request.post(
        f"{detail}/decision", form={"cause": "zu früh", "csrf": csrf(page)}, max_redirects=0
    )
    assert refused.status == 409
    assert "Bitte den Alarm zuerst bestätigen." in refused.text()

    page.get_by_label("Kommentar").fill("Bin unterwegs zum Fahrzeug.")
    page.get_by_role("button", name="Bestätigen").tap()
    expect(page.locator("#status")).to_have_text("Entscheidung fällig")
    expect(page.locator(".what")).to_contain_text("besteht noch")

    decision = page.locator("#decision")
    decision.get_by_role("button", name="Speichern").tap()
    expect(page.locator(".error")).to_have_text(
        "Bitte Ursache, Maßnahme oder Entscheidung zur Ware eintragen."
    )

    # Closing while it lasts: a reason, and for a critical alert the whole decision.
    page.locator("#close-while-active summary").tap()
    early = page.locator("#close-while-active form")
    early.get_by_label("Begründung").fill("Fahrzeug wird stillgelegt.")
    early.get_by_role("button", name="Trotzdem abschließen").tap()
    expect(page.locator(".error")).to_have_text(
        "Ein kritischer Alarm braucht Ursache, Maßnahme und Entscheidung zur Ware. "
        "Es fehlen: Ursache, Maßnahme, Entscheidung zur Ware."
    )
    decision = page.locator("#decision")
    decision.get_by_label("Ursache").fill("Kompressor ausgefallen.")
    decision.get_by_label("Entscheidung zur Ware").select_option("quarantine")
    decision.get_by_role("button", name="Speichern").tap()
    expect(page.locator(".done")).to_have_text("Entscheidung gespeichert.")
    expect(page.locator("#status")).to_have_text("Entscheidung fällig")
    expect(page.locator("#facts")).to_contain_text("Es fehlt: Maßnahme")

    # Amending later keeps what was recorded before in the timeline (the audit log).
    decision = page.locator("#decision")
    expect(decision.get_by_label("Ursache")).to_have_value("Kompressor ausgefallen.")
    decision.get_by_label("Maßnahme").fill("Ware umgeladen in Transporter 3.")
    decision.get_by_label("Entscheidung zur Ware").select_option("discard")
    decision.get_by_role("button", name="Speichern").tap()
    expect(page.locator("#status")).to_have_text("Bestätigt")
    decided = page.locator("li.step.decided")
    expect(decided).to_have_count(2)
    expect(decided.first).to_contain_text("Sperren (Quarantäne)")
    expect(decided.first).to_contain_text("während der Zustand bestand")
    expect(decided.last).to_contain_text("Entsorgen")
    expect(decided.last).to_contain_text("Ware umgeladen in Transporter 3.")
    expect(page.locator("#facts")).to_contain_text("Entsorgen")

    # The closing after recovery is not offered, and refused when sent anyway.
    expect(page.locator("#close")).to_have_count(0)
    refused = page.request.post(
        f"{detail}/close", form={"comment": "", "csrf": csrf(page)}, max_redirects=0
    )
    assert refused.status == 409
    assert "Der Zustand besteht noch" in refused.text()

    page.locator("#close-while-active summary").tap()
    early = page.locator("#close-while-active form")
    # Without the browser's own check, the service asks for the reason.
    early.get_by_label("Begründung").evaluate("field => field.removeAttribute('required')")
    early.get_by_role("button", name="Trotzdem abschließen").tap()
    expect(page.locator(".error")).to_have_text(
        "Bitte begründen, warum der Alarm abgeschlossen wird, obwohl der Zustand noch besteht."
    )

    page.get_by_role("link", name="English").tap()
    page.locator("#close-while-active summary").tap()
    early = page.locator("#close-while-active form")
    early.get_by_label("Reason").evaluate("field => field.removeAttribute('required')")
    early.get_by_role("button", name="Close anyway").tap()
    expect(page.locator(".error")).to_have_text(
        "Please say why the alert is closed while the condition is still present."
    )
    page.get_by_role("link", name="Deutsch").tap()

    page.locator("#close-while-active summary").tap()
    early = page.locator("#close-while-active form")
    early.get_by_label("Begründung").fill("Fahrzeug stillgelegt, Ware entsorgt.")
    early.get_by_role("button", name="Trotzdem abschließen").tap()
    expect(page.locator(".done")).to_have_text("Alarm abgeschlossen.")
    expect(page.locator("#status")).to_have_text("Abgeschlossen")
    closed = page.locator("li.step.closed")
    expect(closed).to_contain_text("während der Zustand bestand")
    expect(closed.locator("blockquote")).to_have_text("Fahrzeug stillgelegt, Ware entsorgt.")
    expect(closed).to_contain_text("Entsorgen")
    fits_the_phone(page)

    stored = scene.stored_alert(status="closed")
    assert stored is not None
    assert stored["closed_while_active"] is True and stored["active"] is True
    assert stored["product_decision"] == "discard"
    assert stored["close_comment"] == "Fahrzeug stillgelegt, Ware entsorgt."
    audit = [s for s in scene.timeline(alert["id"]) if s["action"] == "decided"]
    assert [s["detail"].get("product_decision") for s in audit] == ["quarantine", "discard"]
    assert audit[0]["detail"]["while_active"] is True
    assert audit[0]["actor"] == USER


def test_forms_need_the_sessions_csrf_token_and_a_login(scene: Scene, phone: Page) -> None:
    alert = scene.raise_van_2()
    page = phone
    detail = f"{scene.url}/alerts/{alert['id']}"
    acknowledge = f"{detail}/acknowledge"

    page.goto(detail)
    log_in(page)
    expect(page).to_have_url(detail)
    # With the officer's session cookie, but a forged token or none.
    for token in ("forged-token", ""):
        for action, form in (
            (acknowledge, {"comment": "forged"}),
            (f"{detail}/decision", {"cause": "forged"}),
            (f"{detail}/close", {"comment": "forged", "while_active": "true"}),
        ):
            response = page.request.post(action, form=form | {"csrf": token}, max_redirects=0)
            assert response.status == 409
            assert "Das Formular ist abgelaufen." in response.text()
    # A page of another origin on the same host posts the form: the browser sends
    # the cookie (same site), the page cannot know the token.
    other = f"http://127.0.0.1:{free_port()}/offer"
    page.route(
        other,
        lambda route: route.fulfill(
            content_type="text/html",
            body=f'<form method="post" action="{acknowledge}">'
            '<input name="comment" value="forged"><button>Gewinnspiel</button></form>',
        ),
    )
    page.goto(other)
    page.get_by_role("button", name="Gewinnspiel").tap()
    expect(page.locator(".error")).to_have_text(
        "Das Formular ist abgelaufen. Bitte erneut absenden."
    )
    fits_the_phone(page)
    assert scene.stored_alert(status="open", acknowledged_by=None) is not None

    page.goto(detail)
    expect(page.locator("#status")).to_have_text("Unbestätigt")
    expect(page.locator("li.step.acknowledged")).to_have_count(0)
    token = page.locator("#acknowledge input[name=csrf]").input_value()
    page.get_by_role("button", name="Abmelden").tap()
    expect(page).to_have_url(f"{scene.url}/login")
    page.goto(detail)
    expect(page).to_have_url(re.compile(r"/login\?next=/alerts/"))
    response = page.request.post(
        acknowledge, form={"comment": "after logout", "csrf": token}, max_redirects=0
    )
    assert response.status == 303
    assert response.headers["location"].startswith("/login?next=")
    assert scene.stored_alert(status="open") is not None

    # English chosen on the login page stays after logging in.
    page.get_by_role("link", name="English").tap()
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").tap()
    expect(page).to_have_url(detail)
    expect(page.get_by_role("button", name="Acknowledge")).to_be_visible()
