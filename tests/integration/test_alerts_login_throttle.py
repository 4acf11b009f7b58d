"""Login throttling through the real HTTP server: slow for guessers, never a lockout.

A hostile review locked the hygiene officer out for 15 minutes with five wrong
passwords from anywhere (her right one included), and reset the per-address
throttle by rotating X-Forwarded-For, which uvicorn trusted from 127.0.0.1. Here
attackers and the officer log in from different loopback addresses (127.0.0.x,
bound by the client), so the service sees real, distinct peers. The service runs
by its console command, as deployed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from coldchain_alerts.auth import Role
from coldchain_devstack.servers import Process, wait_until
from tests.alertsapi import AlertsApi, ApiStack, add_user, log_in

OFFICER, PASSWORD = "hygiene", "kuehlkette-nachts-3"
WRONG = "not-the-password"
#: More attempts than any attacker gets before the throttle answers 429.
ENOUGH = 30


@pytest.fixture
def officer(stack: ApiStack) -> None:
    add_user(stack.alerts_database, OFFICER, Role.OFFICER, PASSWORD)


def _start(stack: ApiStack, **settings: str) -> AlertsApi:
    process: Process = stack.alerts(COLDCHAIN_ALERTS_INFLUX_URL="", **settings)
    process.start()
    api = stack.alerts_api
    wait_until(lambda: _serves(api), 30, "the alerts service to serve")
    return api


def _serves(api: AlertsApi) -> bool:
    try:
        return api.get("/api/v1/me").status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def _browser(api: AlertsApi, address: str = "127.0.0.1") -> Iterator[httpx.Client]:
    """A browser on the loopback address `address`."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=api.url, transport=transport, timeout=10) as client:
        yield client


def _hammer(
    browser: httpx.Client, usernames: Iterator[str], headers: Iterator[dict[str, str]] | None = None
) -> httpx.Response:
    """Wrong passwords until the service answers 429; that answer."""
    for _ in range(ENOUGH):
        if headers is not None:
            browser.headers.update(next(headers))
        answer = log_in(browser, next(usernames), WRONG)
        assert answer.status_code in (401, 429), answer.text[-1000:]
        if answer.status_code == 429:
            return answer
    raise AssertionError(f"{ENOUGH} wrong passwords in a row were never slowed down")


def _always(username: str) -> Iterator[str]:
    while True:
        yield username


def _names() -> Iterator[str]:
    n = 0
    while True:
        n += 1
        yield f"user-{n}"


def test_attackers_cannot_lock_the_officer_out(stack: ApiStack, officer: None) -> None:
    api = _start(stack)
    for attacker in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
        with _browser(api, attacker) as browser:
            _hammer(browser, _always(OFFICER))
            # Slowed down: from here even the right password waits.
            assert log_in(browser, OFFICER, PASSWORD).status_code == 429
    with _browser(api, "127.0.0.1") as browser:
        answer = log_in(browser, OFFICER, PASSWORD)
        assert answer.status_code == 303, answer.text[-1000:]
        assert browser.get("/alerts").status_code == 200
    failed = [e for e in api.get("/api/v1/audit").json() if e["action"] == "login_failed"]
    assert failed and {e["subject"] for e in failed} == {f"user:{OFFICER}"}


def test_guessing_across_names_from_one_address_is_slowed(stack: ApiStack, officer: None) -> None:
    api = _start(stack)
    with _browser(api, "127.0.0.6") as browser:
        _hammer(browser, _names())
        # Every name from this address waits now, the officer's too.
        assert log_in(browser, OFFICER, PASSWORD).status_code == 429
    with _browser(api, "127.0.0.1") as browser:
        assert log_in(browser, OFFICER, PASSWORD).status_code == 303
    metrics = httpx.get(f"{api.url}/metrics", timeout=10).text
    refused = re.search(
        r'coldchain_alerts_requests_refused_total\{reason="login_throttled"\} (\S+)', metrics
    )
    assert refused is not None and float(refused.group(1)) >= 2


@pytest.mark.parametrize(
    ("language", "words"),
    [("de", "Bitte ab {} erneut versuchen"), ("en", "Please try again from {}")],
)
def test_a_throttled_login_says_when_to_try_again(
    stack: ApiStack, officer: None, language: str, words: str
) -> None:
    api = _start(stack)
    with _browser(api, "127.0.0.2") as browser:
        browser.get(f"/language/{language}")
        throttled = _hammer(browser, _always(OFFICER))
    seconds = int(throttled.headers["Retry-After"])
    assert seconds >= 1
    day = r"(\d{2}\.\d{2}\.\d{4}|\d{4}-\d{2}-\d{2}) \d{2}:\d{2} \w+"
    match = re.search(words.format(day), throttled.text)
    assert match is not None, throttled.text[-1500:]
    assert f'<html lang="{language}">' in throttled.text


def test_forwarded_for_from_an_untrusted_peer_changes_nothing(
    stack: ApiStack, officer: None
) -> None:
    """By default no proxy is trusted, not even 127.0.0.1 (uvicorn's own default): a header
    naming a new address each time is ignored."""
    api = _start(stack)
    forwarded = ({"X-Forwarded-For": f"10.0.{n // 250}.{n % 250 + 1}"} for n in range(ENOUGH))
    with _browser(api, "127.0.0.1") as browser:
        _hammer(browser, _names(), forwarded)
    addresses = {
        e["detail"] for e in api.get("/api/v1/audit").json() if e["action"] == "login_failed"
    }
    assert addresses == {'{"address":"127.0.0.1"}'}


def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    stack: ApiStack, officer: None
) -> None:
    api = _start(stack, COLDCHAIN_ALERTS_TRUSTED_PROXIES="127.0.0.8, 192.0.2.0/24")
    with _browser(api, "127.0.0.8") as proxy:
        _hammer(proxy, _always(OFFICER), _always_header("203.0.113.66"))
        proxy.headers["X-Forwarded-For"] = "203.0.113.7"
        answer = log_in(proxy, OFFICER, PASSWORD)
        assert answer.status_code == 303, answer.text[-1000:]
    entries = api.get("/api/v1/audit").json()
    by_action = {e["action"]: e["detail"] for e in entries}
    assert by_action["login_failed"] == '{"address":"203.0.113.66"}'
    assert by_action["login"] == '{"address":"203.0.113.7"}'


def _always_header(address: str) -> Iterator[dict[str, str]]:
    while True:
        yield {"X-Forwarded-For": address}


def test_a_malformed_proxy_setting_is_refused_at_start(stack: ApiStack) -> None:
    process = stack.alerts(COLDCHAIN_ALERTS_TRUSTED_PROXIES="10.0.0.1/8")
    process.start()
    assert process.wait(30) != 0
    assert "10.0.0.1/8" in process.output()
