"""The dashboards' two languages: every text a person reads is given in German and English.

Grafana cannot translate a dashboard's own texts (titles, descriptions, legends, value
mappings, annotation names): a template variable reaches queries and some titles, not
descriptions, mappings or the dashboard's title. So every dashboard is built twice, one
set per language, each with its own uid, provisioned into its own folder.
"""

from __future__ import annotations

from coldchain.languages import LANGUAGES, Language

__all__ = ["COLUMNS", "LANGUAGES", "Language", "column", "folder", "pick", "uid"]


def pick(language: Language, *, de: str, en: str) -> str:
    """The text in `language`."""
    return de if language == "de" else en


def folder(language: Language) -> str:
    """The Grafana folder of the dashboards in `language`."""
    return pick(language, de="coldchain (Deutsch)", en="coldchain (English)")


def uid(name: str, language: Language) -> str:
    """A dashboard's uid in `language`, e.g. `coldchain-compliance-de`; the language is
    also the folder of its JSON file."""
    return f"coldchain-{name}-{language}"


#: Column headers of the tables: field name -> (German, English).
COLUMNS: dict[str, tuple[str, str]] = {
    "Time": ("Zeit", "Time"),
    "asset": ("Anlage", "Asset"),
    "sensor": ("Fühler", "Sensor"),
    "gateway": ("Gateway", "Gateway"),
    "site": ("Standort", "Site"),
    "alert_id": ("Alarm-Nr.", "Alert no."),
    "standing": ("Stand", "Standing"),
    "severity": ("Schwere", "Severity"),
    "temp_c": ("Temperatur", "Temperature"),
    "battery_v": ("Batterie", "Battery"),
    "newest_reading_seq": ("neueste Messung (seq)", "newest reading (seq)"),
    "ok": ("intakt", "intact"),
    "entries": ("Einträge", "entries"),
    "first_bad_seq": ("erster falscher Eintrag", "first bad entry"),
    "problem": ("Problem", "problem"),
    "opened_by": ("geöffnet von", "opened by"),
    "acknowledged_by": ("quittiert von", "acknowledged by"),
    "acknowledgement": ("Quittierung", "acknowledgement"),
    "closed_by": ("geschlossen von", "closed by"),
    "cause": ("Ursache", "cause"),
    "corrective_action": ("Korrekturmaßnahme", "corrective action"),
    "product_decision": ("Entscheidung über die Ware", "product decision"),
    "closing_comment": ("Kommentar beim Schließen", "closing comment"),
    "action": ("Schritt", "step"),
    "level": ("Stufe", "level"),
    "actor": ("wer", "who"),
    "comment": ("Kommentar", "comment"),
    "state": ("Zustand", "state"),
    "rule": ("Regel", "rule"),
    "key": ("Schlüssel", "key"),
    "value_c": ("Wert", "value"),
    "peak_c": ("Spitze", "peak"),
    "limit_c": ("Grenze", "limit"),
    "seq": ("Nr.", "no."),
    "sha256": ("SHA-256", "SHA-256"),
}


def column(language: Language, field: str) -> str:
    """A table column's header for a field."""
    de, en = COLUMNS[field]
    return pick(language, de=de, en=en)
