"""The calibration register's page: each probe's state today, its checks, a check entered.

Thin, like the API's routes (api/routes/calibration.py): the rules are
coldchain_alerts.calibration's and the domain's. A user sees the probes of her
sites and their checks; officers and admins enter a check for a probe of a site
where they act, with the API's validation; a refusal is the page again with the
reason (docs/compliance.md, "The calibration register").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from coldchain import calibration as rules
from coldchain.calibration import Calibration, CalibrationState
from coldchain.languages import Language
from coldchain_alerts import calibration, registry
from coldchain_alerts.access import Access, access_of
from coldchain_alerts.api.deps import NO_NUL
from coldchain_alerts.auth import csrf_ok
from coldchain_alerts.bodies import LimitedRoute
from coldchain_alerts.models import User
from coldchain_alerts.web import pages, words
from coldchain_alerts.web.words import Refused

router = APIRouter(
    include_in_schema=False,
    route_class=LimitedRoute,
    form_limits={"max_fields": 10, "max_files": 0, "max_part_size": 64 * 1024},
)

WORDS: dict[str, dict[str, str]] = {
    "calibration_intro": {
        "de": "Jährliche Prüfung jedes Temperaturfühlers gegen ein Referenzgerät (EN 13486). "
        "Ein Fühler, dessen Prüfung überfällig ist oder mehr als ±1 K Abweichung fand, ist "
        "nicht verifiziert: seine Messwerte sind in Berichten und im Tagesabschluss ab "
        "Mitternacht des ersten solchen Tages markiert, bis eine gute Prüfung gilt.",
        "en": "Each temperature probe's yearly check against a reference instrument (EN 13486). "
        "A probe whose check is overdue or found more than ±1 K is unverified: its readings "
        "are marked in reports and the daily compliance from midnight of the first such day "
        "until a good check is in force.",
    },
    "probes": {"de": "Fühler heute", "en": "Probes today"},
    "probe": {"de": "Fühler", "en": "Probe"},
    "state": {"de": "Stand", "en": "Status"},
    "state_valid": {"de": "verifiziert", "en": "verified"},
    "state_unverified": {"de": "nicht verifiziert", "en": "unverified"},
    "state_unknown": {"de": "unbekannt (keine Prüfung)", "en": "unknown (no check)"},
    "flaw_overdue": {"de": "Prüfung überfällig", "en": "check overdue"},
    "flaw_deviation": {"de": "Abweichung über ±1 K", "en": "deviation beyond ±1 K"},
    "checked_on": {"de": "Geprüft am", "en": "Checked on"},
    "due_on": {"de": "Fällig am", "en": "Due on"},
    "deviation_k": {"de": "Abweichung (K)", "en": "Deviation (K)"},
    "reference_instrument": {
        "de": "Referenzgerät oder Kalibrierschein",
        "en": "Reference instrument or certificate",
    },
    "checked_by": {"de": "Geprüft von", "en": "Checked by"},
    "entered": {"de": "Eingetragen", "en": "Entered"},
    "checks": {"de": "Prüfungen im Register", "en": "Checks in the register"},
    "no_checks": {"de": "Noch keine Prüfung eingetragen.", "en": "No check entered yet."},
    "no_probes": {
        "de": "An Ihren Standorten gibt es keinen Temperaturfühler.",
        "en": "There is no temperature probe at your sites.",
    },
    "enter_check": {"de": "Prüfung eintragen", "en": "Enter a check"},
    "due_hint": {
        "de": "Leer lassen: ein Jahr nach der Prüfung.",
        "en": "Leave empty: a year after the check.",
    },
    "send_check": {"de": "Prüfung eintragen", "en": "Enter the check"},
    "check_entered": {
        "de": "Die Prüfung ist eingetragen.",
        "en": "The check is entered.",
    },
    "check_refused": {
        "de": "Das Register nimmt die Prüfung nicht an:",
        "en": "The register does not take the check:",
    },
    "calibration_read_only": {
        "de": "Ihre Rolle kann das Register nur lesen.",
        "en": "Your role can only read the register.",
    },
    "not_a_day": {
        "de": "„{value}“ ist kein Tag; schreiben Sie JJJJ-MM-TT, z. B. 2026-03-12.",
        "en": "“{value}” is not a day; write YYYY-MM-DD, e.g. 2026-03-12.",
    },
    "not_kelvin": {
        "de": "„{value}“ ist keine Abweichung in K; schreiben Sie z. B. -0,3.",
        "en": "“{value}” is not a deviation in K; write e.g. -0.3.",
    },
    "text_missing": {
        "de": "Bitte geben Sie das Referenzgerät und wer geprüft hat an.",
        "en": "Please name the reference instrument and who checked.",
    },
    "unknown_probe": {
        "de": "Diesen Temperaturfühler gibt es an Ihren Standorten nicht.",
        "en": "There is no such temperature probe at your sites.",
    },
    "not_your_probe": {
        "de": "Ihre Rolle an diesem Standort kann keine Prüfung eintragen.",
        "en": "Your role at this site cannot enter a check.",
    },
}


def word(key: str, language: Language) -> str:
    return words.word_of(WORDS, key, language)


@dataclass(frozen=True)
class ProbeToday:
    sensor: str
    probe: calibration.Probe
    state: CalibrationState
    check: Calibration | None
    flaws: list[rules.Flaw]
    acts: bool
    """Whether the user may enter a check for it."""


@router.get("/calibration", response_class=HTMLResponse)
def calibration_page(request: Request, done: str = "") -> Response:
    with request.app.state.service.sessions() as session:
        user = pages._user(request, session)
        return _page(request, session, user, done=done == "entered")


@router.post("/calibration", response_class=HTMLResponse)
def enter(
    request: Request,
    sensor: Annotated[str, Form(max_length=130, pattern=NO_NUL)],
    checked_on: Annotated[str, Form(max_length=32, pattern=NO_NUL)],
    reference: Annotated[str, Form(max_length=calibration.MAX_TEXT, pattern=NO_NUL)] = "",
    deviation_k: Annotated[str, Form(max_length=32, pattern=NO_NUL)] = "",
    checked_by: Annotated[str, Form(max_length=calibration.MAX_TEXT, pattern=NO_NUL)] = "",
    due_on: Annotated[str, Form(max_length=32, pattern=NO_NUL)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Enter one check, as POST /api/v1/calibration does; the probe's maintenance alert
    is raised or cleared at once."""
    service = request.app.state.service
    with service.writes() as session:
        user = pages._user(request, session)
        language = pages._language(request, user)
        if not csrf_ok(request.session.get("csrf"), csrf):
            return _page(request, session, user, error=word("form_expired", language), status=400)
        access = access_of(session, user)
        fleet = registry.current_fleet(session, service.fleet)
        try:
            _may_enter(access, calibration.probes(fleet), sensor, language)
            check = _check(sensor, checked_on, due_on, reference, deviation_k, checked_by, language)
            calibration.record(session, user.username, [("", check)], fleet, _now())
        except Refused as exc:
            session.rollback()
            return _page(request, session, user, error=exc.text, status=exc.status)
        except calibration.Refused as exc:
            session.rollback()
            error = f"{word('check_refused', language)} {exc}"
            return _page(request, session, user, error=error, status=422)
        session.commit()
    service.wake_calibration_check()
    return RedirectResponse("/calibration?done=entered", status_code=303)


def _may_enter(
    access: Access, known: dict[str, calibration.Probe], sensor: str, language: Language
) -> None:
    """Refuse a check for a probe the user does not see (404, as if there were none) or
    at a site where her role may not enter checks (403)."""
    probe = known.get(sensor)
    if probe is None or not access.sees(probe.site):
        raise Refused(word("unknown_probe", language), 404)
    if not access.acts_at(probe.site):
        raise Refused(word("not_your_probe", language), 403)


def _check(
    sensor: str,
    checked_on: str,
    due_on: str,
    reference: str,
    deviation_k: str,
    checked_by: str,
    language: Language,
) -> Calibration:
    """The check the form gives, with the API's required fields; the register checks the rest."""
    if not reference.strip() or not checked_by.strip():
        raise Refused(word("text_missing", language))
    made = _day(checked_on, language)
    return Calibration(
        sensor=sensor,
        checked_on=made,
        due_on=_day(due_on, language) if due_on.strip() else rules.a_year_after(made),
        reference=reference.strip(),
        deviation_k=_kelvin(deviation_k, language),
        checked_by=checked_by.strip(),
    )


def _day(value: str, language: Language) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Refused(word("not_a_day", language).format(value=value)) from None


def _kelvin(value: str, language: Language) -> float:
    """A deviation in K, with a decimal comma or point; the register bounds it."""
    refusal = Refused(word("not_kelvin", language).format(value=value))
    try:
        number = float(value.strip().replace(",", "."))
    except ValueError:
        raise refusal from None
    if not math.isfinite(number):
        raise refusal
    return number


def _page(
    request: Request,
    session: Session,
    user: User,
    done: bool = False,
    error: str | None = None,
    status: int = 200,
) -> Response:
    language = pages._language(request, user)
    access = access_of(session, user)
    known = calibration.probes(registry.current_fleet(session, request.app.state.service.fleet))
    visible = {sensor: probe for sensor, probe in known.items() if access.sees(probe.site)}
    rows = [row for row in calibration.listing(session) if row.sensor in visible]
    registered = calibration.by_sensor(rows)
    today = [
        _today(sensor, probe, registered.get(sensor, []), access.acts_at(probe.site))
        for sensor, probe in sorted(visible.items())
    ]

    def t(key: str) -> str:
        return word(key, language)

    context: dict[str, Any] = {
        "t": t,
        "probes": today,
        "checks": rows,
        "acting": [probe for probe in today if probe.acts],
        "kelvin": lambda value: _kelvin_text(value, language),
        "day": lambda value: _day_text(value, language),
        "done": done,
        "error": error,
    }
    return pages.templates.TemplateResponse(
        request,
        "calibration.html",
        pages._context(request, user) | context,
        status_code=status,
    )


def _today(
    sensor: str, probe: calibration.Probe, checks: list[Calibration], acts: bool
) -> ProbeToday:
    day = _now().astimezone(ZoneInfo(probe.timezone)).date()
    check = rules.in_force(checks, day)
    found = rules.flaws(check, day) if check is not None else []
    return ProbeToday(sensor, probe, rules.state(check, day), check, found, acts)


def _kelvin_text(value: float | None, language: Language) -> str:
    if value is None:
        return "–"
    text = f"{value:+.1f}"
    return text.replace(".", ",") if language == "de" else text


def _day_text(value: date, language: Language) -> str:
    return value.strftime("%d.%m.%Y") if language == "de" else value.isoformat()


def _now() -> datetime:
    return datetime.now(UTC)
