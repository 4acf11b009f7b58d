"""The audit log's page: its entries, newest first, for those who may read the log.

A user of some sites reads the entries about their sites (coldchain_alerts.audit.of_sites:
their alerts, fleet changes, gateways, policies, calibration checks), as the API answers
them; a viewer reads no audit log (403). Checking the whole chain stays with users of
every site (`coldchain-alerts audit verify`, `GET /api/v1/audit/verify`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from coldchain.languages import Language
from coldchain_alerts import audit
from coldchain_alerts.access import access_of
from coldchain_alerts.auth import AUDITING
from coldchain_alerts.bodies import LimitedRoute
from coldchain_alerts.models import AuditEntry
from coldchain_alerts.web import pages, words

router = APIRouter(include_in_schema=False, route_class=LimitedRoute)
#: Entries on one page.
PAGE = 100

WORDS: dict[str, dict[str, str]] = {
    "audit_intro_every": {
        "de": "Alle Einträge, der neueste zuerst. Die Kette prüft `coldchain-alerts audit verify`.",
        "en": "Every entry, newest first. `coldchain-alerts audit verify` checks the chain.",
    },
    "audit_intro_sites": {
        "de": "Die Einträge zu Ihren Standorten ({sites}): Alarme, Änderungen der Flotte, "
        "Gateways, Eskalation und Kalibrierungen; der neueste zuerst.",
        "en": "The entries about your sites ({sites}): alerts, fleet changes, gateways, "
        "escalation and calibration checks; newest first.",
    },
    "audit_not_for_viewers": {
        "de": "Ihre Rolle ({role}) liest das Prüfprotokoll nicht.",
        "en": "Your role ({role}) does not read the audit log.",
    },
    "audit_empty": {"de": "Keine Einträge.", "en": "No entries."},
    "audit_older": {"de": "Ältere Einträge", "en": "Older entries"},
    "seq": {"de": "Nr.", "en": "No."},
    "action": {"de": "Was", "en": "What"},
    "subject": {"de": "Woran", "en": "Subject"},
    "detail": {"de": "Einzelheiten", "en": "Detail"},
    "when": {"de": "Wann", "en": "When"},
    "who": {"de": "Wer", "en": "Who"},
}


def word(key: str, language: Language) -> str:
    entry = WORDS.get(key)
    return entry[language] if entry is not None else words.word(key, language)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, before: Annotated[int, Query(ge=1, le=2**31 - 1)] = 2**31 - 1
) -> Response:
    with request.app.state.service.sessions() as session:
        user = pages._user(request, session)
        language = pages._language(request, user)
        access = access_of(session, user)
        if not access.roles() & AUDITING:
            role = ", ".join(sorted(role.value for role in access.roles()))
            return pages.refused(
                request, 403, [word("audit_not_for_viewers", language).format(role=role)]
            )
        sites = access.audited()
        query = audit.of_sites(select(AuditEntry).where(AuditEntry.seq < before), sites)
        entries = list(session.scalars(query.order_by(AuditEntry.seq.desc()).limit(PAGE + 1)))
        intro = (
            word("audit_intro_every", language)
            if sites is None
            else word("audit_intro_sites", language).format(sites=", ".join(sorted(sites)))
        )
        return pages.templates.TemplateResponse(
            request,
            "audit.html",
            pages._context(request, user)
            | {
                "t": lambda key: word(key, language),
                "entries": entries[:PAGE],
                "older": entries[PAGE - 1].seq if len(entries) > PAGE else None,
                "intro": intro,
            },
        )
