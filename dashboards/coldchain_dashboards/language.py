"""The dashboards' two languages: every text a person reads is given in German and English.

Grafana cannot translate a dashboard's own texts (titles, descriptions, legends, value
mappings, annotation names): a template variable reaches queries and some titles, not
descriptions, mappings or the dashboard's title. So every dashboard is built twice, one
set per language, each with its own uid, provisioned into its own folder.
"""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    """A language of the dashboards; the value is the folder and the uid suffix."""

    DE = "de"
    EN = "en"

    def pick(self, *, de: str, en: str) -> str:
        """The text in this language."""
        return de if self is Language.DE else en

    @property
    def folder(self) -> str:
        """The Grafana folder of this language's dashboards."""
        return self.pick(de="coldchain (Deutsch)", en="coldchain (English)")

    def uid(self, name: str) -> str:
        """A dashboard's uid in this language, e.g. `coldchain-compliance-de`."""
        return f"coldchain-{name}-{self.value}"


#: Column headers of the tables: field name -> (German, English).
COLUMNS: dict[str, tuple[str, str]] = {
    "Time": ("Zeit", "Time"),
    "asset": ("Anlage", "asset"),
    "sensor": ("Fühler", "sensor"),
    "gateway": ("Gateway", "gateway"),
    "site": ("Standort", "site"),
    "alert_id": ("Alarm-Nr.", "alert_id"),
    "standing": ("Stand", "standing"),
    "severity": ("Schwere", "severity"),
    "temp_c": ("Temperatur", "temp_c"),
    "battery_v": ("Batterie", "battery_v"),
    "newest_reading_seq": ("neueste Messung (seq)", "newest_reading_seq"),
    "ok": ("intakt", "ok"),
    "entries": ("Einträge", "entries"),
    "first_bad_seq": ("erster falscher Eintrag", "first_bad_seq"),
    "problem": ("Problem", "problem"),
    "opened_by": ("geöffnet von", "opened_by"),
    "acknowledged_by": ("quittiert von", "acknowledged_by"),
    "acknowledgement": ("Quittierung", "acknowledgement"),
    "closed_by": ("geschlossen von", "closed_by"),
    "cause": ("Ursache", "cause"),
    "corrective_action": ("Korrekturmaßnahme", "corrective_action"),
    "product_decision": ("Entscheidung über die Ware", "product_decision"),
    "closing_comment": ("Kommentar beim Schließen", "closing_comment"),
    "action": ("Schritt", "action"),
    "level": ("Stufe", "level"),
    "actor": ("wer", "actor"),
    "comment": ("Kommentar", "comment"),
    "state": ("Zustand", "state"),
    "rule": ("Regel", "rule"),
    "key": ("Schlüssel", "key"),
    "value_c": ("Wert", "value_c"),
    "peak_c": ("Spitze", "peak_c"),
    "limit_c": ("Grenze", "limit_c"),
    "seq": ("Nr.", "seq"),
    "sha256": ("SHA-256", "sha256"),
}


def column(language: Language, field: str) -> str:
    """A table column's header for a field (the field's name in English)."""
    de, en = COLUMNS[field]
    return language.pick(de=de, en=en)
