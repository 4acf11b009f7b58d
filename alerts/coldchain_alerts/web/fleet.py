"""The fleet registry's pages: the fleet now, its history, a limit changed, four eyes.

Thin, like the API's routes (api/routes/fleet.py): the rules are
coldchain_alerts.registry's. Everyone logged in reads; officers and admins change
a limit (a reason is mandatory) and approve or refuse a pending change, not their
own (docs/fleet.md). A user of some sites sees their sites only, with their assets,
gateways and sensors, and the changes that touch only their sites; they change a
limit where they act and decide a request that touches only sites where they act. As
in the API, another site's asset or request is answered as one that does not exist.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from coldchain.contract import MAX_REASON_CHARS
from coldchain.fleet import Fleet
from coldchain.languages import Language
from coldchain.registry import only_sites
from coldchain_alerts import registry
from coldchain_alerts.access import Access, access_of
from coldchain_alerts.api.deps import NO_NUL, Id
from coldchain_alerts.auth import ACTING, csrf_ok
from coldchain_alerts.bodies import LimitedRoute
from coldchain_alerts.models import FleetRequest, User
from coldchain_alerts.web import pages, words
from coldchain_alerts.web.words import Refused

router = APIRouter(
    include_in_schema=False,
    route_class=LimitedRoute,
    form_limits={"max_fields": 10, "max_files": 0, "max_part_size": 64 * 1024},
)
#: The limits the page's form changes, in the order it offers them (docs/rules.md).
FIELDS = (
    "max_c",
    "min_c",
    "warn_max_c",
    "warn_min_c",
    "absolute_max_c",
    "delay_s",
    "hysteresis_k",
    "door_grace_s",
    "defrost_grace_s",
)
#: Changes shown in the history.
HISTORY = 200
DONE = ("changed", "pending", "approved", "refused")

WORDS: dict[str, dict[str, str]] = {
    "fleet_history": {"de": "Änderungen der Flotte", "en": "Changes to the fleet"},
    "fleet_empty": {
        "de": "Das Register enthält noch keine Flotte (coldchain-alerts fleet import).",
        "en": "The registry holds no fleet yet (coldchain-alerts fleet import).",
    },
    "fleet_version": {
        "de": "Version {number}, gültig ab {at}",
        "en": "Version {number}, valid from {at}",
    },
    "category": {"de": "Warengruppe", "en": "Category"},
    "asset_id": {"de": "Objekt", "en": "Asset"},
    "legal_max": {"de": "Gesetzl. Höchstwert", "en": "Legal maximum"},
    "limit_max_c": {"de": "Obere Alarmgrenze (°C)", "en": "Upper alarm limit (°C)"},
    "limit_min_c": {"de": "Untere Alarmgrenze (°C)", "en": "Lower alarm limit (°C)"},
    "limit_warn_max_c": {"de": "Obere Warnschwelle (°C)", "en": "Upper warning level (°C)"},
    "limit_warn_min_c": {"de": "Untere Warnschwelle (°C)", "en": "Lower warning level (°C)"},
    "limit_absolute_max_c": {"de": "Absolute Obergrenze (°C)", "en": "Absolute maximum (°C)"},
    "limit_delay_s": {"de": "Alarmverzögerung (s)", "en": "Alarm delay (s)"},
    "limit_hysteresis_k": {"de": "Hysterese (K)", "en": "Hysteresis (K)"},
    "limit_door_grace_s": {"de": "Karenz nach Türöffnung (s)", "en": "Door grace (s)"},
    "limit_defrost_grace_s": {"de": "Karenz nach Abtauung (s)", "en": "Defrost grace (s)"},
    "change_limit": {"de": "Grenzwert ändern", "en": "Change a limit"},
    "change_hint": {
        "de": "Leer lassen, um zum Wert der Warengruppe zurückzukehren. Eine Lockerung "
        "(höhere Obergrenze, niedrigere Untergrenze, längere Verzögerung …) wartet auf die "
        "Freigabe durch eine zweite Person.",
        "en": "Leave empty to return to the category's value. A loosening (a higher maximum, "
        "a lower minimum, a longer delay …) waits for a second person's approval.",
    },
    "limit": {"de": "Grenzwert", "en": "Limit"},
    "new_value": {"de": "Neuer Wert", "en": "New value"},
    "reason": {"de": "Begründung (HACCP)", "en": "Reason (HACCP)"},
    "send_change": {"de": "Änderung beantragen", "en": "Ask for the change"},
    "pending": {"de": "Wartet auf Freigabe", "en": "Waiting for approval"},
    "no_pending": {"de": "Keine Änderung wartet.", "en": "No change is waiting."},
    "loosens": {"de": "Lockert", "en": "Loosens"},
    "asked_by": {"de": "Beantragt von {who}, {at}", "en": "Asked for by {who}, {at}"},
    "approve": {"de": "Freigeben", "en": "Approve"},
    "refuse": {"de": "Ablehnen", "en": "Refuse"},
    "refuse_reason": {"de": "Grund der Ablehnung", "en": "Why it is refused"},
    "own_request": {
        "de": "Ihr eigener Antrag: eine zweite Person muss ihn freigeben. Sie können ihn "
        "zurückziehen (ablehnen).",
        "en": "Your own request: a second person must approve it. You may withdraw it (refuse).",
    },
    "status_pending": {"de": "wartet", "en": "pending"},
    "status_applied": {"de": "in Kraft", "en": "in force"},
    "status_refused": {"de": "abgelehnt", "en": "refused"},
    "made_version": {"de": "ergab Version {number}", "en": "made version {number}"},
    "decided": {"de": "{status} von {who}, {at}", "en": "{status} by {who}, {at}"},
    "history_empty": {"de": "Noch keine Änderung.", "en": "No change yet."},
    "when": {"de": "Wann", "en": "When"},
    "who": {"de": "Wer", "en": "Who"},
    "what": {"de": "Was (alt → neu)", "en": "What (old → new)"},
    "why": {"de": "Warum", "en": "Why"},
    "status": {"de": "Stand", "en": "Status"},
    "unset": {"de": "nicht gesetzt", "en": "not set"},
    "fleet_done_changed": {"de": "Die Änderung ist in Kraft.", "en": "The change is in force."},
    "fleet_done_pending": {
        "de": "Die Änderung lockert einen Grenzwert und wartet auf die Freigabe durch eine "
        "zweite Person.",
        "en": "The change loosens a limit and waits for a second person's approval.",
    },
    "fleet_done_approved": {
        "de": "Freigegeben: die Änderung ist in Kraft.",
        "en": "Approved: the change is in force.",
    },
    "fleet_done_refused": {"de": "Die Änderung ist abgelehnt.", "en": "The change is refused."},
    "fleet_refused": {
        "de": "Die Änderung wurde nicht angenommen:",
        "en": "The change was not accepted:",
    },
    "fleet_not_here": {
        "de": "An Ihren Standorten gibt es kein Objekt {asset}.",
        "en": "There is no asset {asset} at your sites.",
    },
    "request_not_here": {
        "de": "An Ihren Standorten gibt es keinen Änderungsantrag {request}.",
        "en": "There is no change request {request} at your sites.",
    },
    "fleet_role_at": {
        "de": "Ihre Rolle an {site} ({role}) kann die Flotte dort nur lesen.",
        "en": "Your role at {site} ({role}) can only read the fleet there.",
    },
    "gateways": {"de": "Gateways", "en": "Gateways"},
    "gateway_id": {"de": "Gateway", "en": "Gateway"},
    "mobile": {"de": "Fahrzeug {plate}", "en": "Vehicle {plate}"},
    "stationary": {"de": "ortsfest", "en": "stationary"},
    "sensor_id": {"de": "Sensor", "en": "Sensor"},
    "sensor_kind": {"de": "Art", "en": "Kind"},
    "kind_temperature": {"de": "Temperatur", "en": "temperature"},
    "kind_door": {"de": "Türkontakt", "en": "door contact"},
    "interval": {"de": "Messabstand (s)", "en": "Interval (s)"},
    "no_gateways": {"de": "Keine Gateways.", "en": "No gateways."},
    "fleet_read_only": {
        "de": "Ihre Rolle kann die Flotte nur lesen.",
        "en": "Your role can only read the fleet.",
    },
    "reason_missing": {
        "de": "Bitte begründen Sie die Änderung (HACCP verlangt es für Grenzwerte).",
        "en": "Please give a reason (HACCP asks for one for limits).",
    },
    "not_a_number": {
        "de": "„{value}“ ist keine Zahl; schreiben Sie z. B. 4,5.",
        "en": "“{value}” is not a number; write e.g. 4.5.",
    },
    "unknown_limit": {
        "de": "Diesen Grenzwert kann die Seite nicht ändern.",
        "en": "This page cannot change that limit.",
    },
}


def word(key: str, language: Language) -> str:
    return words.word_of(WORDS, key, language)


@router.get("/fleet", response_class=HTMLResponse)
def fleet_page(request: Request, done: str = "") -> Response:
    with request.app.state.service.sessions() as session:
        user = pages._user(request, session)
        return _fleet(request, session, user, done=done)


@router.get("/fleet/history", response_class=HTMLResponse)
def history_page(request: Request) -> Response:
    with request.app.state.service.sessions() as session:
        user = pages._user(request, session)
        found = _seen_requests(session, access_of(session, user), registry.requests(session))
        shown = [_request(r) for r in found[:HISTORY]]
        return _render(request, "fleet_history.html", user, requests=shown)


@router.post("/fleet/change", response_class=HTMLResponse)
def change(
    request: Request,
    asset: Annotated[str, Form(max_length=64, pattern=NO_NUL)],
    field: Annotated[str, Form(max_length=64, pattern=NO_NUL)],
    value: Annotated[str, Form(max_length=64, pattern=NO_NUL)] = "",
    reason: Annotated[str, Form(max_length=MAX_REASON_CHARS, pattern=NO_NUL)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    def step(session: Session, user: User, language: Language) -> str:
        if field not in FIELDS:
            raise Refused(word("unknown_limit", language))
        path = f"assets/{asset}/limits/{field}"
        site = registry.site_of_path(session, path)
        _may_act(session, user, {site} if site else set(), "fleet_not_here", language, asset=asset)
        if not reason.strip():
            raise Refused(word("reason_missing", language))
        number = _number(value, language)
        outcome = registry.change_value(session, user.username, path, number, reason)
        return "changed" if outcome.version is not None else "pending"

    return _act(request, csrf, step)


@router.post("/fleet/requests/{request_id}/approve", response_class=HTMLResponse)
def approve(
    request: Request, request_id: Id, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    def step(session: Session, user: User, language: Language) -> str:
        _may_decide(session, user, request_id, language)
        registry.approve(session, user.username, request_id)
        return "approved"

    return _act(request, csrf, step)


@router.post("/fleet/requests/{request_id}/refuse", response_class=HTMLResponse)
def refuse(
    request: Request,
    request_id: Id,
    reason: Annotated[str, Form(max_length=MAX_REASON_CHARS, pattern=NO_NUL)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    def step(session: Session, user: User, language: Language) -> str:
        _may_decide(session, user, request_id, language)
        registry.refuse(session, user.username, request_id, reason)
        return "refused"

    return _act(request, csrf, step)


def _act(request: Request, csrf: str, step: Callable[[Session, User, Language], str]) -> Response:
    """Run a form's step as the user logged in; a version made is published to ingest."""
    service = request.app.state.service
    with service.writes() as session:
        user = pages._user(request, session)
        language = pages._language(request, user)
        if not csrf_ok(request.session.get("csrf"), csrf):
            return _fleet(request, session, user, error=word("form_expired", language), status=400)
        if not access_of(session, user).roles() & ACTING:
            error = word("fleet_read_only", language)
            return _fleet(request, session, user, error=error, status=403)
        try:
            done = step(session, user, language)
        except NotHere as exc:
            session.rollback()
            return pages.refused(request, 404, [exc.text])
        except Refused as exc:
            session.rollback()
            return _fleet(request, session, user, error=exc.text, status=exc.status)
        except registry.RegistryError as exc:
            session.rollback()
            error = f"{word('fleet_refused', language)} {exc.detail}"
            return _fleet(request, session, user, error=error, status=exc.status)
        session.commit()
    if done in ("changed", "approved"):
        service.publish_fleet()
    return RedirectResponse(f"/fleet?done={done}", status_code=303)


class NotHere(Refused):
    """An asset or request at a site the user does not see: as if there were none (404)."""

    def __init__(self, text: str) -> None:
        super().__init__(text, 404)


def _may_act(
    session: Session, user: User, sites: set[str], missing: str, language: Language, **names: Any
) -> None:
    """Refuse a change at `sites` (none: nothing there) unless the user acts at each: a
    site they do not see as if the object did not exist (404), their role there 403. A
    user of every site with an acting role acts everywhere (checked before)."""
    access = access_of(session, user)
    if access.everywhere:
        return
    if not sites or not all(access.sees(site) for site in sites):
        raise NotHere(word(missing, language).format(**names))
    for site in sorted(sites):
        if not access.acts_at(site):
            text = word("fleet_role_at", language).format(site=site, role=access.role_at(site))
            raise Refused(text, 403)


def _may_decide(session: Session, user: User, request_id: int, language: Language) -> None:
    try:
        sites = registry.sites_of_request(session, request_id)
    except registry.NotFound:
        sites = set()
    _may_act(session, user, sites, "request_not_here", language, request=request_id)


def _seen_requests(
    session: Session, access: Access, rows: list[FleetRequest]
) -> list[FleetRequest]:
    """The requests a user sees: for a user of some sites, those touching only theirs."""
    sites = access.visible()
    if sites is None:
        return rows
    return [row for row in rows if registry.sites_of_request(session, row.id) <= sites]


def _number(value: str, language: Language) -> float | None:
    text = value.strip().replace(",", ".")
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise Refused(word("not_a_number", language).format(value=value)) from None
    if not math.isfinite(number):
        raise Refused(word("not_a_number", language).format(value=value))
    return number


def _fleet(
    request: Request,
    session: Session,
    user: User,
    done: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    access = access_of(session, user)
    row = registry.newest(session)
    fleet = _seen_fleet(registry.data_of(row), access) if row is not None else None
    seen = _seen_requests(session, access, registry.requests(session, registry.PENDING))
    pending = [_request(r, _decides(session, access, r)) for r in seen]
    return _render(
        request,
        "fleet.html",
        user,
        status=status,
        version=row,
        fleet=fleet,
        fields=FIELDS,
        pending=pending,
        changing=[site for site in fleet.sites if access.acts_at(site.id)] if fleet else [],
        done=f"fleet_done_{done}" if done in DONE else None,
        error=error,
        path="/fleet",
    )


def _seen_fleet(data: dict[str, Any], access: Access) -> Fleet:
    """The fleet's sites the user sees."""
    sites = access.visible()
    return Fleet.from_data(data if sites is None else only_sites(data, sites))


def _decides(session: Session, access: Access, row: FleetRequest) -> bool:
    """Whether the user acts at every site the request touches."""
    return all(access.acts_at(site) for site in registry.sites_of_request(session, row.id))


def _request(row: FleetRequest, decides: bool = False) -> dict[str, Any]:
    return {
        "row": row,
        "loosens": registry.loosens_of(row),
        "changes": [(c.path, json.loads(c.old), json.loads(c.new)) for c in row.changes],
        "decides": decides,
    }


def _render(
    request: Request, template: str, user: User, status: int = 200, **context: Any
) -> Response:
    language = pages._language(request, user)

    def t(key: str) -> str:
        return word(key, language)

    def shown(value: Any) -> str:
        if value is None:
            return t("unset")
        if isinstance(value, float):
            text = f"{value:g}"
            return text.replace(".", ",") if language == "de" else text
        return str(value)

    return pages.templates.TemplateResponse(
        request,
        template,
        pages._context(request, user) | {"t": t, "shown": shown} | context,
        status_code=status,
    )
