"""The alerts pages in a real browser: the service, an officer, readings, and Chromium.

Debian's `chromium` runs headless, driven by Playwright (the pip wheel brings its
driver; no browser is downloaded). The alerts service runs as its own process
against real Mosquitto and InfluxDB; InfluxDB holds three hours of van 2's readings
so that the page draws the curve. Alert events are published over MQTT as ingest
publishes them. tests/e2e/test_alerts_browser*.py use this.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts import people, policies
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import DEMO_FLEET, SITE
from tests.alertsapi import ApiStack

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 900, "height": 900}
USER, PASSWORD, FULL_NAME = "anna", "kuehlkette-nachts-3", "Anna Schmidt"
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
#: How often the pages ask for fresh values (coldchain_alerts.web.pages.LIVE_EVERY_S).
LIVE_EVERY_MS = 10_000
_BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class Excursion:
    """Van 2's chilled compartment warms above its 5 °C limit (legal maximum 6 °C)."""

    started: datetime
    cleared: datetime
    peak_c: float = 9.4
    limit_c: float = 5.0
    regulatory_c: float = 6.0

    def temperature(self, at: datetime) -> float:
        """Piecewise linear: 3.5 °C, up to the limit at `started`, the peak, back down."""
        knots = [
            (self.started - timedelta(minutes=20), 3.5),
            (self.started, self.limit_c + 0.1),
            (self.started + timedelta(minutes=20), self.peak_c),
            (self.cleared - timedelta(minutes=10), self.peak_c - 0.6),
            (self.cleared, self.limit_c - 0.1),
            (self.cleared + timedelta(minutes=15), 3.7),
        ]
        if at <= knots[0][0]:
            return knots[0][1]
        for (t0, v0), (t1, v1) in pairwise(knots):
            if at <= t1:
                return v0 + (v1 - v0) * (at - t0) / (t1 - t0)
        return knots[-1][1]

    @property
    def key(self) -> str:
        return f"temperature_above/van-2.chilled/{self.started.isoformat()}"

    def event(self, state: AlertState, at: datetime | None = None) -> AlertEvent:
        """The event ingest sends for `state`; `at` (reading time) for a raise or an update,
        15 minutes after the start unless given."""
        cleared = state is AlertState.CLEARED
        if at is None:
            at = self.cleared if cleared else self.started + timedelta(minutes=15)
        return AlertEvent(
            key=self.key,
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
            value_c=round(self.temperature(at), 2),
            peak_c=round(self.peak_until(at), 2),
            limit_c=self.limit_c,
            regulatory_limit_c=self.regulatory_c,
            delay_s=900,
            duration_s=(self.cleared - self.started).total_seconds() if cleared else None,
            degree_minutes=95.0 if cleared else None,
        )

    def peak_until(self, at: datetime) -> float:
        """The warmest reading from the start to `at` (readings a minute apart)."""
        minutes = int((at - self.started).total_seconds() // 60)
        readings = [self.temperature(self.started + timedelta(minutes=m)) for m in range(minutes)]
        return max([*readings, self.temperature(at)])

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


def other_event(
    asset: str,
    sensor: str,
    started: datetime,
    rule: str = "over_max",
    severity: Severity = Severity.CRITICAL,
    state: AlertState = AlertState.RAISED,
    value_c: float = 8.0,
) -> AlertEvent:
    """An alert event of another asset of the demo fleet, 20 minutes after `started`."""
    at = started + timedelta(minutes=20)
    return AlertEvent(
        key=f"temperature_above/{sensor}/{started.isoformat()}",
        state=state,
        rule=rule,
        severity=severity,
        site=SITE,
        asset=asset,
        sensor=sensor,
        gateway=sensor.split(".")[0],
        started_at=started,
        at=at,
        ended_at=at if state is AlertState.CLEARED else None,
        value_c=value_c,
        peak_c=value_c,
        limit_c=6.0,
        regulatory_limit_c=6.0,
        delay_s=900,
        duration_s=20 * 60.0 if state is AlertState.CLEARED else None,
    )


class Scene:
    """The alerts service with an officer, van 2's readings in InfluxDB, and a publisher.

    Van 2's excursion began 70 minutes ago and cleared 25 minutes ago, or, `lasting`,
    clears only in an hour."""

    def __init__(self, stack: ApiStack, lasting: bool = False, **settings: str) -> None:
        self.stack = stack
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        self.now = now
        cleared = now + timedelta(minutes=60 if lasting else -25)
        self.excursion = Excursion(now - timedelta(minutes=70), cleared)
        influx = stack.influxdb
        influx.query("", f'CREATE DATABASE "{stack.database}"')
        influx.write(stack.database, self.excursion.line_protocol(now - timedelta(hours=3), now))
        self.url = f"http://127.0.0.1:{stack.alerts_port}"
        self.api = stack.alerts_api
        self.process = stack.alerts(
            COLDCHAIN_ALERTS_FLEET=str(DEMO_FLEET),
            COLDCHAIN_ALERTS_SECRET_KEY="browser-test-session-key-0123456789abcdef",
            **settings,
        )

    def start(self, contacts: list[dict[str, Any]] | None = None, reminder_s: int = 0) -> None:
        """Start the service; `contacts` (all on level 1) are reminded every `reminder_s`."""
        self._prepare(contacts or [], reminder_s)
        self.process.start()
        wait_until(self._healthy, 30, "the alerts service to be healthy")

    def _prepare(self, contacts: list[dict[str, Any]], reminder_s: int) -> None:
        # As `coldchain-alerts user add` and `policy set` do, without a second process start.
        database = self.stack.alerts_database
        migrate(database)
        engine = make_engine(database)
        try:
            with make_sessionmaker(engine, writes=True).begin() as session:
                people.add_user(session, "tests", USER, Role.OFFICER, PASSWORD, FULL_NAME)
                if contacts:
                    ids = [
                        people.save_contact(session, "tests", c | {"active": True}).id
                        for c in contacts
                    ]
                    policies.set_policy(session, "tests", SITE, 3600, reminder_s or None, [ids])
        finally:
            engine.dispose()

    def _healthy(self) -> bool:
        try:
            return self.api.get("/healthz").status_code == 200
        except Exception:  # noqa: BLE001 - not listening yet
            return False

    def publish(self, *events: AlertEvent) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", self.stack.mosquitto.port)
        client.loop_start()
        try:
            for event in events:
                info = client.publish(topics.alerts(SITE), event.model_dump_json(), qos=1)
                info.wait_for_publish(timeout=10)
        finally:
            client.disconnect()
            client.loop_stop()

    def raise_van_2(self, state: AlertState = AlertState.RAISED) -> dict[str, Any]:
        """Publish van 2's event and return its alert as the API shows it once stored."""
        self.publish(self.excursion.event(state))
        active = state is not AlertState.CLEARED
        return wait_until(lambda: self.stored_alert(active=active), 20, "van 2's alert")

    def showing(self, at: datetime) -> dict[str, Any] | None:
        """Van 2's alert once it shows the reading of `at` (reading time)."""
        alert = self.stored_alert()
        if alert is None or alert["value_at"] is None:
            return None
        return alert if datetime.fromisoformat(alert["value_at"]) == at else None

    def stored_alert(self, **wanted: object) -> dict[str, Any] | None:
        """Van 2's alert as the API shows it, once its fields have the `wanted` values."""
        alerts = [a for a in self.api.alerts() if a["asset"] == "van-2-chilled"]
        if len(alerts) != 1 or any(alerts[0].get(k) != v for k, v in wanted.items()):
            return None
        return alerts[0]

    def timeline(self, alert_id: int) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = self.api.get(f"/api/v1/alerts/{alert_id}").json()["timeline"]
        return steps


def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; for a module-scoped fixture."""
    found = shutil.which("chromium")
    if found is None:
        raise RuntimeError("chromium is not installed; `make test` installs Debian's chromium")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=found, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def context(
    browser: Browser,
    viewport: dict[str, int] = PHONE,
    scale: float = 3,
    javascript: bool = True,
) -> BrowserContext:
    """A fresh browser context (no cookies), a phone unless told, in German and Berlin time."""
    phone = viewport == PHONE
    made = browser.new_context(
        viewport=viewport,
        device_scale_factor=scale,
        is_mobile=phone,
        has_touch=phone,
        locale="de-DE",
        timezone_id="Europe/Berlin",
        java_script_enabled=javascript,
    )
    made.set_default_timeout(TIMEOUT_MS)
    return made


def fits_the_phone(page: Page) -> None:
    """A viewport meta tag, and nothing wider than the phone's screen."""
    meta = page.locator('meta[name="viewport"]').get_attribute("content") or ""
    assert "width=device-width" in meta
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]"
    )
    assert widths[0] <= widths[1] == PHONE["width"], f"scrolls sideways on {page.url}: {widths}"
    assert widths[2] <= PHONE["width"], f"scrolls sideways on {page.url}: {widths}"


def big_enough(*targets: Locator) -> None:
    """Touch targets at least 44 CSS pixels high, as phone guidelines ask."""
    for target in targets:
        box = target.bounding_box()
        assert box is not None and box["height"] >= 44, f"{target} is {box}"


def shoot(page: Page, directory: Path, name: str, full_page: bool = True) -> Path:
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")
    return path


def log_in(page: Page, shots: Path | None = None) -> None:
    """Log in on the login page the page was sent to, in German."""
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    if shots is not None:
        shoot(page, shots, "0-login")
    page.get_by_label("Benutzername").fill(USER)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()


def next_poll(page: Page) -> None:
    """Let the page's timers run as far as its next poll for fresh values (a faked
    clock: `page.clock.install()` before the page loads)."""
    page.clock.run_for(LIVE_EVERY_MS + 500)


def csrf(page: Page) -> str:
    """The CSRF token of the page's forms."""
    token = page.locator("input[name=csrf]").first.input_value()
    assert token
    return token


def local(at: datetime, language: str = "de") -> str:
    """How the pages write a time: Berlin wall time with the zone."""
    here = at.astimezone(_BERLIN)
    zone = here.tzname() or ""
    if language == "de":
        zone = {"CET": "MEZ", "CEST": "MESZ"}.get(zone, zone)
        return f"{here:%d.%m.%Y %H:%M} {zone}"
    return f"{here:%Y-%m-%d %H:%M} {zone}"


def clock(at: datetime) -> str:
    return f"{at.astimezone(_BERLIN):%H:%M}"
