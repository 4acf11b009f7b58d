"""Talking to a running alerts service as the tests do: an API token, then plain HTTP.

Tokens are made the way `coldchain-alerts token create` makes them, directly in
the service's database (it migrates the schema first, as the service does).
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

import httpx
from sqlalchemy import select

from coldchain_alerts import people, policies
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_alerts.models import User
from coldchain_devstack.stack import Stack


def token_for(database_url: str, username: str = "tests", role: Role = Role.ADMIN) -> str:
    """An API token of `username` (made with `role` if new) in the database at the URL."""
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine, writes=True).begin() as session:
            exists = session.scalars(select(User).where(User.username == username)).one_or_none()
            if exists is None:
                people.add_user(session, "tests", username, role, None)
            _, token = people.add_token(session, "tests", username, "tests")
    finally:
        engine.dispose()
    return token


def add_user(database_url: str, username: str, role: Role, password: str | None) -> None:
    """Add a user as `coldchain-alerts user add` does, directly in the database at the URL."""
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine, writes=True).begin() as session:
            people.add_user(session, "tests", username, role, password)
    finally:
        engine.dispose()


class ApiStack(Stack):
    """The local stack's services, and `alerts_api` to talk to its alerts service as an admin.

    The token is made in the service's database with the alerts service's own code, which
    the local stack does not import.
    """

    @cached_property
    def alerts_api(self) -> AlertsApi:
        return AlertsApi(f"http://127.0.0.1:{self.alerts_port}", token_for(self.alerts_database))


class AlertsApi:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, headers=self.headers, timeout=10)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", json=body, headers=self.headers, timeout=10)

    def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.put(f"{self.url}{path}", json=body, headers=self.headers, timeout=10)

    def alerts(self, **params: Any) -> list[dict[str, Any]]:
        """The alerts the service lists; [] while it does not answer (starting, stopped)."""
        try:
            response = self.get("/api/v1/alerts", **params)
        except httpx.HTTPError:
            return []
        if response.status_code != 200:
            return []
        listed: list[dict[str, Any]] = response.json()
        return listed


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token in a page's forms."""
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, f"no CSRF token in {page.url}: {page.text[:300]}"
    return found.group(1)


def log_in(browser: httpx.Client, username: str, password: str) -> httpx.Response:
    """Log in on the login page as a browser does: its form, with the session's CSRF token."""
    form = {"username": username, "password": password, "csrf": csrf_of(browser.get("/login"))}
    return browser.post("/login", data=form)


#: Two officers on call at a site, one reading German and one English.
OFFICERS = [
    {"name": "Hygiene", "language": "en", "email": "hygiene@hub.example"},
    {"name": "Hygiene DE", "language": "de", "email": "hygiene-de@hub.example"},
]


def officers_on_call(database_url: str, site: str) -> None:
    """OFFICERS as contacts, told at once about every alert of `site`."""
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine, writes=True).begin() as session:
            ids = [
                people.save_contact(session, "tests", officer | {"active": True}).id
                for officer in OFFICERS
            ]
            policies.set_policy(session, "tests", site, 3600, None, [ids])
    finally:
        engine.dispose()
