"""The pages' routes: thin, like the API's; the work is lifecycle's and listing's.

People log in with a password and get a signed session cookie. Every form
carries the session's CSRF token, checked before anything is changed. Pages are
plain HTML with a little CSS, readable on a phone; no JavaScript is needed.

With JavaScript, the inbox and an alert's page stay fresh without reloading
(static/live.js): every LIVE_EVERY_S they fetch their parts, rendered anew, from
`/alerts/live` and `/alerts/{id}/live` with the session's cookie. Those polls are
not activity: a session ends after `session_hours` without a page being opened.
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
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.alerting import (
    Closing,
    Decision,
    ProductDecision,
    Standing,
    WorkflowError,
    missing_decision,
)
from coldchain.contract import EARLIEST_TIMESTAMP
from coldchain.languages import Language
from coldchain.rulenames import rule_name
from coldchain_alerts import audit, lifecycle, listing
from coldchain_alerts.access import Access, access_of
from coldchain_alerts.api.deps import NO_NUL, Id
from coldchain_alerts.auth import LoginThrottle, authenticate, csrf_ok, csrf_token
from coldchain_alerts.bodies import LimitedRoute
from coldchain_alerts.influx import InfluxError
from coldchain_alerts.models import Alert, User
from coldchain_alerts.web import timeline, words
from coldchain_alerts.web.curve import Curve, svg

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(
    include_in_schema=False,
    route_class=LimitedRoute,
    # The forms have at most 6 fields and no files; the longest field has 10 000 characters.
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
#: How often an open page asks for fresh values (seconds).
LIVE_EVERY_S = 10
#: The inbox's tabs: which standings each shows ("open" is every alert not closed).
SHOWS: dict[str, frozenset[Standing] | None] = {
    "open": frozenset(Standing) - {Standing.CLOSED},
    **{standing.value: frozenset({standing}) for standing in Standing},
    "all": None,
}
Show = Literal["open", "unacknowledged", "decision_due", "acknowledged", "closed", "all"]
#: The product decisions a form may send; "" for none.
DecisionField = Literal["", "release", "quarantine", "discard"]


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
    now = _now().isoformat()
    request.session.update(user=user.username, csrf=csrf_token(), language=chosen, at=now, seen=now)
    return RedirectResponse(_safe_next(next), status_code=303)


def _throttled(request: Request, next: str, language: Language, wait_s: float) -> Response:
    """The login page saying when to try again (429, with Retry-After)."""
    request.app.state.service.metrics.requests_refused.labels(reason="login_throttled").inc()
    seconds = math.ceil(wait_s)
    message = words.word("login_throttled", language).format(
        at=words.local_time(_now() + timedelta(seconds=seconds), language),
        wait=words.wait(seconds, language),
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
    show: Show = "open",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    with request.app.state.service.sessions() as session:
        user = _user(request, session)
        live = f"/alerts/live?show={show}&page={page}"
        listed = _inbox(session, access_of(session, user), show, page)
        return _render(request, "inbox.html", user, **listed, live=live)


@router.get("/alerts/live")
def inbox_live(
    request: Request,
    show: Show = "open",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    """The inbox's tabs and list, rendered anew, for static/live.js."""
    with request.app.state.service.sessions() as session:
        user = _live_user(request, session)
        if user is None:
            return _expired()
        listed = _inbox(session, access_of(session, user), show, page)
        parts = _parts(request, user, ("tabs", "list"), listed)
        return JSONResponse({"parts": parts, "state": ""})


def _inbox(session: Session, access: Access, show: str, page: int) -> dict[str, Any]:
    """The inbox's alerts and counts, of the sites the user sees."""
    offset = (page - 1) * PAGE
    sites = access.visible()
    filters = listing.Filters(standings=SHOWS[show], sites=sites)
    alerts = listing.search(session, filters, PAGE + 1, offset)
    by_standing = listing.counts(session, sites)
    counts = {standing.value: count for standing, count in by_standing.items()}
    counts["open"] = sum(c for s, c in by_standing.items() if s is not Standing.CLOSED)
    counts["all"] = sum(by_standing.values())
    return {
        "alerts": alerts[:PAGE],
        "more": len(alerts) > PAGE and page < MAX_PAGE,
        "page": page,
        "tab": show,
        "shows": list(SHOWS),
        "counts": counts,
    }


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: Id, done: str = "") -> Response:
    with request.app.state.service.sessions() as session:
        user = _user(request, session)
        alert = _seen(session, user, alert_id)
        if alert is None:
            return _render(request, "missing.html", user, alert_id=alert_id, status=404)
        return _detail(request, session, user, alert, done=done, error=None)


@router.get("/alerts/{alert_id}/live")
def alert_live(request: Request, alert_id: Id) -> Response:
    """The alert page's parts, rendered anew, for static/live.js; `state` names what the
    forms depend on, so that they are replaced only when it changes."""
    with request.app.state.service.sessions() as session:
        user = _live_user(request, session)
        if user is None:
            return _expired()
        alert = _seen(session, user, alert_id)
        if alert is None:
            return JSONResponse({"detail": f"there is no alert {alert_id}"}, status_code=404)
        context = _alert(request, session, user, alert)
        parts = ("head", "facts", "curve", "actions", "timeline")
        return JSONResponse(
            {"parts": _parts(request, user, parts, context), "state": context["state"]}
        )


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


@router.post("/alerts/{alert_id}/decision", response_class=HTMLResponse)
def decide(
    request: Request,
    alert_id: Id,
    cause: Annotated[str, Form(max_length=10_000, pattern=NO_NUL)] = "",
    corrective_action: Annotated[str, Form(max_length=10_000, pattern=NO_NUL)] = "",
    product_decision: Annotated[DecisionField, Form()] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    decision = Decision(cause, corrective_action, _product(product_decision))
    return _act(
        request,
        alert_id,
        csrf,
        "decided",
        lambda session, user: lifecycle.decide(session, alert_id, user.username, decision),
    )


@router.post("/alerts/{alert_id}/close", response_class=HTMLResponse)
def close(
    request: Request,
    alert_id: Id,
    cause: Annotated[str, Form(max_length=10_000, pattern=NO_NUL)] = "",
    corrective_action: Annotated[str, Form(max_length=10_000, pattern=NO_NUL)] = "",
    product_decision: Annotated[DecisionField, Form()] = "",
    comment: Annotated[str, Form(max_length=10_000, pattern=NO_NUL)] = "",
    while_active: Annotated[bool, Form()] = False,
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    closing = Closing(cause, corrective_action, _product(product_decision), comment, while_active)
    return _act(
        request,
        alert_id,
        csrf,
        "closed",
        lambda session, user: lifecycle.close(session, alert_id, user.username, closing),
    )


def _product(value: str) -> ProductDecision | None:
    return ProductDecision(value) if value else None


def _seen(session: Session, user: User, alert_id: int) -> Alert | None:
    """The alert, None if there is none or it is at a site the user does not see."""
    try:
        alert = lifecycle.get(session, alert_id)
    except lifecycle.AlertNotFound:
        return None
    return alert if access_of(session, user).sees(alert.site) else None


def _act(request: Request, alert_id: Id, csrf: str, done: str, step: Any) -> Response:
    service = request.app.state.service
    with service.writes() as session:
        user = _user(request, session)
        seen = _seen(session, user, alert_id)
        if seen is None:
            return _render(request, "missing.html", user, alert_id=alert_id, status=404)
        error = None
        if not csrf_ok(request.session.get("csrf"), csrf):
            error = "form_expired"
        elif not access_of(session, user).acts_at(seen.site):
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
    heading = f"problem_{status}" if f"problem_{status}" in words.WORDS else "problem"
    explanation = f"explain_{status}" if f"explain_{status}" in words.WORDS else None
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
    context = _alert(request, session, user, alert)
    return _render(
        request,
        "alert.html",
        user,
        **context,
        done=f"done_{done}" if done in ("acknowledged", "decided", "closed") else None,
        error=_error(error, alert, language),
        status=status,
        live=f"/alerts/{alert.id}/live",
        # After a form's POST, the language switch must come back to the page, not the form.
        path=quote(f"/alerts/{alert.id}", safe="/"),
    )


def _alert(request: Request, session: Session, user: User, alert: Alert) -> dict[str, Any]:
    """What the alert's page and its parts show."""
    language = _language(request, user)
    steps = listing.timeline(session, alert.id)
    people = {alert.acknowledged_by, alert.decided_by, alert.closed_by}
    names = _full_names(session, {name for name in people if name} | {s.actor for s in steps})
    standing = alert.standing
    return {
        "alert": alert,
        "standing": standing.value,
        "missing": words.missing(missing_decision(alert), language)
        if standing is Standing.DECISION_DUE
        else None,
        "lines": timeline.lines(steps),
        "person": lambda username: _person(username, names, language),
        "curve": _curve(request, alert, language),
        "acts": access_of(session, user).acts_at(alert.site),
        "decisions": [d.value for d in ProductDecision],
        "state": f"{alert.status}|{alert.active}|{alert.severity}|{alert.decided_at}",
    }


def _error(error: str | None, alert: Alert, language: Language) -> str | None:
    """The page's words for a refusal; a critical alert's closing names what is missing."""
    if error is None:
        return None
    sentence = words.word(error, language)
    missing = missing_decision(alert)
    if error == "error_closing_incomplete" and missing:
        sentence = f"{sentence} {words.missing(missing, language)}."
    return sentence


def _full_names(session: Session, usernames: set[str]) -> dict[str, str]:
    rows = session.execute(
        select(User.username, User.display_name).where(User.username.in_(usernames))
    )
    return {username: name or username for username, name in rows}


def _person(username: str, names: Mapping[str, str], language: Language) -> str:
    """A person by full name; the service's own steps as "System"."""
    if username == audit.SYSTEM:
        return words.word("system", language)
    return names.get(username, username)


def _parts(
    request: Request, user: User, parts: tuple[str, ...], context: dict[str, Any]
) -> dict[str, str]:
    """Parts of a page (templates/parts/), rendered as the page renders them."""
    values = _context(request, user) | context
    return {part: templates.get_template(f"parts/{part}.html").render(values) for part in parts}


def _curve(request: Request, alert: Alert, language: Language) -> str | None:
    """The curve as SVG, None without readings of the alert's sensor (or without InfluxDB)."""
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
    described = words.word("curve_description", language).format(
        start=words.local_time(start, language),
        end=words.local_time(end, language),
        began=words.local_time(alert.opened_at, language),
    )
    if alert.cleared_at is not None:
        cleared = words.local_time(alert.cleared_at, language)
        described += words.word("curve_cleared", language).format(cleared=cleared)
    return svg(curve, words.ZONE, words.word("curve", language), decimal, described)


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
    """The user logged in; opening a page keeps the session going."""
    user = _session_user(request, session)
    if user is None:
        raise LoginRequired(_here(request))
    request.session["seen"] = _now().isoformat()
    return user


def _live_user(request: Request, session: Session) -> User | None:
    """The user logged in, for a poll: it does not keep the session going."""
    return _session_user(request, session)


def _session_user(request: Request, session: Session) -> User | None:
    """The session's active user, None when there is none or the session has been idle for
    `session_hours` (no page opened; sessions from before `seen` count from the login)."""
    username = request.session.get("user")
    user = session.query(User).filter_by(username=username).one_or_none() if username else None
    seen = request.session.get("seen") or request.session.get("at")
    hours = request.app.state.service.settings.session_hours
    if user is None or not user.active or seen is None or _idle(seen, hours):
        request.session.pop("user", None)
        return None
    return user


def _idle(seen: str, hours: float) -> bool:
    try:
        since = datetime.fromisoformat(seen)
    except ValueError:
        return True
    return _now() - since > timedelta(hours=hours)


def _expired() -> Response:
    """A poll's answer once the session has ended: static/live.js then offers the login."""
    return JSONResponse({"detail": "log in again"}, status_code=401)


def _render(
    request: Request, template: str, user: User | None, status: int = 200, **context: Any
) -> Response:
    return templates.TemplateResponse(
        request, template, _context(request, user) | context, status_code=status
    )


def _context(request: Request, user: User | None) -> dict[str, Any]:
    """What every template may use: the user, the language and how values are written."""
    if "csrf" not in request.session:
        request.session["csrf"] = csrf_token()
    language = _language(request, user)
    service = request.app.state.service

    def t(key: str) -> str:
        return words.word(key, language)

    def asset(alert: Alert) -> str:
        names = service.asset_names.get(alert.asset or "", {})
        return names.get(language) or alert.asset or alert.gateway or alert.site

    return {
        "user": user,
        "lang": language,
        "csrf": request.session["csrf"],
        "every": LIVE_EVERY_S,
        "live": None,
        "t": t,
        "time": lambda at: words.local_time(at, language),
        "span": lambda first, last: words.span(first, last, language),
        "times": lambda count: words.times(count, language),
        "channel": lambda name: words.channel(name, language),
        "reading_time": lambda iso: words.local_time(datetime.fromisoformat(iso), language),
        "duration": lambda seconds: words.duration(seconds, language),
        "celsius": lambda value: words.celsius(value, language),
        "rule": lambda rule: rule_name(rule, language),
        "asset": asset,
        "site": lambda alert: service.site_names.get(alert.site, alert.site),
        "path": quote(_here(request), safe="/"),
    }


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
