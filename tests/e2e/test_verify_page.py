"""The static verification page, docs/verify/index.html, in a real Chromium.

The page is opened from a file:// URL with every request refused but the page's own
file, as a kitchen without a network has it. It is given a signed record made by
`coldchain-report` from a real InfluxDB (tests/signed.py) and the hub's key list, and
must say what `coldchain-report verify FILE --key hub.pub` says: valid, or invalid
with the reason. Chromium checks the Ed25519 signature itself (WebCrypto).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from coldchain_devstack import REPO
from coldchain_devstack.servers import InfluxDB
from tests.browsing import chromium
from tests.signed import Hub, edited, flipped, make_hub

PAGE = REPO / "docs" / "verify" / "index.html"


@dataclass(frozen=True)
class Documents:
    hub: Hub
    pdf: Path
    json: Path
    report_pdf: Path
    under_way: Path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from chromium()


@pytest.fixture(scope="module")
def documents(influxdb: InfluxDB, tmp_path_factory: pytest.TempPathFactory) -> Documents:
    hub = make_hub(influxdb, tmp_path_factory.mktemp("verify-page"))
    pdf, json_path = hub.certificate()
    report_pdf, _, _ = hub.report("2025-10-25", "2025-10-26")
    under_way, _ = hub.under_way()
    return Documents(hub, pdf, json_path, report_pdf, under_way)


class VerifyPage:
    """The page from its file, with every other request refused and noted."""

    def __init__(self, browser: Browser) -> None:
        self.requested: list[str] = []
        self.context = browser.new_context()
        self.context.route("**/*", self._only_the_page)
        self.page: Page = self.context.new_page()

    def _only_the_page(self, route: Route) -> None:
        if route.request.url == PAGE.as_uri():
            route.continue_()
        else:
            self.requested.append(route.request.url)
            route.abort("internetdisconnected")

    def check(self, document: Path, keys: Path, state: str, preliminary: bool = False) -> str:
        """What the page, opened afresh, says about `document`, once it says `state`;
        `preliminary`: with preliminary records accepted."""
        self.page.goto(PAGE.as_uri())
        if preliminary:
            self.page.check("#preliminary")
        self.page.set_input_files("#keys", keys)
        self.page.set_input_files("#document", document)
        result = self.page.locator("#result")
        expect(result).to_have_attribute("data-state", state)
        return result.inner_text()


@pytest.fixture
def page(browser: Browser) -> Iterator[VerifyPage]:
    opened = VerifyPage(browser)
    yield opened
    assert opened.requested == [], f"the page tried to reach {opened.requested}"
    opened.context.close()


def test_a_signed_certificate_and_report_are_valid(page: VerifyPage, documents: Documents) -> None:
    keys = documents.hub.keys
    key_id = json.loads(keys.read_text())["keys"][0]["key_id"]
    for document, sensor in [
        (documents.pdf, "van-1.chilled"),
        (documents.json, "van-1.chilled"),
        (documents.report_pdf, "cold-room-1.air"),
    ]:
        said = page.check(document, keys, "valid")
        assert said.startswith("GÜLTIG: vom Hub signiert und unverändert."), said
        assert "VALID: signed by the hub and unchanged." in said
        details = page.page.locator("#details").inner_text()
        assert key_id in details and sensor in details, details


def test_one_changed_byte_is_invalid(page: VerifyPage, documents: Documents) -> None:
    keys = documents.hub.keys
    size = documents.pdf.stat().st_size
    for at in [20, size // 2, size - 30]:
        said = page.check(flipped(documents.pdf, at, f"page-flipped-{at}.pdf"), keys, "invalid")
        assert "INVALID: The signature does not match the file" in said, (at, said)
    changed = edited(documents.json, lambda d: d.update(max_c=5.9), "page-cooler.json")
    said = page.check(changed, keys, "invalid")
    assert "INVALID: The signature does not match the contents" in said, said


def test_a_wrong_or_revoked_key_and_a_preliminary_record_are_invalid(
    page: VerifyPage, documents: Documents
) -> None:
    hub = documents.hub
    _, other_keys = hub.another_key("page-other")
    said = page.check(documents.pdf, other_keys, "invalid")
    assert "which the key list does not hold" in said, said
    said = page.check(documents.under_way, hub.keys, "invalid")
    assert "UNGÜLTIG: VORLÄUFIG" in said and "No final delivery certificate" in said, said
    said = page.check(documents.under_way, hub.keys, "preliminary", preliminary=True)
    assert "VALID BUT PRELIMINARY" in said, said
    revoked = hub.directory / "page-revoked.pub"
    revoked.write_bytes(hub.keys.read_bytes())
    key_id = json.loads(revoked.read_text())["keys"][0]["key_id"]
    hub.run("key", "revoke", key_id, "--keys", str(revoked), "--reason", "Laptop gestohlen")
    said = page.check(documents.pdf, revoked, "invalid")
    assert f"Key {key_id} was revoked on" in said and "Laptop gestohlen" in said, said
