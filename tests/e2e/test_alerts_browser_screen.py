"""What the officer sees on an alert's page, in a real browser (tests/browsing.py).

Severity first; the current temperature with its reading time, the peak and the
duration as the readings come in, without reloading; full names, not ids or logins;
a chart with a °C axis, the limit, the legal maximum and the alarm window; a timeline
that groups repeats; German that reads as German.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from coldchain.contract import AlertState
from coldchain_devstack.servers import wait_until
from tests.alertsapi import ApiStack
from tests.browsing import (
    DESKTOP,
    FULL_NAME,
    Scene,
    chromium,
    clock,
    context,
    fits_the_phone,
    local,
    log_in,
    next_poll,
    other_event,
)
from tests.fakes import RecordingHttpServer, SmtpSink


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    made = context(browser)
    yield made.new_page()
    made.close()


def _fact(page: Page, name: str) -> Locator:
    """The value of the fact `name` in the alert's facts."""
    return page.locator("#facts dt", has_text=re.compile(f"^{name}$")).locator(
        "xpath=following-sibling::dd[1]"
    )


def test_one_screen_shows_severity_first_the_current_values_full_names_and_the_curve(
    stack: ApiStack, browser: Browser
) -> None:
    scene = Scene(stack)
    scene.start()
    excursion = scene.excursion
    alert = scene.raise_van_2()
    latest = excursion.started + timedelta(minutes=25)
    scene.publish(excursion.event(AlertState.UPDATED, at=latest))
    wait_until(lambda: scene.showing(latest), 20, "the update")
    desktop = context(browser, DESKTOP, scale=1)
    page = desktop.new_page()
    detail = f"{scene.url}/alerts/{alert['id']}"
    page.goto(detail)
    log_in(page)

    heading = page.locator("main h1")
    expect(heading.locator(":scope > *").first).to_have_text("Kritisch")
    expect(heading).to_contain_text("Transporter 2, Kühlfach")
    expect(_fact(page, "Aktuell")).to_contain_text("9,2 °C")
    expect(_fact(page, "Aktuell")).to_contain_text(f"Messzeit {local(latest)}")
    expect(_fact(page, "Spitzenwert")).to_have_text("9,4 °C")
    expect(_fact(page, "Dauer")).to_have_text("25 min")
    expect(_fact(page, "Grenzwert")).to_have_text("5,0 °C")
    expect(_fact(page, "Gesetzlicher Höchstwert")).to_have_text("6,0 °C")
    expect(_fact(page, "Standort")).to_have_text("REGIOwez Dortmund")
    expect(page.locator("main")).not_to_contain_text("van-2-chilled")
    expect(page.locator("main")).not_to_contain_text("dortmund-hub")

    curve = page.locator("svg.curve")
    expect(curve.locator("text.unit")).to_have_text("°C")
    expect(curve.locator("line.limit")).to_have_count(1)
    expect(curve.locator("line.regulatory")).to_have_count(1)
    expect(curve.locator("rect.excursion")).to_have_count(1)
    assert (curve.locator("path.line").get_attribute("d") or "").count("L") > 100
    # From an hour before the start: what led to it is on the chart.
    description = curve.locator("desc")
    expect(description).to_contain_text(f"von {local(excursion.started - timedelta(hours=1))}")
    expect(description).to_contain_text(f"Alarm ab {local(excursion.started)}")
    legend = page.locator(".legend")
    expect(legend).to_contain_text("Grenzwert 5,0 °C")
    expect(legend).to_contain_text("Gesetzlicher Höchstwert 6,0 °C")
    expect(legend).to_contain_text("Alarmzeitraum")

    page.get_by_label("Kommentar").fill("Fahrer ruft an.")
    page.get_by_role("button", name="Bestätigen").click()
    expect(_fact(page, "Bestätigt von")).to_contain_text(FULL_NAME)
    expect(page.locator("li.step.acknowledged .actor")).to_have_text(FULL_NAME)
    expect(page.locator("li.step.opened .actor")).to_have_text("System")
    expect(page.locator("header .who")).to_have_text(FULL_NAME)

    page.get_by_role("link", name="English").click()
    expect(heading.locator(":scope > *").first).to_have_text("Critical")
    expect(_fact(page, "Current")).to_contain_text("9.2 °C")
    expect(_fact(page, "Site")).to_have_text("REGIOwez Dortmund")
    expect(page.locator(".legend")).to_contain_text("Legal maximum 6.0 °C")
    expect(page.locator("svg.curve desc")).to_contain_text("alert from")
    desktop.close()


def test_the_page_follows_the_readings_without_reloading(stack: ApiStack, browser: Browser) -> None:
    scene = Scene(stack)
    scene.start()
    excursion = scene.excursion
    alert = scene.raise_van_2()
    made = context(browser)
    page = made.new_page()
    page.clock.install()
    detail = f"{scene.url}/alerts/{alert['id']}"
    page.goto(detail)
    log_in(page)
    # What people write comes back as text, also in the parts the page fetches.
    hostile = 'Fahrer ruft an. <img src=x onerror="window.pwned = 1">'
    page.get_by_label("Kommentar").fill(hostile)
    page.get_by_role("button", name="Bestätigen").tap()
    expect(page.locator("#status")).to_have_text("Entscheidung fällig")
    typed = page.locator("#decision").get_by_label("Maßnahme")
    typed.fill("Ware wird umgeladen")
    page.evaluate("window.stillTheSamePage = true")

    latest = excursion.started + timedelta(minutes=30)
    scene.publish(excursion.event(AlertState.UPDATED, at=latest))
    wait_until(lambda: scene.showing(latest), 20, "the update")
    next_poll(page)
    expect(_fact(page, "Aktuell")).to_contain_text("9,0 °C")
    expect(_fact(page, "Aktuell")).to_contain_text(f"Messzeit {local(latest)}")
    expect(_fact(page, "Dauer")).to_have_text("30 min")
    expect(page.locator("svg.curve")).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True
    expect(typed).to_have_value("Ware wird umgeladen")
    expect(page.locator("li.step.acknowledged blockquote")).to_have_text(hostile)
    assert page.evaluate("window.pwned") is None
    fits_the_phone(page)

    # It clears while she types: her text stays, the page says what changed.
    scene.publish(excursion.event(AlertState.CLEARED))
    wait_until(lambda: scene.stored_alert(active=False), 20, "the clearing")
    next_poll(page)
    expect(page.locator(".what")).to_contain_text("behoben")
    expect(page.locator("li.step.cleared")).to_have_count(1)
    expect(page.locator("#live-changed")).to_be_visible()
    expect(typed).to_have_value("Ware wird umgeladen")
    expect(page.locator("#close")).to_have_count(0)
    # Nothing typed: the forms follow too.
    typed.fill("")
    next_poll(page)
    expect(page.locator("#close")).to_be_visible()
    expect(page.locator("#live-changed")).to_be_hidden()
    assert page.evaluate("window.stillTheSamePage") is True

    # The fresh values are the session's: nobody else reads them.
    stranger = browser.new_context()
    answer = stranger.request.get(f"{detail}/live")
    assert answer.status == 401
    assert answer.headers["content-type"].startswith("application/json")
    assert "9,0" not in answer.text()
    stranger.close()

    # Without JavaScript the page is whole, only as fresh as when it was loaded.
    plain = context(browser, javascript=False)
    without = plain.new_page()
    without.goto(detail)
    log_in(without)
    expect(_fact(without, "Aktuell")).to_contain_text("4,9 °C")
    expect(without.locator("#close")).to_be_visible()
    expect(without.locator("#live-changed")).to_be_hidden()
    without.locator("#close").get_by_role("button", name="Abschließen").click()
    expect(without.locator(".error")).to_contain_text("Ein kritischer Alarm braucht")
    plain.close()
    made.close()


def test_polling_does_not_keep_an_idle_session_alive(stack: ApiStack, browser: Browser) -> None:
    # 0.002 h: a session lasts 7.2 s without a page being opened.
    scene = Scene(stack, COLDCHAIN_ALERTS_SESSION_HOURS="0.002")
    scene.start()
    alert = scene.raise_van_2()
    made = context(browser)
    page = made.new_page()
    page.clock.install()
    detail = f"{scene.url}/alerts/{alert['id']}"
    page.goto(detail)
    log_in(page)
    expect(page.locator("h1")).to_contain_text("Transporter 2, Kühlfach")
    live = f"{detail}/live"
    wait_until(lambda: page.request.get(live).status == 401, 30, "the idle session to end")
    next_poll(page)
    expect(page.locator("#live-expired")).to_be_visible()
    page.goto(detail)
    expect(page).to_have_url(re.compile(r"/login\?next=/alerts/"))
    log_in(page)
    expect(page).to_have_url(detail)
    assert page.request.get(live).status == 200
    made.close()


@pytest.fixture
def webhook() -> Iterator[RecordingHttpServer]:
    with RecordingHttpServer() as server:
        yield server


def test_the_timeline_groups_repeated_reminders(
    stack: ApiStack, phone: Page, webhook: RecordingHttpServer, smtp: SmtpSink
) -> None:
    scene = Scene(
        stack,
        COLDCHAIN_ALERTS_SMTP_HOST="127.0.0.1",
        COLDCHAIN_ALERTS_SMTP_PORT=str(smtp.port),
        COLDCHAIN_ALERTS_SMTP_SECURITY="none",
        COLDCHAIN_ALERTS_SMTP_FROM="coldchain@example.org",
        COLDCHAIN_ALERTS_ESCALATION_WINDOW_S="0",
    )
    scene.start(
        contacts=[
            {"name": "Schichtleitung", "language": "de", "email": "schicht@hub.example"},
            {"name": "Hub manager", "language": "en", "webhook_url": f"{webhook.url}/hook"},
        ],
        reminder_s=1,
    )
    alert = scene.raise_van_2()

    def reminded() -> list[dict[str, object]]:
        return [s for s in scene.timeline(alert["id"]) if s["action"] == "reminded"]

    wait_until(lambda: len(reminded()) >= 4, 30, "four reminders")
    page = phone
    detail = f"{scene.url}/alerts/{alert['id']}"
    page.goto(detail)
    log_in(page)
    page.get_by_label("Kommentar").fill("Bin dran.")
    page.get_by_role("button", name="Bestätigen").tap()
    expect(page.locator("li.step.acknowledged")).to_have_count(1)
    page.reload()
    timeline = scene.timeline(alert["id"])
    (acknowledged,) = [s for s in timeline if s["action"] == "acknowledged"]
    at = timeline.index(acknowledged)
    steps = [s for s in timeline[:at] if s["action"] == "reminded"]
    # A reminder sent every second can be on its way when the acknowledgement commits:
    # it is recorded after it, truthfully, as a group of its own. One at most, and only
    # in that moment; any later reminder would be a reminder sent for an acknowledged alert.
    late = [s for s in timeline[at:] if s["action"] == "reminded"]
    assert len(late) <= 1, late
    for step in late:
        assert (datetime_of(step) - datetime_of(acknowledged)).total_seconds() < 2, step
    first, last = (datetime_of(s) for s in (steps[0], steps[-1]))

    groups = page.locator("li.step.reminded")
    expect(groups).to_have_count(1 + len(late))
    group = groups.first
    expect(group).to_contain_text(f"Erinnert (Stufe 1): {len(steps)}-mal")
    expect(group.locator("time")).to_contain_text(f"{clock(first)} bis {clock(last)}")
    expect(group).to_contain_text("Schichtleitung: E-Mail")
    expect(group).to_contain_text("Hub manager: Webhook")
    expect(page.locator("li.step.notified")).to_contain_text("Schichtleitung: E-Mail")
    lines = page.locator("ol.timeline > li").evaluate_all(
        "steps => steps.map(step => step.className.split(' ')[1])"
    )
    assert lines == ["opened", "notified", "reminded", "acknowledged"] + ["reminded"] * len(late)
    fits_the_phone(page)

    page.get_by_role("link", name="English").tap()
    group = page.locator("li.step.reminded").first
    expect(group).to_contain_text(f"Reminded (level 1): {len(steps)} times")
    expect(group.locator("time")).to_contain_text(f"{clock(first)} to {clock(last)}")
    expect(group).to_contain_text("Schichtleitung: e-mail")


def datetime_of(step: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(step["at"]))


def test_german_reads_as_german(scene_fired_twice: Scene, phone: Page) -> None:
    scene = scene_fired_twice
    alerts = {a["asset"]: a for a in scene.api.alerts()}
    page = phone
    page.goto(f"{scene.url}/alerts/{alerts['van-2-chilled']['id']}")
    log_in(page)
    expect(_fact(page, "Ausgelöst")).to_have_text("2-mal")
    page.goto(f"{scene.url}/alerts/{alerts['freezer-1']['id']}")
    expect(_fact(page, "Dauer")).to_have_text("1 Tag")
    page.goto(f"{scene.url}/alerts/99999")
    expect(page.locator("main")).to_contain_text("Alarm 99999 nicht gefunden.")
    page.get_by_role("link", name="English").tap()
    expect(page.locator("main")).to_contain_text("Alert 99999 not found.")
    page.goto(f"{scene.url}/alerts/{alerts['freezer-1']['id']}")
    expect(_fact(page, "Duration")).to_have_text("1 day")
    page.goto(f"{scene.url}/alerts/{alerts['van-2-chilled']['id']}")
    expect(_fact(page, "Fired")).to_have_text("2 times")


@pytest.fixture
def scene_fired_twice(stack: ApiStack) -> Scene:
    """Van 2's alert fired twice; the freezer's lasted exactly one day."""
    scene = Scene(stack)
    scene.start()
    excursion = scene.excursion
    again = excursion.cleared + timedelta(minutes=5)
    scene.publish(
        excursion.event(AlertState.RAISED),
        excursion.event(AlertState.CLEARED),
        other_event("van-2-chilled", "van-2.chilled", again),
    )
    day_ago = scene.now - timedelta(days=2)
    frozen = other_event("freezer-1", "freezer-1.air", day_ago, value_c=-12.0)
    scene.publish(
        frozen,
        frozen.model_copy(
            update={
                "state": AlertState.CLEARED,
                "at": day_ago + timedelta(days=1),
                "ended_at": day_ago + timedelta(days=1),
                "duration_s": 86400.0,
            }
        ),
    )

    def stored() -> bool:
        alerts = {a["asset"]: a for a in scene.api.alerts()}
        return (
            alerts.get("van-2-chilled", {}).get("occurrences") == 2
            and alerts.get("freezer-1", {}).get("active") is False
        )

    wait_until(stored, 20, "both alerts")
    return scene
