"""The officer's inbox in a real browser (tests/browsing.py), and the screenshots of the docs.

The inbox sorts by severity, then by what an alert asks of people (its standing:
unacknowledged, decision due, acknowledged, closed), then newest first; the API lists
in the same order. Its tabs and counts use the standing: "open" is every alert that
is not closed.

`make screenshots` runs `test_screenshots_for_the_docs` with COLDCHAIN_SCREENSHOTS=docs/images,
which rewrites the German screenshots docs/alerts.md shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from coldchain.contract import AlertState, Severity
from coldchain_devstack.servers import wait_until
from tests.alertsapi import ApiStack
from tests.browsing import (
    DESKTOP,
    PHONE,
    Scene,
    chromium,
    context,
    fits_the_phone,
    log_in,
    next_poll,
    other_event,
)

#: Largest screenshot kept for the docs (bytes).
MAX_SHOT = 300_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


class Inbox:
    """Seven alerts of the demo fleet, each asking something else of the officer."""

    def __init__(self, stack: ApiStack) -> None:
        self.scene = Scene(stack, lasting=True)
        self.scene.start()
        scene, now = self.scene, self.scene.now
        minutes = {
            "van-3-chilled": 40,
            "cold-room-1": 10,
            "cold-room-2": 30,
            "freezer-1": 20,
            "van-1-chilled": 5,
            "van-1-frozen": 50,
        }
        sensors = {
            "van-3-chilled": "van-3.chilled",
            "cold-room-1": "cold-room-1.air",
            "cold-room-2": "cold-room-2.air",
            "freezer-1": "freezer-1.air",
            "van-1-chilled": "van-1.chilled",
            "van-1-frozen": "van-1.frozen",
        }
        events = {
            asset: other_event(asset, sensors[asset], now - timedelta(minutes=m))
            for asset, m in minutes.items()
        }
        for asset in ("cold-room-1", "van-1-frozen"):
            events[asset] = events[asset].model_copy(
                update={"rule": "over_warning", "severity": Severity.WARNING, "value_c": 5.5}
            )
        closed = events["van-1-chilled"]
        scene.publish(
            scene.excursion.event(AlertState.RAISED),
            *events.values(),
            closed.model_copy(update={"state": AlertState.CLEARED, "ended_at": closed.at}),
        )
        wait_until(lambda: len(scene.api.alerts()) == 7, 20, "seven alerts")
        self.ids = {a["asset"]: a["id"] for a in scene.api.alerts()}
        self._act("cold-room-2", "acknowledge", {"comment": "Techniker ist informiert."})
        self._act("freezer-1", "acknowledge", {"comment": "Tür war offen, geschlossen."})
        self._act("freezer-1", "decision", _DECIDED)
        self._act("van-1-chilled", "acknowledge", {"comment": "Kurz offen beim Beladen."})
        self._act("van-1-chilled", "close", _DECIDED)
        self._act("van-1-frozen", "acknowledge", {"comment": "Beobachte ich."})

    def _act(self, asset: str, step: str, body: dict[str, Any]) -> None:
        answer = self.scene.api.post(f"/api/v1/alerts/{self.ids[asset]}/{step}", body)
        assert answer.status_code == 200, answer.text

    def order(self, *assets: str) -> list[int]:
        return [self.ids[asset] for asset in assets]


_DECIDED = {
    "cause": "Tür offen gelassen.",
    "corrective_action": "Tür geschlossen, Ware gemessen: 3 °C im Kern.",
    "product_decision": "release",
}
#: Severity, then standing, then newest first.
OPEN_ORDER = (
    "van-3-chilled",  # critical, unacknowledged, 40 min ago
    "van-2-chilled",  # critical, unacknowledged, 70 min ago
    "cold-room-2",  # critical, decision due
    "freezer-1",  # critical, acknowledged with its decision
    "cold-room-1",  # warning, unacknowledged
    "van-1-frozen",  # warning, acknowledged
)
ALL_ORDER = (*OPEN_ORDER, "van-1-chilled")  # closed work last, whatever its severity


@pytest.fixture
def inbox(stack: ApiStack) -> Inbox:
    return Inbox(stack)


def _listed(page: Page) -> list[int]:
    return [int(i) for i in page.locator("li.alert").evaluate_all("l => l.map(e => e.dataset.id)")]


def _tab(page: Page, show: str) -> str:
    return page.locator(f'.tabs a[data-show="{show}"]').inner_text()


def _open_tab(page: Page, show: str) -> None:
    page.locator(f'.tabs a[data-show="{show}"]').tap()
    expect(page.locator(f'.tabs a[data-show="{show}"]')).to_have_attribute("aria-current", "page")


def test_the_inbox_sorts_by_severity_then_standing_then_time(
    inbox: Inbox, browser: Browser
) -> None:
    made = context(browser)
    page = made.new_page()
    page.clock.install()
    page.goto(f"{inbox.scene.url}/alerts")
    log_in(page)

    assert _listed(page) == inbox.order(*OPEN_ORDER)
    counts = {
        show: _tab(page, show)
        for show in ("open", "unacknowledged", "decision_due", "acknowledged", "closed", "all")
    }
    assert counts == {
        "open": "Offen 6",
        "unacknowledged": "Unbestätigt 3",
        "decision_due": "Entscheidung fällig 1",
        "acknowledged": "Bestätigt 2",
        "closed": "Abgeschlossen 1",
        "all": "Alle 7",
    }
    expect(page.locator(f'li.alert[data-id="{inbox.ids["cold-room-2"]}"]')).to_contain_text(
        "Entscheidung fällig"
    )
    fits_the_phone(page)
    # The API lists in the same order.
    assert [a["id"] for a in inbox.scene.api.alerts()] == inbox.order(*ALL_ORDER)
    assert [a["id"] for a in inbox.scene.api.alerts(status="open")] == inbox.order(
        *(a for a in OPEN_ORDER if a in ("van-3-chilled", "van-2-chilled", "cold-room-1"))
    )

    _open_tab(page, "unacknowledged")
    assert _listed(page) == inbox.order("van-3-chilled", "van-2-chilled", "cold-room-1")
    _open_tab(page, "all")
    assert _listed(page) == inbox.order(*ALL_ORDER)

    # A new alert comes in: the list and the counts follow without reloading.
    _open_tab(page, "open")
    page.evaluate("window.stillTheSamePage = true")
    new = other_event("van-3-frozen", "van-3.frozen", inbox.scene.now - timedelta(minutes=1))
    inbox.scene.publish(new.model_copy(update={"value_c": -12.0, "limit_c": -18.0}))
    wait_until(lambda: len(inbox.scene.api.alerts()) == 8, 20, "the eighth alert")
    next_poll(page)
    expect(page.locator("li.alert").first).to_contain_text("Transporter 3, Tiefkühlfach")
    expect(page.locator('.tabs a[data-show="unacknowledged"]')).to_have_text("Unbestätigt 4")
    expect(page.locator('.tabs a[data-show="open"]')).to_have_text("Offen 7")
    assert page.evaluate("window.stillTheSamePage") is True
    made.close()


def test_screenshots_for_the_docs(inbox: Inbox, browser: Browser, tmp_path: Path) -> None:
    """The German inbox on a phone and van 2's alert on a desktop, while it lasts, with the
    decision recorded: docs/alerts.md shows them."""
    wanted = os.environ.get("COLDCHAIN_SCREENSHOTS")
    shots = Path(wanted) if wanted else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    scene = inbox.scene
    latest = scene.now - timedelta(minutes=1)
    scene.publish(scene.excursion.event(AlertState.UPDATED, at=latest))
    wait_until(lambda: scene.showing(latest), 20, "van 2's reading")

    phone = context(browser, PHONE, scale=2)
    page = phone.new_page()
    page.goto(f"{scene.url}/alerts")
    log_in(page)
    expect(page.locator("li.alert")).to_have_count(6)
    page.screenshot(path=str(shots / "alerts-inbox.png"))

    alert = f"{scene.url}/alerts/{inbox.ids['van-2-chilled']}"
    page.goto(alert)
    page.get_by_label("Kommentar").fill("Fahrer hält an, Kühlaggregat wird neu gestartet.")
    page.get_by_role("button", name="Bestätigen").tap()
    decision = page.locator("#decision")
    decision.get_by_label("Ursache").fill("Kompressor ausgefallen.")
    decision.get_by_label("Maßnahme").fill("Ware in Transporter 3 umgeladen.")
    decision.get_by_label("Entscheidung zur Ware").select_option("quarantine")
    decision.get_by_role("button", name="Speichern").tap()
    expect(page.locator(".done")).to_have_text("Entscheidung gespeichert.")
    phone.close()

    desktop = context(browser, DESKTOP, scale=1)
    page = desktop.new_page()
    page.goto(alert)
    log_in(page)
    expect(page.locator("svg.curve")).to_be_visible()
    page.locator("#close-while-active summary").click()
    page.screenshot(path=str(shots / "alerts-alert.png"), full_page=True)
    desktop.close()

    for name in ("alerts-inbox.png", "alerts-alert.png"):
        size = (shots / name).stat().st_size
        print(f"screenshot: {shots / name} ({size} bytes)")
        assert size < MAX_SHOT, f"{name} is {size} bytes; keep the docs' screenshots small"
