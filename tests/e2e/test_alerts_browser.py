"""The alerts pages in a real browser on a phone, as a hygiene officer uses them at night.

Debian's `chromium` runs headless, driven by Playwright (the pip wheel brings its
driver; no browser is downloaded). The alerts service runs as its own process
against real Mosquitto and InfluxDB; InfluxDB holds two hours of the sensor's
readings so the page draws the curve. Screenshots go to the test's directory
(their paths are printed; `pytest -s` shows them).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts import people
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from conftest import DEMO_FLEET, SITE, Stack
from servers import free_port, wait_until

PHONE = {"width": 390, "height": 844}
USER, PASSWORD = "anna", "kuehlkette-nachts-3"
#: Flags known to work as root in a closed network; Playwright adds --headless and
#: an empty --user-data-dir of its own, and --no-sandbox (its default without sandbox).
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class Excursion:
    """Van 2's chilled compartment warms above 6 °C for 45 minutes."""

    started: datetime
    cleared: datetime
    peak_c: float = 9.4
    limit_c: float = 6.0

    def temperature(self, at: datetime) -> float:
        """Piecewise linear: 4 °C, up to the limit at `started`, the peak, back down."""
        knots = [
            (self.started - timedelta(minutes=20), 4.0),
            (self.started, self.limit_c + 0.1),
            (self.started + timedelta(minutes=20), self.peak_c),
            (self.cleared - timedelta(minutes=10), self.peak_c - 0.6),
            (self.cleared, self.limit_c - 0.1),
            (self.cleared + timedelta(minutes=15), 4.2),
        ]
        if at <= knots[0][0]:
            return knots[0][1]
        for (t0, v0), (t1, v1) in pairwise(knots):
            if at <= t1:
                return v0 + (v1 - v0) * (at - t0) / (t1 - t0)
        return knots[-1][1]

    def event(self, state: AlertState) -> AlertEvent:
        cleared = state is AlertState.CLEARED
        at = self.cleared if cleared else self.started + timedelta(minutes=15)
        return AlertEvent(
            key=f"temperature_above/van-2.chilled/{self.started.isoformat()}",
            state=state,
            rule="over_max",
            severity=Severity.CRITICAL,
            site=SITE,
            asset="van-2-chilled",
            sensor="van-2.chilled",
            gateway="van-2",
            started_at=self.started,
            at=at,
            ended_at=self.cleared if cleared else None,
            value_c=self.temperature(at),
            peak_c=self.peak_c,
            limit_c=self.limit_c,
            regulatory_limit_c=self.limit_c,
            delay_s=900,
            duration_s=(self.cleared - self.started).total_seconds() if cleared else None,
            degree_minutes=95.0 if cleared else None,
        )

    def line_protocol(self, start: datetime, end: datetime) -> str:
        """One reading a minute from `start` to `end`, as ingest writes them."""
        lines = []
        at = start
        while at <= end:
            lines.append(
                "temperature,site=dortmund-hub,gateway=van-2,sensor=van-2.chilled,"
                f"asset=van-2-chilled temp_c={self.temperature(at):.2f} "
                f"{int(at.timestamp()) * 1_000_000_000}"
            )
            at += timedelta(minutes=1)
        return "\n".join(lines)


class Scene:
    """The alerts service with an officer, an alert's readings in InfluxDB, and a publisher."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        self.excursion = Excursion(now - timedelta(minutes=70), now - timedelta(minutes=25))
        influx = stack.influxdb
        influx.query("", f'CREATE DATABASE "{stack.database}"')
        influx.write(stack.database, self.excursion.line_protocol(now - timedelta(hours=2), now))
        self.url = f"http://127.0.0.1:{stack.alerts_port}"
        self.process = stack.alerts(
            COLDCHAIN_ALERTS_FLEET=str(DEMO_FLEET),
            COLDCHAIN_ALERTS_SECRET_KEY="browser-test-session-key-0123456789abcdef",
        )

    def start(self) -> None:
        self._add_officer()
        self.process.start()
        wait_until(self._healthy, 30, "the alerts service to be healthy")

    def _add_officer(self) -> None:
        # As `coldchain-alerts user add anna officer` does, without a second process start.
        database = self.stack.alerts_database
        migrate(database)
        engine = make_engine(database)
        try:
            with make_sessionmaker(engine).begin() as session:
                people.add_user(session, "tests", USER, Role.OFFICER, PASSWORD, "Anna Schmidt")
        finally:
            engine.dispose()

    def _healthy(self) -> bool:
        try:
            return self.stack.alerts_api.get("/healthz").status_code == 200
        except Exception:  # noqa: BLE001 - not listening yet
            return False

    def publish(self, state: AlertState) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", self.stack.mosquitto.port)
        client.loop_start()
        try:
            event = self.excursion.event(state)
            client.publish(topics.alerts(SITE), event.model_dump_json(), qos=1).wait_for_publish(
                timeout=10
            )
        finally:
            client.disconnect()
            client.loop_stop()

    def stored_alert(self, **wanted: object) -> dict[str, object] | None:
        """The one alert as the API shows it, once its fields have the `wanted` values."""
        alerts = self.stack.alerts_api.alerts()
        if len(alerts) != 1 or any(alerts[0].get(k) != v for k, v in wanted.items()):
            return None
        return alerts[0]


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError("chromium is not installed; `make test` installs Debian's chromium")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def scene(stack: Stack) -> Scene:
    made = Scene(stack)
    made.start()
    return made


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) the size of a phone, in German and Berlin time."""
    context = browser.new_context(
        viewport=PHONE,
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        locale="de-DE",
        timezone_id="Europe/Berlin",
    )
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


def _fits_the_phone(page: Page) -> None:
    """A viewport meta tag, and nothing wider than the phone's screen."""
    meta = page.locator('meta[name="viewport"]').get_attribute("content") or ""
    assert "width=device-width" in meta
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]"
    )
    assert widths[0] <= widths[1] == PHONE["width"], f"scrolls sideways on {page.url}: {widths}"
    assert widths[2] <= PHONE["width"], f"scrolls sideways on {page.url}: {widths}"


def _big_enough(*targets: Locator) -> None:
    """Touch targets at least 44 CSS pixels high, as phone guidelines ask."""
    for target in targets:
        box = target.bounding_box()
        assert box is not None and box["height"] >= 44, f"{target} is {box}"


def _shoot(page: Page, directory: Path, name: str) -> Path:
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def _log_in(page: Page, shots: Path | None = None) -> None:
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    _fits_the_phone(page)
    if shots is not None:
        _shoot(page, shots, "0-login")
    page.get_by_label("Benutzername").fill(USER)
    page.get_by_label("Passwort").fill(PASSWORD)
    _big_enough(page.get_by_role("button", name="Anmelden"))
    page.get_by_role("button", name="Anmelden").tap()


def test_an_officer_acknowledges_and_closes_an_alert_on_a_phone(
    scene: Scene, phone: Page, tmp_path: Path
) -> None:
    scene.publish(AlertState.RAISED)
    alert = wait_until(scene.stored_alert, 20, "the raised alert to be stored")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = phone

    page.goto(f"{scene.url}/alerts")
    _log_in(page, shots)
    expect(page).to_have_url(f"{scene.url}/alerts")
    item = page.locator("li.alert").filter(has_text="Transporter 2, Kühlfach")
    expect(item).to_contain_text("Kritisch")
    expect(item).to_contain_text("Offen")
    expect(item).to_contain_text("besteht noch")
    _fits_the_phone(page)
    tabs = page.locator(".tabs a")
    _big_enough(item, tabs.first, tabs.last, page.get_by_role("button", name="Abmelden"))
    _shoot(page, shots, "1-inbox")

    item.get_by_role("link").tap()
    expect(page).to_have_url(f"{scene.url}/alerts/{alert['id']}")
    expect(page.locator("h1")).to_contain_text("Transporter 2, Kühlfach")
    expect(page.locator("#status")).to_have_text("Offen")
    curve = page.locator("svg.curve")
    expect(curve).to_be_visible()
    assert (curve.locator("path.line").get_attribute("d") or "").count("L") > 100
    expect(curve.locator("text").filter(has_text="°C")).to_have_text("6,0 °C")
    expect(page.locator("#acknowledge")).to_be_visible()
    _big_enough(page.get_by_role("button", name="Bestätigen"))
    _fits_the_phone(page)
    _shoot(page, shots, "2-detail-open")

    page.get_by_label("Kommentar").fill("Kühlaggregat neu gestartet, Fahrer informiert.")
    page.get_by_role("button", name="Bestätigen").tap()
    expect(page.locator(".done")).to_have_text("Alarm bestätigt.")
    expect(page.locator("#status")).to_have_text("Bestätigt")
    acknowledged = page.locator("li.step.acknowledged")
    expect(acknowledged).to_contain_text(USER)
    expect(acknowledged.locator("blockquote")).to_have_text(
        "Kühlaggregat neu gestartet, Fahrer informiert."
    )
    expect(
        page.get_by_text("Abschließen ist möglich, sobald der Zustand behoben ist.")
    ).to_be_visible()

    page.get_by_role("link", name="English").tap()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#status")).to_have_text("Acknowledged")
    expect(page.get_by_role("heading", name="Timeline", exact=True)).to_be_visible()
    page.get_by_role("link", name="Deutsch").tap()
    expect(page.get_by_role("heading", name="Verlauf", exact=True)).to_be_visible()

    scene.publish(AlertState.CLEARED)
    wait_until(lambda: scene.stored_alert(active=False), 20, "the alert to be cleared")
    page.reload()
    form = page.locator("#close")
    expect(form).to_be_visible()
    _fits_the_phone(page)
    _shoot(page, shots, "3-detail-close-form")

    form.get_by_label("Ursache").fill("Kompressor von Transporter 2 ausgefallen.")
    form.get_by_label("Maßnahme").fill("Ware in Kühlraum 1 umgelagert, Werkstatt beauftragt.")
    form.get_by_label("Entscheidung zur Ware").select_option("quarantine")
    _big_enough(form.get_by_role("button", name="Abschließen"))
    form.get_by_role("button", name="Abschließen").tap()

    expect(page.locator(".done")).to_have_text("Alarm abgeschlossen.")
    expect(page.locator("#status")).to_have_text("Abgeschlossen")
    steps = page.locator("ol.timeline > li")
    expect(page.locator("li.step.acknowledged blockquote")).to_have_text(
        "Kühlaggregat neu gestartet, Fahrer informiert."
    )
    expect(page.locator("li.step.cleared")).to_contain_text("Zustand behoben")
    closed = page.locator("li.step.closed")
    expect(closed).to_contain_text("Ware in Kühlraum 1 umgelagert, Werkstatt beauftragt.")
    expect(closed).to_contain_text("Sperren (Quarantäne)")
    expect(closed).to_contain_text("Kompressor von Transporter 2 ausgefallen.")
    actions = [
        name.split()[-1]
        for name in steps.evaluate_all("steps => steps.map(step => step.className)")
    ]
    assert actions == ["opened", "acknowledged", "cleared", "closed"]
    _fits_the_phone(page)
    _shoot(page, shots, "4-closed")

    stored = scene.stored_alert(status="closed", product_decision="quarantine")
    assert stored is not None, scene.stack.alerts_api.alerts()


def test_forms_need_the_sessions_csrf_token_and_a_login(scene: Scene, phone: Page) -> None:
    scene.publish(AlertState.RAISED)
    alert = wait_until(scene.stored_alert, 20, "the raised alert to be stored")
    page = phone
    detail = f"{scene.url}/alerts/{alert['id']}"
    acknowledge = f"{detail}/acknowledge"

    page.goto(detail)
    _log_in(page)
    expect(page).to_have_url(detail)
    # With the officer's session cookie, but a forged token or none.
    for token in ("forged-token", ""):
        response = page.request.post(
            acknowledge, form={"comment": "forged", "csrf": token}, max_redirects=0
        )
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
    _fits_the_phone(page)
    assert scene.stored_alert(status="open", acknowledged_by=None) is not None

    page.goto(detail)
    expect(page.locator("#status")).to_have_text("Offen")
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
