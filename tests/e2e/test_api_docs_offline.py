"""The API's documentation pages work on a hub without internet.

Debian's `chromium` runs headless (Playwright drives it); every request to anything
but the alerts service is refused, as on a hub whose network ends at its router.
/docs (Swagger UI) must render the API from what the service itself serves, and must
not even try to reach anything else.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from coldchain_devstack.servers import wait_until
from tests.alertsapi import ApiStack

#: As in test_alerts_browser.py: flags known to work as root in a closed network.
CHROMIUM_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("chromium is not installed; `make test` installs Debian's chromium")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class Offline:
    """A browser page that reaches the alerts service and nothing else."""

    def __init__(self, browser: Browser, service: str) -> None:
        self.service = urlsplit(service).netloc
        self.refused: list[str] = []
        self.context = browser.new_context()
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.route("**/*", self._only_the_service)
        self.page: Page = self.context.new_page()

    def _only_the_service(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == self.service:
            route.continue_()
        else:
            self.refused.append(url)
            route.abort("internetdisconnected")


@pytest.fixture
def service(stack: ApiStack) -> str:
    stack.alerts().start()
    url = f"http://127.0.0.1:{stack.alerts_port}"

    def serving() -> bool:
        try:
            return httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(serving, 30, "the alerts service")
    return url


def test_the_api_documentation_renders_without_internet(browser: Browser, service: str) -> None:
    offline = Offline(browser, service)
    try:
        offline.page.goto(f"{service}/docs")
        title = offline.page.get_by_role("heading", name=re.compile("coldchain alerts"))
        expect(title.first).to_be_visible()
        operation = offline.page.get_by_text("/api/v1/alerts/{alert_id}/acknowledge")
        expect(operation.first).to_be_visible()
        assert offline.refused == [], f"/docs tried to reach outside: {offline.refused}"
    finally:
        offline.context.close()


def test_no_page_that_needs_the_internet_is_served(service: str) -> None:
    """ReDoc fetches its logo from the internet, so there is none; /docs is complete."""
    assert httpx.get(f"{service}/redoc", timeout=5).status_code == 404
    schema = httpx.get(f"{service}/openapi.json", timeout=5).json()
    assert schema["info"]["title"] == "coldchain alerts"
