"""Site-scoped access: a user of one site tries every route and page on another site's
objects, and is refused every time.

Two sites, the hub (`dortmund-hub`) and a canteen, each with alerts, a policy with its
contact, a registered gateway and a pending fleet change. The canteen's officer, admin
and viewer use the API with their tokens and the pages with their passwords. Every route
of the application (`app.routes`) must be in ROUTES, classified: a new route without a
class fails `test_every_route_and_page_is_classified`. The service runs in this process
under a real uvicorn, on a real Mosquitto, as in test_alerts_api_schema.py.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.routing import BaseRoute, Mount, Route

from coldchain.calibration import Calibration
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain.fleet import Fleet, parse_yaml
from coldchain_alerts import calibration, lifecycle, people, policies, registry
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_alerts.main import create_app
from coldchain_alerts.models import Alert, AuditEntry, GatewayIdentity
from coldchain_alerts.settings import AlertsSettings
from coldchain_devstack import REPO
from coldchain_devstack.servers import Mosquitto, free_port, wait_until
from tests.alertsapi import csrf_of, log_in

HUB, CANTEEN = "dortmund-hub", "canteen"
PASSWORD = "correct horse battery"
STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

SITE = "site-scoped: another site's objects answer 404, lists leave them out"
HUB_ONLY = "for users of every site: a user of some sites gets 403, naming no object"
SELF = "the caller's own account"
PARTNER = "partners' API keys, not users' tokens: a user's token is refused (401)"
PUBLIC = "public: no site data"
#: Every route of the application and its class. A route missing here fails the test.
ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/alerts"): SITE,
    ("GET", "/api/v1/alerts/{alert_id}"): SITE,
    ("POST", "/api/v1/alerts/{alert_id}/acknowledge"): SITE,
    ("POST", "/api/v1/alerts/{alert_id}/decision"): SITE,
    ("POST", "/api/v1/alerts/{alert_id}/close"): SITE,
    ("GET", "/api/v1/contacts"): SITE,
    ("POST", "/api/v1/contacts"): HUB_ONLY,
    ("PUT", "/api/v1/contacts/{contact_id}"): HUB_ONLY,
    ("GET", "/api/v1/policies"): SITE,
    ("GET", "/api/v1/policies/{site}"): SITE,
    ("PUT", "/api/v1/policies/{site}"): HUB_ONLY,
    ("DELETE", "/api/v1/policies/{site}"): HUB_ONLY,
    ("GET", "/api/v1/me"): SELF,
    ("GET", "/api/v1/users"): HUB_ONLY,
    ("POST", "/api/v1/users"): HUB_ONLY,
    ("PATCH", "/api/v1/users/{username}"): HUB_ONLY,
    ("PUT", "/api/v1/users/{username}/sites"): HUB_ONLY,
    ("POST", "/api/v1/users/{username}/tokens"): HUB_ONLY,
    ("DELETE", "/api/v1/tokens/{token_id}"): HUB_ONLY,
    ("GET", "/api/v1/audit"): SITE,
    ("GET", "/api/v1/audit/export.csv"): SITE,
    ("GET", "/api/v1/audit/verify"): HUB_ONLY,
    ("GET", "/api/v1/gateways"): SITE,
    ("POST", "/api/v1/gateways"): SITE,
    ("POST", "/api/v1/gateways/{site}/{gateway}/retire"): SITE,
    ("POST", "/api/v1/deliveries"): HUB_ONLY,
    ("GET", "/partner/v1/deliveries"): PARTNER,
    ("GET", "/partner/v1/deliveries/{delivery_id}"): PARTNER,
    ("GET", "/api/v1/fleet"): SITE,
    ("PUT", "/api/v1/fleet"): HUB_ONLY,
    ("GET", "/api/v1/fleet/versions"): SITE,
    ("GET", "/api/v1/fleet/versions/{number}"): SITE,
    ("GET", "/api/v1/fleet/requests"): SITE,
    ("POST", "/api/v1/fleet/changes"): SITE,
    ("POST", "/api/v1/fleet/requests/{request_id}/approve"): SITE,
    ("POST", "/api/v1/fleet/requests/{request_id}/refuse"): SITE,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("MOUNT", "/static"): PUBLIC,
    ("MOUNT", "/static-offline-docs"): PUBLIC,
    # The pages.
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/language/{language}"): PUBLIC,
    ("GET", "/alerts"): SITE,
    ("GET", "/alerts/live"): SITE,
    ("GET", "/alerts/{alert_id}"): SITE,
    ("GET", "/alerts/{alert_id}/live"): SITE,
    ("POST", "/alerts/{alert_id}/acknowledge"): SITE,
    ("POST", "/alerts/{alert_id}/decision"): SITE,
    ("POST", "/alerts/{alert_id}/close"): SITE,
    ("GET", "/api/v1/calibration"): SITE,
    ("POST", "/api/v1/calibration"): SITE,
    ("GET", "/calibration"): SITE,
    ("POST", "/calibration"): SITE,
    ("GET", "/fleet"): SITE,
    ("GET", "/fleet/history"): SITE,
    ("POST", "/fleet/change"): SITE,
    ("POST", "/fleet/requests/{request_id}/approve"): SITE,
    ("POST", "/fleet/requests/{request_id}/refuse"): SITE,
    ("GET", "/audit"): SITE,
}


def _event(site: str, asset: str, sensor: str) -> AlertEvent:
    return AlertEvent(
        key=f"over_max/{sensor}/1",
        state=AlertState.RAISED,
        rule="over_max",
        severity=Severity.CRITICAL,
        site=site,
        asset=asset,
        sensor=sensor,
        started_at=STARTED,
        at=STARTED + timedelta(minutes=15),
        value_c=8.5,
        peak_c=8.5,
        limit_c=6.0,
        delay_s=900,
    )


def two_sites() -> dict[str, Any]:
    """The demo fleet and a canteen with a cold room, a gateway and a probe."""
    data: dict[str, Any] = parse_yaml((REPO / "fleet" / "dortmund-hub.yaml").read_text())
    data["sites"].append(
        {
            "id": CANTEEN,
            "name": "Kantine",
            "assets": [
                {
                    "id": "canteen-room",
                    "name": {"de": "Kühlraum Kantine", "en": "Canteen cold room"},
                    "category": "meat_products",
                }
            ],
            "gateways": [
                {
                    "id": "canteen-gw",
                    "sensors": [{"id": "canteen-gw.air", "asset": "canteen-room"}],
                }
            ],
        }
    )
    return data


@dataclass
class Seeded:
    """The objects of both sites, by site."""

    alerts: dict[str, int]
    contacts: dict[str, int]
    request: int
    """A pending fleet change of the hub."""


def _seed(database_url: str) -> Seeded:
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            for name, sites in (
                ("hub-admin", None),
                ("hub-officer", None),
                ("canteen-admin", {CANTEEN: Role.ADMIN}),
                ("canteen-officer", {CANTEEN: Role.OFFICER}),
                ("canteen-viewer", {CANTEEN: Role.VIEWER}),
            ):
                role = Role.ADMIN if name == "hub-admin" else Role.OFFICER
                if sites:
                    role = next(iter(sites.values()))
                people.add_user(session, "tests", name, role, PASSWORD, sites=sites)
            registry.propose(session, "hub-admin", two_sites(), "two sites")
            loosening = registry.change_value(
                session, "hub-officer", "assets/cold-room-1/limits/delay_s", 600, "door"
            )
            registry.change_value(
                session, "hub-officer", "assets/canteen-room/name/en", "Canteen cold store", None
            )
            checks = [
                ("", Calibration(sensor, date(2026, 11, 1), date(2027, 11, 1), "Testo #4711"))
                for sensor in ("cold-room-1.air", "canteen-gw.air")
            ]
            calibration.record(session, "tests", checks, Fleet.from_data(two_sites()), STARTED)
            applied = lifecycle.apply_events(
                session,
                [
                    _event(HUB, "cold-room-1", "cold-room-1.air"),
                    _event(CANTEEN, "canteen-room", "canteen-gw.air"),
                ],
            )
            contacts = {}
            for site in (HUB, CANTEEN):
                contact = people.save_contact(
                    session, "tests", {"name": f"on call {site}", "email": f"{site}@example.org"}
                )
                contacts[site] = contact.id
                policies.set_policy(session, "tests", site, 900, None, [[contact.id]])
                session.add(
                    GatewayIdentity(
                        site=site,
                        gateway=f"{site}-gw",
                        password_sha256="0" * 64,
                        created_at=STARTED,
                        created_by="tests",
                    )
                )
            alerts = {row.alert.site: row.alert.id for row in applied}
            return Seeded(alerts, contacts, loosening.request.id)
    finally:
        engine.dispose()


@dataclass
class Service:
    url: str
    app: FastAPI
    database_url: str
    seeded: Seeded
    tokens: dict[str, str]

    def api(self, username: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[username]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def browser(self, username: str) -> httpx.Client:
        client = httpx.Client(base_url=self.url, timeout=10)
        assert log_in(client, username, PASSWORD).status_code == 303
        return client

    def alert(self, site: str) -> Alert:
        engine = make_engine(self.database_url)
        try:
            with make_sessionmaker(engine)() as session:
                found = session.get(Alert, self.seeded.alerts[site])
                assert found is not None
                session.expunge(found)
                return found
        finally:
            engine.dispose()


@pytest.fixture
def service(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Service]:
    database_url = f"sqlite:///{tmp_path / 'alerts.sqlite3'}"
    seeded = _seed(database_url)
    engine = make_engine(database_url)
    with make_sessionmaker(engine).begin() as session:
        tokens = {
            name: people.add_token(session, "tests", name, "tests")[1]
            for name in ("hub-admin", "canteen-admin", "canteen-officer", "canteen-viewer")
        }
    engine.dispose()
    settings = AlertsSettings(
        database_url=database_url,
        mqtt_port=mosquitto.port,
        mqtt_client_id=f"alerts-{uuid.uuid4().hex[:8]}",
        influx_url="",
    )
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="alerts-api", daemon=True)
    thread.start()
    running = Service(f"http://127.0.0.1:{port}", app, database_url, seeded, tokens)
    wait_until(lambda: _healthy(running), 20, "the alerts service to be healthy")
    yield running
    server.should_exit = True
    thread.join(timeout=15)
    assert not thread.is_alive(), "uvicorn did not stop"


def _healthy(service: Service) -> bool:
    try:
        return httpx.get(f"{service.url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _routes(routes: Iterable[BaseRoute]) -> set[tuple[str, str]]:
    """(method, path) of every route, also inside included routers: FastAPI 0.165 keeps an
    included router as one route holding the router (`original_router`); our routers are
    included without a prefix of their own, so their routes' paths are whole."""
    found = set()
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            found |= _routes(included.routes)
        elif isinstance(route, Mount):
            found.add(("MOUNT", route.path))
        elif isinstance(route, APIRoute | Route):
            found |= {(method, route.path) for method in route.methods or () if method != "HEAD"}
    return found


def test_every_route_and_page_is_classified(service: Service) -> None:
    """A new route fails here until it is in ROUTES and, if it is a site's, in PROBES."""
    routes = _routes(service.app.routes)
    assert routes - ROUTES.keys() == set(), "classify these routes in ROUTES"
    assert ROUTES.keys() - routes == set(), "these routes are gone: remove them from ROUTES"
    refusing = {key for key, kind in ROUTES.items() if kind in (SITE, HUB_ONLY, PARTNER)}
    assert refusing - PROBES.keys() == set(), "say in PROBES how these refuse another site"


Probe = Callable[[Service], None]
PROBES: dict[tuple[str, str], Probe] = {}


def probe(method: str, path: str) -> Callable[[Probe], Probe]:
    def register(function: Probe) -> Probe:
        PROBES[(method, path)] = function
        return function

    return register


def _status(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, f"{response.request.url}: {response.text[:300]}"


# --- alerts ---------------------------------------------------------------------------


@probe("GET", "/api/v1/alerts")
def _list_alerts(s: Service) -> None:
    api = s.api("canteen-officer")
    listed = api.get("/api/v1/alerts").json()
    assert [a["site"] for a in listed] == [CANTEEN]
    assert api.get("/api/v1/alerts", params={"site": HUB}).json() == []


@probe("GET", "/api/v1/alerts/{alert_id}")
def _one_alert(s: Service) -> None:
    hub = s.seeded.alerts[HUB]
    answer = s.api("canteen-officer").get(f"/api/v1/alerts/{hub}")
    _status(answer, 404)
    missing = s.api("canteen-officer").get("/api/v1/alerts/999999")
    assert answer.json() == missing.json() | {"detail": f"there is no alert {hub}"}


def _alert_write(step: str, body: dict[str, Any]) -> Probe:
    def check(s: Service) -> None:
        before = s.alert(HUB)
        answer = s.api("canteen-officer").post(
            f"/api/v1/alerts/{s.seeded.alerts[HUB]}/{step}", json=body
        )
        _status(answer, 404)
        after = s.alert(HUB)
        assert (after.status, after.decided_at, after.updated_at) == (
            before.status,
            before.decided_at,
            before.updated_at,
        )

    return check


PROBES[("POST", "/api/v1/alerts/{alert_id}/acknowledge")] = _alert_write(
    "acknowledge", {"comment": "not mine"}
)
PROBES[("POST", "/api/v1/alerts/{alert_id}/decision")] = _alert_write(
    "decision", {"cause": "x", "corrective_action": "y", "product_decision": "discard"}
)
PROBES[("POST", "/api/v1/alerts/{alert_id}/close")] = _alert_write(
    "close", {"comment": "x", "while_active": True}
)

# --- contacts, policies, users --------------------------------------------------------


@probe("GET", "/api/v1/contacts")
def _contacts(s: Service) -> None:
    listed = s.api("canteen-officer").get("/api/v1/contacts").json()
    assert [c["id"] for c in listed] == [s.seeded.contacts[CANTEEN]]


def _hub_only(method: str, path: str, body: dict[str, Any] | None = None) -> Probe:
    def check(s: Service) -> None:
        concrete = path.format(
            contact_id=s.seeded.contacts[HUB], site=HUB, username="hub-officer", token_id=1
        )
        answer = s.api("canteen-admin").request(method, concrete, json=body)
        _status(answer, 403)
        assert "every site" in answer.json()["detail"]

    return check


CONTACT = {"name": "someone", "email": "someone@example.org"}
POLICY = {"ack_timeout_s": 900, "levels": [[1]]}
for _method, _path, _body in (
    ("POST", "/api/v1/contacts", CONTACT),
    ("PUT", "/api/v1/contacts/{contact_id}", CONTACT),
    ("PUT", "/api/v1/policies/{site}", POLICY),
    ("DELETE", "/api/v1/policies/{site}", None),
    ("GET", "/api/v1/users", None),
    ("POST", "/api/v1/users", {"username": "mallory", "role": "admin"}),
    ("PATCH", "/api/v1/users/{username}", {"role": "admin"}),
    ("PUT", "/api/v1/users/{username}/sites", {"sites": None}),
    ("POST", "/api/v1/users/{username}/tokens", {"name": "mine now"}),
    ("DELETE", "/api/v1/tokens/{token_id}", None),
    ("PUT", "/api/v1/fleet", {"fleet": two_sites(), "reason": "mine"}),
    ("GET", "/api/v1/audit/verify", None),
):
    PROBES[(_method, _path)] = _hub_only(_method, _path, _body)


@probe("POST", "/api/v1/deliveries")
def _deliveries(s: Service) -> None:
    answer = s.api("canteen-admin").post(
        "/api/v1/deliveries", params={"partner": "anyone"}, json={}
    )
    _status(answer, 403)


@probe("GET", "/api/v1/policies")
def _policies(s: Service) -> None:
    listed = s.api("canteen-officer").get("/api/v1/policies").json()
    assert [p["site"] for p in listed] == [CANTEEN]


@probe("GET", "/api/v1/policies/{site}")
def _policy(s: Service) -> None:
    api = s.api("canteen-officer")
    _status(api.get(f"/api/v1/policies/{HUB}"), 404)
    _status(api.get("/api/v1/policies/*"), 404)


# --- audit ----------------------------------------------------------------------------


#: What the canteen's users read of the audit log: the entries about the canteen only.
CANTEEN_ENTRIES = {
    ("alert.opened", "alert:{canteen}"),
    ("fleet.change_requested", "fleet:request:3"),
    ("fleet.changed", "fleet:version:2"),
    ("calibration.checked", "sensor:canteen-gw.air"),
    ("policy.changed", f"policy:{CANTEEN}"),
}


def _canteen_entries(s: Service, entries: Iterable[tuple[str, str]]) -> None:
    expected = {
        (a, subject.format(canteen=s.seeded.alerts[CANTEEN])) for a, subject in CANTEEN_ENTRIES
    }
    assert set(entries) == expected


@probe("GET", "/api/v1/audit")
def _audit(s: Service) -> None:
    entries = s.api("canteen-officer").get("/api/v1/audit").json()
    _canteen_entries(s, [(e["action"], e["subject"]) for e in entries])
    assert HUB not in str(entries)


@probe("GET", "/api/v1/audit/export.csv")
def _audit_export(s: Service) -> None:
    text = s.api("canteen-officer").get("/api/v1/audit/export.csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    _canteen_entries(s, [(row["action"], row["subject"]) for row in rows])
    assert HUB not in text and "user:" not in text


# --- gateways -------------------------------------------------------------------------


@probe("GET", "/api/v1/gateways")
def _gateways(s: Service) -> None:
    listed = s.api("canteen-admin").get("/api/v1/gateways").json()
    assert [g["site"] for g in listed] == [CANTEEN]


@probe("POST", "/api/v1/gateways")
def _register(s: Service) -> None:
    answer = s.api("canteen-admin").post("/api/v1/gateways", json={"site": HUB, "gateway": "x"})
    _status(answer, 404)


@probe("POST", "/api/v1/gateways/{site}/{gateway}/retire")
def _retire(s: Service) -> None:
    api = s.api("canteen-admin")
    answer = api.post(f"/api/v1/gateways/{HUB}/{HUB}-gw/retire", json={"reason": "mine"})
    _status(answer, 404)
    assert s.api("hub-admin").get("/api/v1/gateways").json()[1]["retired_at"] is None


# --- partners -------------------------------------------------------------------------


def _partner_api(path: str) -> Probe:
    def check(s: Service) -> None:
        _status(s.api("canteen-admin").get(path), 401)

    return check


PROBES[("GET", "/partner/v1/deliveries")] = _partner_api("/partner/v1/deliveries")
PROBES[("GET", "/partner/v1/deliveries/{delivery_id}")] = _partner_api(
    f"/partner/v1/deliveries/{'0' * 64}"
)

# --- fleet ----------------------------------------------------------------------------


def _sites_of(version: dict[str, Any]) -> list[str]:
    return [site["id"] for site in version["fleet"]["sites"]]


@probe("GET", "/api/v1/fleet")
def _fleet(s: Service) -> None:
    assert _sites_of(s.api("canteen-officer").get("/api/v1/fleet").json()) == [CANTEEN]


@probe("GET", "/api/v1/fleet/versions")
def _versions(s: Service) -> None:
    versions = s.api("canteen-officer").get("/api/v1/fleet/versions").json()
    assert versions and all(_sites_of(v) == [CANTEEN] for v in versions)


@probe("GET", "/api/v1/fleet/versions/{number}")
def _version(s: Service) -> None:
    assert _sites_of(s.api("canteen-officer").get("/api/v1/fleet/versions/1").json()) == [CANTEEN]


@probe("GET", "/api/v1/fleet/requests")
def _requests(s: Service) -> None:
    listed = s.api("canteen-officer").get("/api/v1/fleet/requests").json()
    assert s.seeded.request not in {r["id"] for r in listed}
    assert all(c["path"].split("/")[1].startswith("canteen") for r in listed for c in r["changes"])


@probe("POST", "/api/v1/fleet/changes")
def _change(s: Service) -> None:
    api = s.api("canteen-officer")
    for path, value in (
        ("assets/cold-room-1/limits/max_c", 9.0),
        ("sites/dortmund-hub/name", "mine"),
        ("gateways/van-1/plate", "X"),
        ("sensors/van-1.chilled/interval_s", 60),
        ("assets/no-such-asset/category", "meat_products"),
    ):
        answer = api.post(
            "/api/v1/fleet/changes", json={"path": path, "value": value, "reason": "x"}
        )
        _status(answer, 404)


def _decide(step: str) -> Probe:
    def check(s: Service) -> None:
        api = s.api("canteen-officer")
        answer = api.post(f"/api/v1/fleet/requests/{s.seeded.request}/{step}", json={"reason": "x"})
        _status(answer, 404)
        pending = s.api("hub-admin").get("/api/v1/fleet/requests", params={"status": "pending"})
        assert [r["id"] for r in pending.json()] == [s.seeded.request]

    return check


PROBES[("POST", "/api/v1/fleet/requests/{request_id}/approve")] = _decide("approve")
PROBES[("POST", "/api/v1/fleet/requests/{request_id}/refuse")] = _decide("refuse")

# --- pages ----------------------------------------------------------------------------


@probe("GET", "/alerts")
def _inbox(s: Service) -> None:
    page = s.browser("canteen-officer").get("/alerts", params={"show": "all"})
    _status(page, 200)
    assert f'href="/alerts/{s.seeded.alerts[CANTEEN]}"' in page.text
    assert f'href="/alerts/{s.seeded.alerts[HUB]}"' not in page.text


@probe("GET", "/alerts/live")
def _inbox_live(s: Service) -> None:
    parts = s.browser("canteen-officer").get("/alerts/live", params={"show": "all"}).json()
    assert f'/alerts/{s.seeded.alerts[CANTEEN]}"' in parts["parts"]["list"]
    assert f'/alerts/{s.seeded.alerts[HUB]}"' not in parts["parts"]["list"]


@probe("GET", "/alerts/{alert_id}")
def _alert_page(s: Service) -> None:
    _status(s.browser("canteen-officer").get(f"/alerts/{s.seeded.alerts[HUB]}"), 404)


@probe("GET", "/alerts/{alert_id}/live")
def _alert_live(s: Service) -> None:
    _status(s.browser("canteen-officer").get(f"/alerts/{s.seeded.alerts[HUB]}/live"), 404)


def _page_write(step: str, form: dict[str, str]) -> Probe:
    def check(s: Service) -> None:
        browser = s.browser("canteen-officer")
        csrf = csrf_of(browser.get("/alerts"))
        before = s.alert(HUB)
        answer = browser.post(f"/alerts/{s.seeded.alerts[HUB]}/{step}", data=form | {"csrf": csrf})
        _status(answer, 404)
        assert s.alert(HUB).updated_at == before.updated_at

    return check


PROBES[("POST", "/alerts/{alert_id}/acknowledge")] = _page_write("acknowledge", {"comment": "x"})
PROBES[("POST", "/alerts/{alert_id}/decision")] = _page_write("decision", {"cause": "x"})
PROBES[("POST", "/alerts/{alert_id}/close")] = _page_write(
    "close", {"comment": "x", "while_active": "true"}
)


def test_a_user_of_one_site_is_refused_every_route_on_another_sites_objects(
    service: Service,
) -> None:
    """Each probe tries one route on the hub's objects as a user of the canteen."""
    failures = []
    for route, check in PROBES.items():
        try:
            check(service)
        except AssertionError as exc:
            failures.append(f"{route}: {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


def test_a_user_of_one_site_works_with_that_sites_objects(service: Service) -> None:
    """The refusals above are not everything refused: the canteen's own objects answer."""
    officer = service.api("canteen-officer")
    canteen = service.seeded.alerts[CANTEEN]
    _status(officer.get(f"/api/v1/alerts/{canteen}"), 200)
    viewer = service.api("canteen-viewer")
    _status(viewer.post(f"/api/v1/alerts/{canteen}/acknowledge", json={"comment": "x"}), 403)
    _status(viewer.get("/api/v1/audit"), 403)
    _status(officer.post(f"/api/v1/alerts/{canteen}/acknowledge", json={"comment": "mine"}), 200)
    change = {"path": "assets/canteen-room/limits/max_c", "value": 4.0, "reason": "poultry"}
    _status(officer.post("/api/v1/fleet/changes", json=change), 201)
    _status(viewer.post("/api/v1/fleet/changes", json=change | {"value": 3.0}), 403)
    me = officer.get("/api/v1/me").json()
    assert me["sites"] == [{"site": CANTEEN, "role": "officer"}]
    _status(service.browser("canteen-officer").get(f"/alerts/{canteen}"), 200)


def test_sites_are_given_and_changed_by_an_admin_of_every_site_with_audit_entries(
    service: Service,
) -> None:
    admin = service.api("hub-admin")
    viewer = {"site": HUB, "role": "viewer"}
    _status(admin.put("/api/v1/users/hub-officer/sites", json={"sites": [viewer]}), 200)
    scoped = admin.get("/api/v1/users").json()
    assert {u["username"]: u["sites"] for u in scoped}["hub-officer"] == [viewer]
    for bad in ([{"site": "+", "role": "viewer"}], []):
        _status(admin.put("/api/v1/users/hub-officer/sites", json={"sites": bad}), 422)
    twice = [viewer, viewer | {"role": "admin"}]
    _status(admin.put("/api/v1/users/hub-officer/sites", json={"sites": twice}), 409)
    _status(admin.put("/api/v1/users/hub-officer/sites", json={"sites": None}), 200)
    entries = admin.get("/api/v1/audit").json()
    changed = [e for e in entries if e["action"] == "user.sites_changed"]
    assert [e["subject"] for e in changed][-2:] == ["user:hub-officer", "user:hub-officer"]


def test_the_command_line_gives_and_changes_sites(database_url: str, tmp_path: Path) -> None:
    """`user add ... --site` (repeated), `user sites`; on SQLite and PostgreSQL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    env["COLDCHAIN_ALERTS_DATABASE_URL"] = database_url
    cli = str(Path(sys.executable).parent / "coldchain-alerts")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [cli, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    added = run(
        "user", "add", "anna", "officer", "--site", CANTEEN, "--site", "farm-1", "--no-password"
    )
    assert added.returncode == 0, added.stdout + added.stderr
    assert run("user", "sites", "anna").stdout.split("\n")[:2] == [
        "anna: canteen officer",
        "anna: farm-1 officer",
    ]
    assert run("user", "sites", "anna", f"{CANTEEN}:viewer").stdout == "anna: canteen viewer\n"
    refused = run("user", "sites", "anna", "can+teen:officer")
    assert refused.returncode == 2 and "not a site id" in refused.stdout
    assert run("user", "sites", "anna", "canteen:boss").returncode == 2
    assert run("user", "sites", "anna", "--every-site").stdout == "anna: every site, officer\n"
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            actions = session.scalars(
                select(AuditEntry.action).where(AuditEntry.subject == "user:anna")
            ).all()
    finally:
        engine.dispose()
    assert actions == ["user.created", *["user.sites_changed"] * 3]


# --- calibration and the fleet pages ----------------------------------------------------

CHECK = {
    "checked_on": "2026-11-01",
    "reference": "Testo 735-2 #4711",
    "deviation_k": 0.2,
    "checked_by": "Kalibrierlabor Nord",
}


@probe("GET", "/api/v1/calibration")
def _calibration_list(s: Service) -> None:
    hub_admin = s.api("hub-admin")
    entered = hub_admin.post("/api/v1/calibration", json=CHECK | {"sensor": "cold-room-1.air"})
    _status(entered, 201)
    seen = s.api("canteen-officer").get("/api/v1/calibration").json()
    assert all(check["sensor"] != "cold-room-1.air" for check in seen), seen


@probe("POST", "/api/v1/calibration")
def _calibration_entry(s: Service) -> None:
    hub_admin = s.api("hub-admin")
    before = hub_admin.get("/api/v1/calibration", params={"sensor": "cold-room-1.air"}).json()
    answer = s.api("canteen-officer").post(
        "/api/v1/calibration", json=CHECK | {"sensor": "cold-room-1.air"}
    )
    _status(answer, 404)
    after = hub_admin.get("/api/v1/calibration", params={"sensor": "cold-room-1.air"}).json()
    assert after == before


@probe("GET", "/calibration")
def _calibration_page(s: Service) -> None:
    hub_admin = s.api("hub-admin")
    entered = hub_admin.post(
        "/api/v1/calibration", json=CHECK | {"sensor": "cold-room-1.air", "reference": "HUB-REF"}
    )
    _status(entered, 201)
    page = s.browser("canteen-officer").get("/calibration")
    _status(page, 200)
    assert "canteen-gw.air" in page.text
    assert "cold-room-1.air" not in page.text and "HUB-REF" not in page.text


@probe("POST", "/calibration")
def _calibration_page_entry(s: Service) -> None:
    hub_admin = s.api("hub-admin")
    before = hub_admin.get("/api/v1/calibration").json()
    for username, sensor, status in [
        ("canteen-officer", "cold-room-1.air", 404),
        ("canteen-viewer", "canteen-gw.air", 403),
    ]:
        browser = s.browser(username)
        form = CHECK | {"sensor": sensor, "csrf": csrf_of(browser.get("/calibration"))}
        answer = browser.post("/calibration", data={k: str(v) for k, v in form.items()})
        _status(answer, status)
        assert "Die Prüfung ist eingetragen" not in answer.text
    assert hub_admin.get("/api/v1/calibration").json() == before


@probe("GET", "/fleet")
def _fleet_page(s: Service) -> None:
    page = s.browser("canteen-admin").get("/fleet")
    _status(page, 200)
    for own in ('id="site-canteen"', 'id="asset-canteen-room"', 'id="sensor-canteen-gw.air"'):
        assert own in page.text
    for other in (HUB, "cold-room-1", "van-1", f'id="request-{s.seeded.request}"'):
        assert other not in page.text, other
    assert 'value="canteen-room"' in page.text, "the canteen's admin changes its limits"


@probe("GET", "/fleet/history")
def _fleet_history_page(s: Service) -> None:
    page = s.browser("canteen-officer").get("/fleet/history")
    _status(page, 200)
    assert "canteen-room" in page.text
    assert "cold-room-1" not in page.text and f'id="request-{s.seeded.request}"' not in page.text


def _pending_of_the_hub(s: Service) -> list[int]:
    pending = s.api("hub-admin").get("/api/v1/fleet/requests", params={"status": "pending"})
    return [r["id"] for r in pending.json()]


@probe("POST", "/fleet/change")
def _fleet_page_change(s: Service) -> None:
    browser = s.browser("canteen-officer")
    form = {"asset": "cold-room-1", "field": "max_c", "value": "3", "reason": "mine"}
    answer = browser.post("/fleet/change", data=form | {"csrf": csrf_of(browser.get("/fleet"))})
    _status(answer, 404)
    assert "kein Objekt cold-room-1" in answer.text
    hub = s.api("hub-admin").get("/api/v1/fleet").json()
    room = next(
        a for site in hub["fleet"]["sites"] for a in site["assets"] if a["id"] == "cold-room-1"
    )
    assert "max_c" not in room.get("limits", {})


def _fleet_page_decide(step: str) -> Probe:
    def check(s: Service) -> None:
        browser = s.browser("canteen-admin")
        form = {"csrf": csrf_of(browser.get("/fleet")), "reason": "not mine"}
        answer = browser.post(f"/fleet/requests/{s.seeded.request}/{step}", data=form)
        _status(answer, 404)
        assert _pending_of_the_hub(s) == [s.seeded.request]

    return check


PROBES[("POST", "/fleet/requests/{request_id}/approve")] = _fleet_page_decide("approve")
PROBES[("POST", "/fleet/requests/{request_id}/refuse")] = _fleet_page_decide("refuse")


@probe("GET", "/audit")
def _audit_page(s: Service) -> None:
    page = s.browser("canteen-officer").get("/audit")
    _status(page, 200)
    assert "sensor:canteen-gw.air" in page.text and f"policy:{CANTEEN}" in page.text
    assert HUB not in page.text and "cold-room-1" not in page.text and "user:" not in page.text


def test_the_fleet_pages_change_a_sites_limits_by_its_users_role(service: Service) -> None:
    """The canteen's officer changes her cold room's limit on the page, with a reason;
    its viewer reads the page without the form and is refused a change; neither reads
    another site's audit entries, and the viewer no audit log at all."""
    officer = service.browser("canteen-officer")
    form = {"asset": "canteen-room", "field": "max_c", "value": "3,5", "reason": "Geflügel"}
    changed = officer.post("/fleet/change", data=form | {"csrf": csrf_of(officer.get("/fleet"))})
    _status(changed, 303)
    assert changed.headers["location"] == "/fleet?done=changed"
    fleet = service.api("canteen-officer").get("/api/v1/fleet").json()
    assert fleet["fleet"]["sites"][0]["assets"][0]["limits"]["max_c"] == 3.5
    loosened = officer.post(
        "/fleet/change", data=form | {"value": "5", "csrf": csrf_of(officer.get("/fleet"))}
    )
    _status(loosened, 303)
    assert loosened.headers["location"] == "/fleet?done=pending"
    own = officer.get("/fleet")
    assert "Ihr eigener Antrag" in own.text, "four eyes: not her own"

    viewer = service.browser("canteen-viewer")
    page = viewer.get("/fleet")
    _status(page, 200)
    assert 'id="change"' not in page.text and "Freigeben" not in page.text
    refused = viewer.post("/fleet/change", data=form | {"csrf": csrf_of(page)})
    _status(refused, 403)
    _status(viewer.get("/audit"), 403)


def test_the_pages_refuse_bad_input_with_a_reason(service: Service) -> None:
    officer = service.browser("canteen-officer")
    for before in ("0", "x", str(2**31)):
        _status(officer.get("/audit", params={"before": before}), 422)
    csrf = csrf_of(officer.get("/fleet"))
    for form, status in (
        ({"asset": "canteen-room", "field": "site", "value": "x", "reason": "r"}, 422),
        ({"asset": "canteen-room", "field": "max_c", "value": "warm", "reason": "r"}, 422),
        ({"asset": "canteen-room", "field": "max_c", "value": "inf", "reason": "r"}, 422),
        ({"asset": "nowhere", "field": "max_c", "value": "3", "reason": "r"}, 404),
        ({"asset": "canteen-room", "field": "max_c", "value": "99", "reason": "r"}, 422),
    ):
        answer = officer.post("/fleet/change", data=form | {"csrf": csrf})
        _status(answer, status)
        assert 'class="error"' in answer.text or "<li>" in answer.text, answer.text[:300]
    _status(officer.post("/fleet/requests/999999/approve", data={"csrf": csrf}), 404)
    hub = service.browser("hub-admin")
    missing = hub.post(
        "/fleet/change",
        data={"asset": "nowhere", "field": "max_c", "value": "3", "reason": "r"}
        | {"csrf": csrf_of(hub.get("/fleet"))},
    )
    assert missing.status_code in (404, 422), missing.text[:300]
