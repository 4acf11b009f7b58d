"""The pages' routes: thin, like the API's; the work is lifecycle's and listing's.

People log in with a password and get a signed session cookie. Every form
carries the session's CSRF token, checked before anything is changed. Pages are
plain HTML with a little CSS, readable on a phone; no JavaScript is needed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from coldchain.alerting import Closing, ProductDecision, Status, WorkflowError
from coldchain.contract import EARLIEST_TIMESTAMP
from coldchain.rulenames import rule_name
from coldchain_alerts import audit, lifecycle, listing
from coldchain_alerts.api.deps import NO_NUL, Id
from coldchain_alerts.auth import ACTING, LoginThrottle, Role, authenticate, csrf_ok, csrf_token
from coldchain_alerts.bodies import LimitedRoute
from coldchain_alerts.influx import InfluxError
from coldchain_alerts.models import Alert, User
from coldchain_alerts.notify.notice import Language
from coldchain_alerts.web import texts
from coldchain_alerts.web.curve import Curve, svg

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(
    include_in_schema=False,
    route_class=LimitedRoute,
    # The forms have at most 5 fields and no files; the longest field has 10 000 characters.
    form_limits={"max_fields": 10, "max_files": 0, "max_part_size": 64 * 1024},
)
#: Readings shown before an alert began and after it cleared.
CURVE_MARGIN = timedelta(hours=1)
#: Longest curve drawn from single readings; longer ones are drawn from means.
CURVE_RAW_SPAN = timedelta(hours=12)
#: Alerts on one page of the inbox.
PAGE = 50
#: The inbox's last page number: as far as the API's offset goes.
MAX_PAGE = listing.MAX_OFFSET // PAGE


class LoginRequired(Exception):
    """Raised by `_user` when nobody is logged in; main.py answers with a redirect."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/alerts", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/alerts") -> Response:
    return _render(request, "login.html", None, next=_safe_next(next), error=None)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64, pattern=NO_NUL)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/alerts",
) -> Response:
    language = _language(request, None)
    if not csrf_ok(request.session.get("csrf"), csrf):
        return _render(request, "login.html", None, next=next, error="form_expired", status=400)
    address = _client(request)
    throttle: LoginThrottle = request.app.state.throttle
    wait_s = throttle.attempt(username, address)
    if wait_s:
        return _throttled(request, next, language, wait_s)
    service = request.app.state.service
    # Checking a password takes argon2's time: not while holding the write lock, which
    # an alert event on its way to the officer waits for.
    with service.sessions() as session:
        user = authenticate(session, username, password)
    with service.writes.begin() as session:
        audit.append(
            session,
            actor=user.username if user else "anonymous",
            action="login" if user is not None else "login_failed",
            subject=f"user:{username[:64]}",
            detail={"address": address},
        )
    if user is None:
        return _render(request, "login.html", None, next=next, error="login_failed", status=401)
    throttle.succeeded(username, address)
    # A language chosen on the login page outlasts the new session; else the user's own.
    chosen = request.session.get("language") or user.language
    request.session.clear()
    request.session.update(
        user=user.username, csrf=csrf_token(), language=chosen, at=_now().isoformat()
    )
    return RedirectResponse(_safe_next(next), status_code=303)


def _throttled(request: Request, next: str, language: Language, wait_s: float) -> Response:
    """The login page saying when to try again (429, with Retry-After)."""
    request.app.state.service.metrics.requests_refused.labels(reason="login_throttled").inc()
    seconds = math.ceil(wait_s)
    message = texts.word("login_throttled", language).format(
        at=texts.local_time(_now() + timedelta(seconds=seconds), language),
        wait=texts.wait(seconds, language),
    )
    response = _render(request, "login.html", None, next=next, error=message, status=429)
    response.headers["Retry-After"] = str(seconds)
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    if csrf_ok(request.session.get("csrf"), csrf):
        request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/language/{language}")
def set_language(request: Request, language: str, next: str = "/alerts") -> Response:
    if language in ("de", "en"):
        request.session["language"] = language
    return RedirectResponse(_safe_next(next), status_code=303)


@router.get("/alerts", response_class=HTMLResponse)
def inbox(
    request: Request,
    status: Literal["open", "acknowledged", "closed", "all"] = "open",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    with request.app.state.service.sessions() as session:
        user = _user(request, session)
        wanted = None if status == "all" else Status(status)
        offset = (page - 1) * PAGE
        alerts = listing.search(session, listing.Filters(status=wanted), PAGE + 1, offset)
        return _render(
            request,
            "inbox.html",
            user,
            alerts=alerts[:PAGE],
            more=len(alerts) > PAGE and page < MAX_PAGE,
            page=page,
            tab=status,
        )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: Id, done: str = "") -> Response:
    with request.app.state.service.sessions() as session:
        user = _user(request, session)
        try:
            alert = lifecycle.get(session, alert_id)
        except lifecycle.AlertNotFound:
            return _render(request, "missing.html", user, alert_id=alert_id, status=404)
        return _detail(request, session, user, alert, done=done, error=None)


@router.post("/alerts/{alert_id}/acknowledge", response_class=HTMLResponse)
def acknowledge(
    request: Request,
    alert_id: Id,
    comment: Annotated[str, Form(max_length=10_000, pattern=NO_NUL)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return _act(
        request,
        alert_id,
        csrf,
        "acknowledged",
        lambda session, user: lifecycle.acknowledge(session, alert_id, user.username, comment),
    )


@router.post("/alerts/{alert_id}/close", response_class=HTMLResponse)
def close(
    request: Request,
    alert_id: Id,
    cause: Annotated[str, Form(max_length=10_000, pattern=NO_NUL)] = "",
    corrective_action: Annotated[str, Form(max_length=10_000, pattern=NO_NUL)] = "",
    product_decision: Annotated[str, Form(max_length=20)] = "",
    comment: Annotated[str, Form(max_length=10_000, pattern=NO_NUL)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    decision = (
        ProductDecision(product_decision)
        if product_decision in {d.value for d in ProductDecision}
        else None
    )
    closing = Closing(cause, corrective_action, decision, comment)
    return _act(
        request,
        alert_id,
        csrf,
        "closed",
        lambda session, user: lifecycle.close(session, alert_id, user.username, closing),
    )


def _act(request: Request, alert_id: Id, csrf: str, done: str, step: Any) -> Response:
    service = request.app.state.service
    with service.writes() as session:
        user = _user(request, session)
        alert = None
        error = None
        if not csrf_ok(request.session.get("csrf"), csrf):
            error = "form_expired"
        elif Role(user.role) not in ACTING:
            error = "read_only"
        else:
            try:
                step(session, user)
                session.commit()
                return RedirectResponse(f"/alerts/{alert_id}?done={done}", status_code=303)
            except WorkflowError as exc:
                session.rollback()
                if isinstance(exc, lifecycle.AlertNotFound):
                    return _render(request, "missing.html", user, alert_id=alert_id, status=404)
                error = f"error_{exc.code}"
        alert = lifecycle.get(session, alert_id)
        return _detail(request, session, user, alert, done="", error=error, status=409)


def refused(
    request: Request,
    status: int,
    reasons: list[str],
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A page saying why a request was refused: main.py answers the pages' errors with it."""
    heading = f"problem_{status}" if f"problem_{status}" in texts.WORDS else "problem"
    explanation = f"explain_{status}" if f"explain_{status}" in texts.WORDS else None
    response = _render(
        request,
        "problem.html",
        None,
        status=status,
        heading=heading,
        reasons=reasons,
        explanation=explanation,
        # The language switch comes back here, unless this answers a form's POST.
        path=quote(_here(request), safe="/") if request.method == "GET" else "/alerts",
    )
    response.headers.update(headers or {})
    return response


def _detail(
    request: Request,
    session: Session,
    user: User,
    alert: Alert,
    done: str,
    error: str | None,
    status: int = 200,
) -> Response:
    language = _language(request, user)
    return _render(
        request,
        "alert.html",
        user,
        alert=alert,
        timeline=listing.timeline(session, alert.id),
        curve=_curve(request, alert, language),
        acts=Role(user.role) in ACTING,
        done=f"done_{done}" if done in ("acknowledged", "closed") else None,
        error=error,
        decisions=[d.value for d in ProductDecision],
        status=status,
        # After a form's POST, the language switch must come back to the page, not the form.
        path=quote(f"/alerts/{alert.id}", safe="/"),
    )


def _curve(request: Request, alert: Alert, language: Language) -> str | None:
    service = request.app.state.service
    window = _curve_window(alert.opened_at, alert.cleared_at, _now())
    if service.influx is None or alert.sensor is None or window is None:
        return None
    start, end = window
    span = end - start
    every = 0 if span <= CURVE_RAW_SPAN else int(span.total_seconds() // 600)
    try:
        readings = service.influx.readings(alert.sensor, start, end, every)
    except InfluxError as exc:
        log.warning("no curve for alert %d: %s", alert.id, exc)
        return None
    if not readings:
        return None
    points = [(datetime.fromtimestamp(ns / 1e9, UTC), value) for ns, value in readings]
    curve = Curve(
        points,
        start,
        end,
        alert.limit_c,
        alert.regulatory_limit_c,
        alert.opened_at,
        alert.cleared_at,
    )
    decimal = "," if language == "de" else "."
    return svg(curve, texts.ZONE, texts.word("curve", language), decimal)


def _curve_window(
    began: datetime, cleared: datetime | None, now: datetime
) -> tuple[datetime, datetime] | None:
    """From CURVE_MARGIN before `began` to CURVE_MARGIN after `cleared` (or now), within the
    times readings can have: not before the contract's earliest, not after now. None when
    nothing is left (an alert of the future)."""
    # Bounded before the margin is added: an alert of the year 1 or 9999 has no room for it.
    start = max(began, EARLIEST_TIMESTAMP + CURVE_MARGIN) - CURVE_MARGIN
    end = min(cleared or now, now - CURVE_MARGIN) + CURVE_MARGIN
    return (start, end) if start < end else None


def _user(request: Request, session: Session) -> User:
    username = request.session.get("user")
    user = session.query(User).filter_by(username=username).one_or_none() if username else None
    if user is None or not user.active:
        request.session.pop("user", None)
        raise LoginRequired(_here(request))
    return user


def _render(
    request: Request, template: str, user: User | None, status: int = 200, **context: Any
) -> Response:
    if "csrf" not in request.session:
        request.session["csrf"] = csrf_token()
    language = _language(request, user)
    asset_names = request.app.state.service.asset_names

    def t(key: str) -> str:
        return texts.word(key, language)

    def asset(alert: Alert) -> str:
        names = asset_names.get(alert.asset or "", {})
        return names.get(language) or alert.asset or alert.gateway or alert.site

    return templates.TemplateResponse(
        request,
        template,
        {
            "user": user,
            "lang": language,
            "csrf": request.session["csrf"],
            "t": t,
            "time": lambda at: texts.local_time(at, language),
            "reading_time": lambda iso: texts.local_time(datetime.fromisoformat(iso), language),
            "duration": lambda seconds: texts.duration(seconds, language),
            "celsius": lambda value: texts.celsius(value, language),
            "rule": lambda rule: rule_name(rule, language),
            "asset": asset,
            "path": quote(_here(request), safe="/"),
        }
        | context,
        status_code=status,
    )


def _here(request: Request) -> str:
    """This page's path and query: where the language switch comes back to."""
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def _language(request: Request, user: User | None) -> Language:
    chosen = request.session.get("language") or (user.language if user is not None else "de")
    return "en" if chosen == "en" else "de"


def _safe_next(target: str) -> str:
    """Only paths on this site: never redirect a login to somewhere else."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/alerts"
    return target


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _now() -> datetime:
    return datetime.now(UTC)
