"""The pages' words in German and English, and how times and values are shown."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from coldchain.compliance import BERLIN
from coldchain.languages import Language
from coldchain_alerts.notify import message

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
    "fleet": {"de": "Flotte", "en": "Fleet"},
    "calibration": {"de": "Kalibrierung", "en": "Calibration"},
    "audit": {"de": "Prüfprotokoll", "en": "Audit log"},
    "show_open": {"de": "Offen", "en": "Open"},
    "show_all": {"de": "Alle", "en": "All"},
    "standing_unacknowledged": {"de": "Unbestätigt", "en": "Unacknowledged"},
    "standing_decision_due": {"de": "Entscheidung fällig", "en": "Decision due"},
    "standing_acknowledged": {"de": "Bestätigt", "en": "Acknowledged"},
    "standing_closed": {"de": "Abgeschlossen", "en": "Closed"},
    "severity_critical": {"de": "Kritisch", "en": "Critical"},
    "severity_warning": {"de": "Warnung", "en": "Warning"},
    "active": {"de": "besteht noch", "en": "still present"},
    "cleared": {"de": "behoben", "en": "cleared"},
    "none": {"de": "Keine Alarme.", "en": "No alerts."},
    "since": {"de": "seit", "en": "since"},
    "began": {"de": "Beginn", "en": "Began"},
    "cleared_at": {"de": "Behoben", "en": "Cleared"},
    "duration": {"de": "Dauer", "en": "Duration"},
    "current": {"de": "Aktuell", "en": "Current"},
    "peak": {"de": "Spitzenwert", "en": "Peak"},
    "limit": {"de": "Grenzwert", "en": "Limit"},
    "regulatory": {"de": "Gesetzlicher Höchstwert", "en": "Legal maximum"},
    "site": {"de": "Standort", "en": "Site"},
    "sensor": {"de": "Fühler", "en": "Sensor"},
    "gateway": {"de": "Gateway", "en": "Gateway"},
    "occurrences": {"de": "Ausgelöst", "en": "Fired"},
    "curve": {"de": "Temperaturverlauf", "en": "Temperature curve"},
    "curve_description": {
        "de": "Temperatur von {start} bis {end}; Alarm ab {began}",
        "en": "Temperature from {start} to {end}; alert from {began}",
    },
    "curve_cleared": {"de": ", behoben {cleared}", "en": ", cleared {cleared}"},
    "legend_reading": {"de": "Messwerte", "en": "Readings"},
    "legend_limit": {"de": "Grenzwert {value}", "en": "Limit {value}"},
    "legend_regulatory": {"de": "Gesetzlicher Höchstwert {value}", "en": "Legal maximum {value}"},
    "legend_same": {
        "de": "Grenzwert und gesetzlicher Höchstwert {value}",
        "en": "Limit and legal maximum {value}",
    },
    "legend_window": {"de": "Alarmzeitraum", "en": "Alert period"},
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
    "decision": {"de": "Maßnahmen dokumentieren", "en": "Record what is done"},
    "decision_hint": {
        "de": "Jederzeit, auch während der Zustand besteht. Eine spätere Änderung ersetzt "
        "die Angaben; der Verlauf behält beide.",
        "en": "At any time, also while the condition lasts. A later change replaces what "
        "was recorded; the timeline keeps both.",
    },
    "save": {"de": "Speichern", "en": "Save"},
    "close": {"de": "Abschließen", "en": "Close"},
    "close_hint": {
        "de": "Der Zustand ist behoben: Abschließen dokumentiert den Alarm als erledigt.",
        "en": "The condition has cleared: closing records the alert as done.",
    },
    "close_needs_decision": {
        "de": "Ein kritischer Alarm wird erst mit Ursache, Maßnahme und Entscheidung zur Ware "
        "abgeschlossen.",
        "en": "A critical alert is closed only with a cause, a corrective action and a "
        "product decision.",
    },
    "close_wait": {
        "de": "Abschließen ist möglich, sobald der Zustand behoben ist.",
        "en": "The alert can be closed once the condition has cleared.",
    },
    "close_while_active": {
        "de": "Abschließen, obwohl der Zustand noch besteht",
        "en": "Close while the condition is still present",
    },
    "close_while_active_hint": {
        "de": "Nur mit Begründung, etwa wenn das Fahrzeug stillgelegt und die Ware entsorgt "
        "ist. Die Begründung steht im Prüfprotokoll.",
        "en": "Only with a reason, e.g. when the vehicle is taken out of service and the "
        "goods are discarded. The reason goes into the audit log.",
    },
    "reason": {"de": "Begründung", "en": "Reason"},
    "close_anyway": {"de": "Trotzdem abschließen", "en": "Close anyway"},
    "while_active": {"de": "während der Zustand bestand", "en": "while the condition lasted"},
    "cause": {"de": "Ursache", "en": "Cause"},
    "corrective_action": {"de": "Maßnahme", "en": "Corrective action"},
    "product_decision": {"de": "Entscheidung zur Ware", "en": "Product decision"},
    "decision_": {"de": "– bitte wählen –", "en": "– please choose –"},
    "decision_release": {"de": "Freigeben", "en": "Release"},
    "decision_quarantine": {"de": "Sperren (Quarantäne)", "en": "Quarantine"},
    "decision_discard": {"de": "Entsorgen", "en": "Discard"},
    "missing_1": {"de": "Es fehlt: {names}", "en": "Missing: {names}"},
    "missing_n": {"de": "Es fehlen: {names}", "en": "Missing: {names}"},
    "acknowledged_by": {"de": "Bestätigt von", "en": "Acknowledged by"},
    "decided_by": {"de": "Dokumentiert von", "en": "Recorded by"},
    "closed_by": {"de": "Abgeschlossen von", "en": "Closed by"},
    "read_only": {
        "de": "Ihre Rolle kann Alarme nur lesen.",
        "en": "Your role can only read alerts.",
    },
    "back": {"de": "Zurück zur Liste", "en": "Back to the list"},
    "missing_alert": {"de": "Alarm {id} nicht gefunden.", "en": "Alert {id} not found."},
    "step_opened": {"de": "Alarm ausgelöst", "en": "Alert raised"},
    "step_raised": {"de": "Durch Messwert bestätigt", "en": "Confirmed by a reading"},
    "step_fired_again": {"de": "Erneut ausgelöst", "en": "Fired again"},
    "step_severity_raised": {"de": "Verschärft", "en": "Got worse"},
    "step_cleared": {"de": "Zustand behoben", "en": "Condition cleared"},
    "step_acknowledged": {"de": "Bestätigt", "en": "Acknowledged"},
    "step_decided": {"de": "Maßnahmen dokumentiert", "en": "Decision recorded"},
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
    "failed_1": {"de": "1 Zustellung fehlgeschlagen", "en": "1 delivery failed"},
    "failed_n": {"de": "{n} Zustellungen fehlgeschlagen", "en": "{n} deliveries failed"},
    "channel_email": {"de": "E-Mail", "en": "e-mail"},
    "channel_ntfy": {"de": "Push (ntfy)", "en": "push (ntfy)"},
    "channel_sms": {"de": "SMS", "en": "SMS"},
    "channel_webhook": {"de": "Webhook", "en": "webhook"},
    "system": {"de": "System", "en": "System"},
    "live_changed": {"de": "Der Alarm hat sich geändert.", "en": "The alert has changed."},
    "reload": {"de": "Neu laden", "en": "Reload"},
    "live_expired": {"de": "Die Anmeldung ist abgelaufen.", "en": "Your login has expired."},
    "log_in_again": {"de": "Neu anmelden", "en": "Log in again"},
    "error_not_open": {
        "de": "Dieser Alarm ist nicht mehr offen.",
        "en": "This alert is no longer open.",
    },
    "error_not_found": {"de": "Diesen Alarm gibt es nicht.", "en": "There is no such alert."},
    "error_comment_required": {
        "de": "Bitte im Kommentar sagen, was Sie tun.",
        "en": "Please say in the comment what you are doing.",
    },
    "error_not_acknowledged": {
        "de": "Bitte den Alarm zuerst bestätigen.",
        "en": "Please acknowledge the alert first.",
    },
    "error_decision_empty": {
        "de": "Bitte Ursache, Maßnahme oder Entscheidung zur Ware eintragen.",
        "en": "Please record a cause, a corrective action or a product decision.",
    },
    "error_still_active": {
        "de": "Der Zustand besteht noch; abschließen erst, wenn er behoben ist, oder mit "
        "Begründung, obwohl er noch besteht.",
        "en": "The condition is still present; close the alert once it has cleared, or with "
        "a reason while it lasts.",
    },
    "error_reason_required": {
        "de": "Bitte begründen, warum der Alarm abgeschlossen wird, obwohl der Zustand noch "
        "besteht.",
        "en": "Please say why the alert is closed while the condition is still present.",
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
    "done_decided": {"de": "Entscheidung gespeichert.", "en": "Decision saved."},
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
    here = _wall(at)
    return f"{_day(here, language)} {here:%H:%M} {_zone(here, language)}"


def span(first: datetime, last: datetime, language: Language) -> str:
    """`03.11.2025 03:10 bis 05:55 MEZ`: the day and the zone once when both ends share them."""
    between = " bis " if language == "de" else " to "
    start, end = _wall(first), _wall(last)
    day, zone = _day(start, language), _zone(start, language)
    if (day, zone) == (_day(end, language), _zone(end, language)):
        return f"{day} {start:%H:%M}{between}{end:%H:%M} {zone}"
    return f"{local_time(first, language)}{between}{local_time(last, language)}"


def _wall(at: datetime) -> datetime:
    try:
        return at.astimezone(ZONE)
    except OverflowError:
        return at.astimezone(UTC)


def _day(here: datetime, language: Language) -> str:
    return f"{here:%d.%m.%Y}" if language == "de" else f"{here:%Y-%m-%d}"


def _zone(here: datetime, language: Language) -> str:
    zone = here.tzname() or ""
    return {"CET": "MEZ", "CEST": "MESZ"}.get(zone, zone) if language == "de" else zone


def times(count: int, language: Language) -> str:
    """`3-mal`, `3 times`, `once`."""
    if language == "de":
        return f"{count}-mal"
    return "once" if count == 1 else f"{count} times"


def missing(names: list[str], language: Language) -> str:
    """`Es fehlt: Maßnahme`, `Es fehlen: Ursache, Maßnahme`; `names` are WORDS keys."""
    key = "missing_1" if len(names) == 1 else "missing_n"
    return word(key, language).format(names=", ".join(word(n, language) for n in names))


def channel(name: str, language: Language) -> str:
    """How a channel of notify is called: `E-Mail`, `Push (ntfy)`; unknown ones as they are."""
    key = f"channel_{name}"
    return word(key, language) if key in WORDS else name


def duration(seconds: float | None, language: Language) -> str:
    return "–" if seconds is None else message.duration(seconds, language)


def wait(seconds: int, language: Language) -> str:
    """`1 Sekunde`, `40 seconds`; from a minute on as `duration` writes it."""
    if seconds >= 60:
        return message.duration(seconds, language)
    if language == "de":
        return f"{seconds} Sekunde" if seconds == 1 else f"{seconds} Sekunden"
    return f"{seconds} second" if seconds == 1 else f"{seconds} seconds"


def celsius(value: float | None, language: Language) -> str:
    return "–" if value is None else message.celsius(value, language)


class Refused(Exception):
    """A form a page refuses, with the words that say why, and the HTTP status."""

    def __init__(self, text: str, status: int = 422) -> None:
        super().__init__(text)
        self.text = text
        self.status = status


def word_of(own: dict[str, dict[str, str]], key: str, language: Language) -> str:
    """A page's own word `key`, or the shared one of that name."""
    entry = own.get(key)
    return entry[language] if entry is not None else word(key, language)
