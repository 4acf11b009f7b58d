"""Extreme but valid input to the alerts service, and extreme values stored in it.

A hostile review found 19 of 95 extreme but valid inputs answered 5xx. Here every
query parameter, path id and form field of the API and of the pages gets values at
and past the ends of its range: reading times in the years 1 and 9999 with offsets
that push them past either end in UTC, integers beyond 64 bits, negative numbers,
text the database cannot hold. Each gets a 4xx that says what was wrong (JSON
from the API, a page from the pages), and the service serves the next request.

Alerts with extreme values (reading times in the years 1 and 9999, ±1e308 °C,
limits of ±1e6 °C) are put into the database directly, through
`lifecycle.apply_events`, as an older contract or a future version could have
stored them (the MQTT contract refuses such events now). The inbox, every alert's
page with its curve, and the API show them, in German and in English.

The service runs as deployed, by its console command, on SQLite and PostgreSQL,
with InfluxDB holding the readings the alert pages draw.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts import lifecycle
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_devstack.servers import InfluxDB, Mosquitto, wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import AlertsApi, ApiStack, add_user, csrf_of, log_in, token_for

OFFICER, PASSWORD = "anna", "kuehlkette-nachts-3"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
FIRST = datetime.min.replace(tzinfo=UTC)
LAST = datetime.max.replace(tzinfo=UTC)
HUGE = 1e308
LANGUAGES = ("de", "en")


def _event(key: str, started: datetime, **values: Any) -> AlertEvent:
    """An event as stored by a contract that let it through: not validated."""
    fields: dict[str, Any] = {
        "v": 1,
        "key": key,
        "state": AlertState.RAISED,
        "rule": "over_max",
        "severity": Severity.CRITICAL,
        "site": SITE,
        "asset": "van-2-chilled",
        "sensor": "van-2.chilled",
        "gateway": "van-2",
        "started_at": started,
        "at": started + timedelta(minutes=15),
        "ended_at": None,
        "value_c": None,
        "peak_c": None,
        "limit_c": None,
        "regulatory_limit_c": None,
        "delay_s": 900.0,
        "duration_s": None,
        "degree_minutes": None,
    }
    return AlertEvent.model_construct(**(fields | values))


#: Times after the year 9999 or before the year 1 in UTC, valid as RFC 3339.
LATER_THAN_LAST = [
    "9999-12-31T23:59:59-00:01",
    "9999-12-31T23:59:59.999999-23:59",
    "9999-12-31T12:00:00-12:00",
]
EARLIER_THAN_FIRST = ["0001-01-01T00:00:00+00:01", "0001-01-01T00:00:00+23:59"]
#: Each alert's events, by a name for it.
EXTREMES = {
    "year 1": [_event("y1", FIRST, value_c=HUGE, peak_c=HUGE, limit_c=1e6)],
    "year 9999": [
        _event(
            "y9999",
            LAST - timedelta(minutes=20),
            at=LAST - timedelta(minutes=5),
            rule="under_min",
            value_c=-HUGE,
            peak_c=-HUGE,
            limit_c=-1e6,
        )
    ],
    "cleared at the last instant": [
        _event(
            "last",
            FIRST + timedelta(days=2),
            rule="door_open",
            severity=Severity.WARNING,
            sensor=None,
            value_c=1e6,
            peak_c=1e6,
            limit_c=-1e6,
            delay_s=HUGE,
        ),
        _event(
            "last",
            FIRST + timedelta(days=2),
            rule="door_open",
            severity=Severity.WARNING,
            sensor=None,
            state=AlertState.CLEARED,
            at=LAST,
            ended_at=LAST,
            duration_s=HUGE,
            degree_minutes=HUGE,
        ),
    ],
    "limits a million degrees apart": [
        _event(
            "million",
            NOW - timedelta(hours=2),
            rule="jump",
            value_c=8.5,
            peak_c=8.5,
            limit_c=1e6,
            regulatory_limit_c=-1e6,
        )
    ],
    "limits at the ends of a float": [
        _event(
            "float-ends",
            NOW - timedelta(hours=2),
            rule="over_max_regulatory",
            value_c=-HUGE,
            peak_c=-HUGE,
            limit_c=HUGE,
            regulatory_limit_c=-HUGE,
        )
    ],
    "beginning in the future": [
        _event(
            "future",
            NOW + timedelta(days=400),
            rule="sensor_silent",
            value_c=HUGE,
            peak_c=HUGE,
            limit_c=HUGE,
            regulatory_limit_c=HUGE,
        )
    ],
}
#: Alerts whose pages draw a curve: readings exist around them (the alert of the year 1
#: is still active, so its curve reaches to now).
WITH_CURVE = {"year 1", "limits a million degrees apart", "limits at the ends of a float"}


@dataclass
class Running:
    url: str
    api: AlertsApi
    ids: dict[str, int]
    """The id of each extreme alert, by its name in EXTREMES."""


def _readings(stack: ApiStack) -> None:
    """Van 2's chilled compartment, one reading a minute for the last four hours."""
    influx = stack.influxdb
    influx.query("", f'CREATE DATABASE "{stack.database}"')
    lines = [
        "temperature,site=dortmund-hub,gateway=van-2,sensor=van-2.chilled,asset=van-2-chilled "
        f"temp_c={4.0 + (minute % 30) / 10:.1f} "
        f"{int((NOW - timedelta(minutes=minute)).timestamp()) * 1_000_000_000}"
        for minute in range(240)
    ]
    influx.write(stack.database, "\n".join(lines))


def _store(database_url: str) -> dict[str, int]:
    migrate(database_url)
    engine = make_engine(database_url)
    ids = {}
    try:
        for name, events in EXTREMES.items():
            with make_sessionmaker(engine, writes=True).begin() as session:
                applied = lifecycle.apply_events(session, events)
                ids[name] = applied[-1].alert.id
    finally:
        engine.dispose()
    return ids


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def alerts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, influxdb: InfluxDB
) -> Iterator[Running]:
    """One service for the module's tests, which change nothing: they only read or are refused."""
    directory = tmp_path_factory.mktemp("alerts")
    database_url = (
        f"sqlite:///{directory}/alerts.sqlite3"
        if request.param == "sqlite"
        else request.getfixturevalue("postgresql").create_database()
    )
    broker = Mosquitto(directory)
    broker.start()
    stack = ApiStack(directory, broker, influxdb, f"test_{uuid.uuid4().hex[:12]}")
    try:
        _readings(stack)
        ids = _store(database_url)
        add_user(database_url, OFFICER, Role.OFFICER, PASSWORD)
        stack.alerts(
            COLDCHAIN_ALERTS_DATABASE_URL=database_url,
            COLDCHAIN_ALERTS_SECRET_KEY="extreme-values-test-session-key-0123456789",
        ).start()
        url = f"http://127.0.0.1:{stack.alerts_port}"
        api = AlertsApi(url, token_for(database_url))
        wait_until(lambda: _serves(api), 30, "the alerts service to serve")
        yield Running(url, api, ids)
    finally:
        stack.stop()
        broker.stop()


def _serves(api: AlertsApi) -> bool:
    try:
        return api.get("/api/v1/me").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def browser(alerts: Running) -> Iterator[httpx.Client]:
    """An officer logged in on the pages."""
    with httpx.Client(base_url=alerts.url, timeout=10) as client:
        assert log_in(client, OFFICER, PASSWORD).status_code == 303
        yield client


def _in(client: httpx.Client, language: str) -> None:
    assert client.get(f"/language/{language}").status_code == 303


def _dates(at: datetime, language: str) -> str:
    """How a page writes the day of `at` (in UTC: the zone can move it, not past the year)."""
    return f"{at:%d.%m.%Y}" if language == "de" else f"{at:%Y-%m-%d}"


def _celsius(value: float, language: str) -> str:
    shown = f"{value:.1f} °C"
    return shown.replace(".", ",") if language == "de" else shown


@pytest.mark.parametrize("language", LANGUAGES)
def test_pages_show_the_extreme_values_stored(
    alerts: Running, browser: httpx.Client, language: str
) -> None:
    _in(browser, language)
    inbox = browser.get("/alerts", params={"show": "all"})
    assert inbox.status_code == 200, inbox.text[-2000:]
    for at in (FIRST, LAST - timedelta(minutes=20)):
        assert _dates(at, language)[:6] in inbox.text
    for value in (HUGE, -HUGE, 1e6):
        assert _celsius(value, language) in inbox.text
    for name, alert_id in alerts.ids.items():
        page = browser.get(f"/alerts/{alert_id}")
        assert page.status_code == 200, (name, page.text[-2000:])
        stored = alerts.api.get(f"/api/v1/alerts/{alert_id}").json()
        for field in ("peak_c", "limit_c", "regulatory_limit_c"):
            if stored[field] is not None:
                assert _celsius(stored[field], language) in page.text, (name, field)
        assert ('<svg class="curve"' in page.text) == (name in WITH_CURVE), name
    last = browser.get(f"/alerts/{alerts.ids['cleared at the last instant']}")
    assert _dates(LAST, language) in last.text


def test_the_api_shows_the_extreme_values_stored(alerts: Running) -> None:
    listed = alerts.api.get("/api/v1/alerts", limit=100)
    assert listed.status_code == 200, listed.text
    by_id = {alert["id"]: alert for alert in listed.json()}
    for name, alert_id in alerts.ids.items():
        answer = alerts.api.get(f"/api/v1/alerts/{alert_id}")
        assert answer.status_code == 200, (name, answer.text)
        alert = answer.json()
        assert by_id[alert_id] == {k: v for k, v in alert.items() if k != "timeline"}
        event = EXTREMES[name][-1]
        assert datetime.fromisoformat(alert["opened_at"]) == event.started_at
        assert alert["peak_c"] == (event.peak_c if event.peak_c is not None else alert["peak_c"])
    cleared = alerts.api.get(f"/api/v1/alerts/{alerts.ids['cleared at the last instant']}").json()
    assert datetime.fromisoformat(cleared["cleared_at"]) == LAST
    assert cleared["duration_s"] == (LAST - FIRST - timedelta(days=2)).total_seconds()
    assert cleared["degree_minutes"] == HUGE
    # The ends of the range are valid filters, and find the alerts there.
    ends = {
        "since": FIRST.isoformat(),
        "until": LAST.isoformat(),
    }
    assert len(alerts.api.get("/api/v1/alerts", **ends).json()) == len(EXTREMES)
    oldest = alerts.api.get("/api/v1/alerts", until="0001-01-02T00:00:00-23:59").json()
    assert [alert["id"] for alert in oldest] == [alerts.ids["year 1"]]
    newest = alerts.api.get("/api/v1/alerts", since="9999-12-31T00:00:00+23:59").json()
    assert [alert["id"] for alert in newest] == [alerts.ids["year 9999"]]
    # Beyond an end of the calendar in UTC counts as that end.
    for late in LATER_THAN_LAST:
        assert alerts.api.get("/api/v1/alerts", since=late).json() == []
        assert len(alerts.api.get("/api/v1/alerts", until=late).json()) == len(EXTREMES)
    for early in EARLIER_THAN_FIRST:
        assert len(alerts.api.get("/api/v1/alerts", since=early).json()) == len(EXTREMES)
        assert alerts.api.get("/api/v1/alerts", until=early).json() == []


BEYOND_64_BITS = [2**63, 2**64, 10**30, -(2**63) - 1, -(10**30)]
NUL = "a\x00b"
#: JSON text with a lone surrogate (U+D800), which no UTF-8 database can store.
SURROGATE = '"a\\ud800b"'
#: (method, path, query, JSON body or its text) the API must refuse with a 4xx.
API_REFUSED: list[tuple[str, str, dict[str, Any], Any]] = [
    *[("GET", "/api/v1/alerts", {"limit": n}, None) for n in [0, -1, 10_001, *BEYOND_64_BITS]],
    *[("GET", "/api/v1/alerts", {"offset": n}, None) for n in [-1, *BEYOND_64_BITS]],
    *[("GET", "/api/v1/alerts", {name: NUL}, None) for name in ("site", "asset")],
    *[("GET", f"/api/v1/alerts/{n}", {}, None) for n in [0, -1, 2**31, *BEYOND_64_BITS]],
    *[("POST", f"/api/v1/alerts/{n}/acknowledge", {}, {"comment": "x"}) for n in BEYOND_64_BITS],
    *[("POST", f"/api/v1/alerts/{n}/close", {}, {}) for n in BEYOND_64_BITS],
    *[("PUT", f"/api/v1/contacts/{n}", {}, {"name": "x"}) for n in BEYOND_64_BITS],
    *[("DELETE", f"/api/v1/tokens/{n}", {}, None) for n in [0, *BEYOND_64_BITS]],
    *[("GET", "/api/v1/audit", {"after_seq": n}, None) for n in [-1, *BEYOND_64_BITS]],
    *[("GET", "/api/v1/audit", {"limit": n}, None) for n in [0, *BEYOND_64_BITS]],
    ("POST", "/api/v1/alerts/1/acknowledge", {}, {"comment": NUL}),
    ("POST", "/api/v1/alerts/1/acknowledge", {}, f'{{"comment": {SURROGATE}}}'),
    ("POST", "/api/v1/alerts/1/close", {}, {"cause": NUL, "corrective_action": NUL}),
    ("POST", "/api/v1/contacts", {}, {"name": NUL}),
    ("POST", "/api/v1/contacts", {}, f'{{"name": {SURROGATE}}}'),
    ("POST", "/api/v1/contacts", {}, {"name": "x", "webhook_url": "https://e.org/" + "ü" * 1900}),
    ("POST", "/api/v1/users", {}, {"username": "x1", "role": "auditor", "display_name": NUL}),
    ("PATCH", "/api/v1/users/a%00b", {}, {}),
    ("PATCH", "/api/v1/users/tests", {}, {"display_name": NUL}),
    ("POST", "/api/v1/users/a%00b/tokens", {}, {"name": "x"}),
    ("POST", "/api/v1/users/tests/tokens", {}, {"name": NUL}),
    (
        "PUT",
        "/api/v1/policies/dortmund-hub",
        {},
        {"ack_timeout_s": 2**64, "levels": [[2**64]]},
    ),
    # Python's JSON parser reads these as inf and nan, which JSON cannot write back.
    *[
        ("PUT", "/api/v1/policies/dortmund-hub", {}, f'{{"ack_timeout_s": {n}, "levels": [[1]]}}')
        for n in ("1e400", "-1e400", "NaN", "Infinity")
    ],
    ("POST", "/api/v1/alerts/1/close", {}, '{"cause": "x", "product_decision": NaN}'),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    API_REFUSED,
    ids=[f"{m} {p[:40]} {q} {str(b)[:40]}" for m, p, q, b in API_REFUSED],
)
def test_the_api_refuses_extreme_input_with_a_reason(
    alerts: Running, method: str, path: str, query: dict[str, Any], body: Any
) -> None:
    raw = {"content": body} if isinstance(body, str) else {"json": body}
    headers = alerts.api.headers | {"content-type": "application/json"}
    answer = httpx.request(
        method, f"{alerts.url}{path}", params=query, headers=headers, timeout=10, **raw
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["detail"]
    assert alerts.api.get("/api/v1/alerts").status_code == 200


#: (method, path, form) the pages must refuse with a 4xx and a readable page.
PAGES_REFUSED: list[tuple[str, str, dict[str, str] | None]] = [
    *[("GET", f"/alerts?page={n}", None) for n in ["0", "-1", "abc", *map(str, BEYOND_64_BITS)]],
    ("GET", "/alerts?show=nonsense", None),
    *[("GET", f"/alerts/{n}", None) for n in ["0", "-1", "abc", *map(str, BEYOND_64_BITS)]],
    *[("POST", f"/alerts/{n}/acknowledge", {"comment": "x"}) for n in map(str, BEYOND_64_BITS)],
    *[("POST", f"/alerts/{n}/close", {"cause": "x"}) for n in map(str, BEYOND_64_BITS)],
    ("POST", "/alerts/1/acknowledge", {"comment": NUL}),
    ("POST", "/alerts/1/close", {"cause": NUL, "corrective_action": NUL, "comment": NUL}),
    ("POST", "/alerts/1/acknowledge", {"comment": "x" * 20_000}),
]


@pytest.mark.parametrize(
    ("method", "path", "form"),
    PAGES_REFUSED,
    ids=[f"{m} {p[:40]} {str(f)[:30]}" for m, p, f in PAGES_REFUSED],
)
def test_the_pages_refuse_extreme_input_with_a_page(
    alerts: Running, browser: httpx.Client, method: str, path: str, form: dict[str, str] | None
) -> None:
    for language, words in (("de", "Eingabe"), ("en", "input")):
        _in(browser, language)
        data = None if form is None else form | {"csrf": csrf_of(browser.get("/alerts"))}
        answer = browser.request(method, path, data=data)
        assert 400 <= answer.status_code < 500, answer.text[-2000:]
        assert answer.headers["content-type"].startswith("text/html")
        assert f'<html lang="{language}">' in answer.text and words in answer.text
    assert browser.get("/alerts").status_code == 200


@pytest.mark.parametrize("username", [NUL, "x" * 65, "x" * 100_000])
def test_the_login_page_refuses_impossible_user_names_with_a_page(
    alerts: Running, username: str
) -> None:
    with httpx.Client(base_url=alerts.url, timeout=10) as client:
        answer = log_in(client, username, PASSWORD)
        assert 400 <= answer.status_code < 500, answer.text[-2000:]
        assert answer.headers["content-type"].startswith("text/html")
        assert log_in(client, OFFICER, PASSWORD).status_code == 303


def test_any_page_number_alert_id_or_tab_gets_an_answer_below_500(
    alerts: Running, browser: httpx.Client
) -> None:
    """Property-based: integers of any size and any text, where the pages take them."""

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(number=st.integers(), text=st.text())
    def answers(number: int, text: str) -> None:
        for path, params in (
            ("/alerts", {"page": number}),
            ("/alerts", {"show": text}),
            ("/alerts", {"page": text}),
            (f"/alerts/{number}", {}),
        ):
            answer = browser.get(path, params=params)
            assert answer.status_code < 500, (path, params, answer.text[-2000:])

    answers()
