"""The pages' words in German and English, and how times and values are shown."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from coldchain.compliance import BERLIN
from coldchain_alerts.notify import text
from coldchain_alerts.notify.notice import Language

#: Pages show Europe/Berlin time (docs/alerts.md).
ZONE = ZoneInfo(BERLIN)

WORDS: dict[str, dict[str, str]] = {
    "app": {"de": "coldchain Alarme", "en": "coldchain alerts"},
    "login": {"de": "Anmelden", "en": "Log in"},
    "logout": {"de": "Abmelden", "en": "Log out"},
    "username": {"de": "Benutzername", "en": "User name"},
    "password": {"de": "Passwort", "en": "Password"},
    "login_failed": {
        "de": "Benutzername oder Passwort ist falsch.",
        "en": "User name or password is wrong.",
    },
    "login_throttled": {
        "de": "Zu viele Fehlversuche von hier. Bitte ab {at} erneut versuchen (in {wait}).",
        "en": "Too many failed attempts from here. Please try again from {at} (in {wait}).",
    },
    "form_expired": {
        "de": "Das Formular ist abgelaufen. Bitte erneut absenden.",
        "en": "The form has expired. Please send it again.",
    },
    "inbox": {"de": "Alarme", "en": "Alerts"},
    "status_open": {"de": "Offen", "en": "Open"},
    "status_acknowledged": {"de": "Bestätigt", "en": "Acknowledged"},
    "status_closed": {"de": "Abgeschlossen", "en": "Closed"},
    "status_all": {"de": "Alle", "en": "All"},
    "severity_critical": {"de": "Kritisch", "en": "Critical"},
    "severity_warning": {"de": "Warnung", "en": "Warning"},
    "active": {"de": "besteht noch", "en": "still present"},
    "cleared": {"de": "behoben", "en": "cleared"},
    "none": {"de": "Keine Alarme.", "en": "No alerts."},
    "since": {"de": "seit", "en": "since"},
    "began": {"de": "Beginn", "en": "Began"},
    "cleared_at": {"de": "Behoben", "en": "Cleared"},
    "duration": {"de": "Dauer", "en": "Duration"},
    "value": {"de": "Schlimmster Wert", "en": "Worst value"},
    "limit": {"de": "Grenzwert", "en": "Limit"},
    "regulatory": {"de": "Gesetzlicher Höchstwert", "en": "Legal maximum"},
    "sensor": {"de": "Fühler", "en": "Sensor"},
    "gateway": {"de": "Gateway", "en": "Gateway"},
    "occurrences": {"de": "Ausgelöst", "en": "Fired"},
    "times": {"de": "mal", "en": "times"},
    "curve": {"de": "Temperaturverlauf", "en": "Temperature curve"},
    "no_curve": {
        "de": "Keine Messwerte für diesen Zeitraum verfügbar.",
        "en": "No readings available for this period.",
    },
    "timeline": {"de": "Verlauf", "en": "Timeline"},
    "reading_at": {"de": "Messzeit", "en": "reading time"},
    "acknowledge": {"de": "Bestätigen", "en": "Acknowledge"},
    "acknowledge_hint": {
        "de": "Was tun Sie? Die Eskalation stoppt mit der Bestätigung.",
        "en": "What are you doing? Acknowledging stops the escalation.",
    },
    "comment": {"de": "Kommentar", "en": "Comment"},
    "close": {"de": "Abschließen", "en": "Close"},
    "close_hint": {
        "de": "Korrekturmaßnahme dokumentieren (HACCP).",
        "en": "Record the corrective action (HACCP).",
    },
    "close_wait": {
        "de": "Abschließen ist möglich, sobald der Zustand behoben ist.",
        "en": "The alert can be closed once the condition has cleared.",
    },
    "cause": {"de": "Ursache", "en": "Cause"},
    "corrective_action": {"de": "Maßnahme", "en": "Corrective action"},
    "product_decision": {"de": "Entscheidung zur Ware", "en": "Product decision"},
    "decision_": {"de": "– bitte wählen –", "en": "– please choose –"},
    "decision_release": {"de": "Freigeben", "en": "Release"},
    "decision_quarantine": {"de": "Sperren (Quarantäne)", "en": "Quarantine"},
    "decision_discard": {"de": "Entsorgen", "en": "Discard"},
    "acknowledged_by": {"de": "Bestätigt von", "en": "Acknowledged by"},
    "closed_by": {"de": "Abgeschlossen von", "en": "Closed by"},
    "read_only": {
        "de": "Ihre Rolle kann Alarme nur lesen.",
        "en": "Your role can only read alerts.",
    },
    "back": {"de": "Zurück zur Liste", "en": "Back to the list"},
    "step_opened": {"de": "Alarm ausgelöst", "en": "Alert raised"},
    "step_raised": {"de": "Alarm bestätigt durch Messwert", "en": "Alarm confirmed by a reading"},
    "step_fired_again": {"de": "Erneut ausgelöst", "en": "Fired again"},
    "step_severity_raised": {"de": "Verschärft", "en": "Got worse"},
    "step_cleared": {"de": "Zustand behoben", "en": "Condition cleared"},
    "step_acknowledged": {"de": "Bestätigt", "en": "Acknowledged"},
    "step_closed": {"de": "Abgeschlossen", "en": "Closed"},
    "step_reopened": {
        "de": "Wieder offen: verschärft nach dem Abschluss",
        "en": "Open again: got worse after closing",
    },
    "step_notified": {"de": "Benachrichtigt", "en": "Notified"},
    "step_escalated": {"de": "Eskaliert", "en": "Escalated"},
    "step_reminded": {"de": "Erinnert", "en": "Reminded"},
    "level": {"de": "Stufe", "en": "level"},
    "delivery_failed": {"de": "fehlgeschlagen", "en": "failed"},
    "system": {"de": "System", "en": "system"},
    "error_not_open": {
        "de": "Dieser Alarm ist nicht mehr offen.",
        "en": "This alert is no longer open.",
    },
    "error_comment_required": {
        "de": "Bitte im Kommentar sagen, was Sie tun.",
        "en": "Please say in the comment what you are doing.",
    },
    "error_not_acknowledged": {
        "de": "Bitte den Alarm zuerst bestätigen.",
        "en": "Please acknowledge the alert first.",
    },
    "error_still_active": {
        "de": "Der Zustand besteht noch; abschließen erst, wenn er behoben ist.",
        "en": "The condition is still present; close the alert once it has cleared.",
    },
    "error_closing_incomplete": {
        "de": "Ein kritischer Alarm braucht Ursache, Maßnahme und Entscheidung zur Ware.",
        "en": "A critical alert needs a cause, a corrective action and a product decision.",
    },
    "error_too_long": {"de": "Der Text ist zu lang.", "en": "The text is too long."},
    "problem": {"de": "Anfrage abgelehnt", "en": "Request refused"},
    "problem_400": {"de": "Ungültige Anfrage", "en": "Bad request"},
    "problem_404": {"de": "Nicht gefunden", "en": "Not found"},
    "problem_405": {"de": "Nicht erlaubt", "en": "Not allowed"},
    "problem_413": {"de": "Anfrage zu groß", "en": "Request too large"},
    "explain_413": {
        "de": "Die Anfrage ist größer, als der Dienst annimmt. Bitte kürzer fassen.",
        "en": "The request is larger than the service accepts. Please make it shorter.",
    },
    "problem_422": {"de": "Ungültige Eingabe", "en": "Invalid input"},
    "explain_422": {
        "de": "Diese Eingabe kann der Dienst nicht verarbeiten:",
        "en": "The service cannot take this input:",
    },
    "done_acknowledged": {"de": "Alarm bestätigt.", "en": "Alert acknowledged."},
    "done_closed": {"de": "Alarm abgeschlossen.", "en": "Alert closed."},
}


def word(key: str, language: Language) -> str:
    entry = WORDS.get(key)
    if entry is None:
        return key
    return entry.get(language) or entry["en"]


def local_time(at: datetime | None, language: Language) -> str:
    """Europe/Berlin wall time, with the zone's abbreviation (CET/CEST, MEZ/MESZ).

    UTC at the very end of the calendar, where Berlin's offset would step past 9999-12-31.
    """
    if at is None:
        return "–"
    try:
        here = at.astimezone(ZONE)
    except OverflowError:
        here = at.astimezone(UTC)
    zone = here.tzname() or ""
    if language == "de":
        zone = {"CET": "MEZ", "CEST": "MESZ"}.get(zone, zone)
        return f"{here:%d.%m.%Y %H:%M} {zone}"
    return f"{here:%Y-%m-%d %H:%M} {zone}"


def duration(seconds: float | None, language: Language) -> str:
    return "–" if seconds is None else text.duration(seconds, language)


def wait(seconds: int, language: Language) -> str:
    """`1 Sekunde`, `40 seconds`; from a minute on as `duration` writes it."""
    if seconds >= 60:
        return text.duration(seconds, language)
    if language == "de":
        return f"{seconds} Sekunde" if seconds == 1 else f"{seconds} Sekunden"
    return f"{seconds} second" if seconds == 1 else f"{seconds} seconds"


def celsius(value: float | None, language: Language) -> str:
    return "–" if value is None else text.celsius(value, language)
