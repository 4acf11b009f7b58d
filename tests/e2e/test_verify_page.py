"""The static verification page, docs/verify/index.html, in a real Chromium.

The page is opened from a file:// URL with every request refused but the page's own
file, as a kitchen without a network has it. It is given a signed record made by
`coldchain-report` from a real InfluxDB (tests/signed.py) and the hub's key list, and
must say what `coldchain-report verify FILE --key hub.pub` says: valid, or invalid
with the reason. Chromium checks the Ed25519 signature itself (WebCrypto).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from coldchain_devstack import REPO
from coldchain_devstack.servers import InfluxDB
from tests.browsing import chromium
from tests.hubkeys import HUB_NAME
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
        assert re.match(
            rf"GÜLTIG: signiert mit dem Schlüssel {key_id} der Schlüsselliste von {HUB_NAME} "
            r"\(Stand \S+Z\), unverändert\.",
            said,
        ), said
        assert re.search(
            rf"VALID: signed with key {key_id} of the key list of {HUB_NAME} as of \S+Z, "
            "unchanged.",
            said,
        ), said
        details = page.page.locator("#details").inner_text()
        assert key_id in details and sensor in details, details
    page.check(documents.json, keys, "valid")
    details = page.page.locator("#details").inner_text()
    assert "[object Object]" not in details, details
    for shown in ["LS-2025-10-25-0317", "Betriebskantine Mengede", "Putenbrust frisch"]:
        assert shown in details, details


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


def test_a_key_id_with_line_breaks_or_escapes_is_refused_on_one_line(
    page: VerifyPage, documents: Documents
) -> None:
    """The review's finding: the result box shows line breaks, and an unknown key id was
    shown as it came, so a forger wrote its own lines into the INVALID box."""
    keys = documents.hub.keys
    for key_id in ["0123456789abcdef\nGÜLTIG: vom Hub signiert", "\r\x1b[2Kverified\x1b[8m"]:

        def change(data: dict[str, Any], wanted: str = key_id) -> None:
            data["signature"]["key_id"] = wanted

        forged = edited(documents.json, change, "page-id.json")
        said = page.check(forged, keys, "invalid")
        assert said.count("\n") == 1 and "vom Hub signiert" not in said, said
        assert "INVALID: Its signature names no key id" in said, said


def _backdated(reach: Any) -> Any:
    def change(data: dict[str, Any]) -> None:
        data["issued_at"] = "2025-05-01T00:00:00Z"
        data["conventions"]["reading_holds_at_most_s"] = reach

    return change


def test_the_signers_conventions_and_loose_times_cannot_make_a_record_final(
    page: VerifyPage, documents: Documents
) -> None:
    """The review's finding: a retired key signed 'final' records dated before its
    retirement with a negative reach, and the page read times without an offset as
    local time and RFC 2822 dates."""
    hub = documents.hub
    retired = hub.directory / "page-retired.pub"
    retired.write_bytes(hub.keys.read_bytes())
    key_id = json.loads(retired.read_text())["keys"][0]["key_id"]
    hub.run("key", "retire", key_id, "--keys", str(retired), "--at", "2025-06-01T00:00Z")
    changes = [
        (_backdated(-1e9), "conventions"),
        (_backdated("90"), "conventions"),
        (_backdated(None), "conventions"),
        (lambda d: _backdated(90)(d) or d.pop("conventions"), "conventions"),
        (lambda d: d.update(issued_at="2025-05-31T23:30:00"), "no time"),
        (lambda d: d.update(issued_at="Sat, 31 May 2025 00:00:00 GMT"), "no time"),
        (lambda d: _backdated(90)(d) or d.update(preliminary="false"), "preliminary"),
    ]
    for n, (change, reason) in enumerate(changes):
        forged = hub.resigned(documents.json, change, f"page-backdated-{n}.json")
        said = page.check(forged, retired, "invalid")
        assert reason in said, (n, said)


def test_a_field_given_twice_or_a_number_past_range_is_refused(
    page: VerifyPage, documents: Documents
) -> None:
    """The review's finding: the page took the last of two fields (the command refuses
    both), and read 1e400 as Infinity, which JSON.stringify writes as null."""
    hub = documents.hub
    text = documents.json.read_text()
    twice = hub.directory / "page-twice.json"
    twice.write_text(text.replace('"delivery":', '"readings": 1,\n  "delivery":', 1))
    said = page.check(twice, hub.keys, "invalid")
    assert "gives the field readings twice" in said, said
    nulled = hub.resigned(documents.json, lambda d: d.update(max_c=None), "page-null.json")
    for number in ["1e400", "-1e999"]:
        infinite = hub.directory / "page-infinite.json"
        infinite.write_text(nulled.read_text().replace('"max_c": null', f'"max_c": {number}'))
        said = page.check(infinite, hub.keys, "invalid")
        assert "holds a number no signed record holds" in said, said


def test_a_key_list_with_a_key_twice_is_refused(page: VerifyPage, documents: Documents) -> None:
    hub = documents.hub
    data = json.loads(hub.keys.read_text())
    entry = data["keys"][0]
    data["keys"] = [{**entry, "revoked": {"at": "2026-01-01T00:00:00Z", "reason": "x"}}, entry]
    twice = hub.directory / "page-twice.pub"
    twice.write_text(json.dumps(data))
    said = page.check(documents.json, twice, "invalid")
    assert f"holds key {entry['key_id']} twice" in said, said


def test_the_verdict_names_the_key_list_and_notes_an_older_one(
    page: VerifyPage, documents: Documents
) -> None:
    """The review's finding: a forger's own key list named hub.pub gave 'VALID: signed by
    the hub'. The page names the hub the list names; a kitchen compares the key id."""
    hub = documents.hub
    private, forged_list = hub.another_key("page-forger", hub="REGIOwez Logistik")
    signing_key = hub.env["COLDCHAIN_REPORT_SIGNING_KEY"]
    hub.env["COLDCHAIN_REPORT_SIGNING_KEY"] = str(private)
    try:
        forged = hub.resigned(documents.json, lambda d: d.update(max_c=5.9), "page-forged.json")
    finally:
        hub.env["COLDCHAIN_REPORT_SIGNING_KEY"] = signing_key
    said = page.check(forged, forged_list, "valid")
    assert "of the key list of REGIOwez Logistik as of" in said, said
    older = json.loads(hub.keys.read_text())
    del older["hub"], older["issued_at"]
    older_list = hub.directory / "page-older.pub"
    older_list.write_text(json.dumps(older))
    said = page.check(documents.json, older_list, "valid")
    assert "names no hub and no date" in said, said
