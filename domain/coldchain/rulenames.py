"""What each alarm rule is called, in German and English (docs/rules.md explains them).

One table for every place a person reads a rule: messages, pages, reports.
"""

from __future__ import annotations

RULE_NAMES: dict[str, dict[str, str]] = {
    "over_absolute": {
        "de": "viel zu warm, über der absoluten Grenze",
        "en": "far too warm, above the absolute limit",
    },
    "over_max": {"de": "zu warm", "en": "too warm"},
    "over_warning": {"de": "wird zu warm (Warnstufe)", "en": "getting too warm (warning level)"},
    "under_min": {"de": "zu kalt", "en": "too cold"},
    "under_warning": {"de": "wird zu kalt (Warnstufe)", "en": "getting too cold (warning level)"},
    "budget": {
        "de": "zu lange zu warm (Zeitbudget aufgebraucht)",
        "en": "too warm for too long (time budget used up)",
    },
    "door_open": {"de": "Tür zu lange offen", "en": "door open too long"},
    "implausible": {
        "de": "unmöglicher Messwert, Fühler prüfen",
        "en": "impossible reading, check the probe",
    },
    "stuck": {
        "de": "Fühler hängt (immer derselbe Wert)",
        "en": "probe stuck (always the same value)",
    },
    "jump": {"de": "Messwert springt, Fühler prüfen", "en": "reading jumps, check the probe"},
    "no_data": {"de": "keine Messwerte", "en": "no readings"},
    "offline": {"de": "offline, keine Verbindung", "en": "offline, no connection"},
    "battery_low": {"de": "Batterie schwach", "en": "battery low"},
    "clock_jump": {"de": "Uhr gesprungen", "en": "clock jumped"},
    "backup_missing": {
        "de": "keine aktuelle Datensicherung",
        "en": "no recent backup",
    },
    "probe_unverified": {
        "de": "Fühler nicht verifiziert: Kalibrierung überfällig oder über ±1 K",
        "en": "probe not verified: calibration overdue or beyond ±1 K",
    },
    "outbox_thinned": {
        "de": "Speicher voll, alte Messwerte ausgedünnt",
        "en": "storage full, old readings thinned out",
    },
}


def rule_name(rule: str, language: str) -> str:
    """The rule in words ("zu warm", "too warm"); the id itself for a rule not in the table."""
    names = RULE_NAMES.get(rule)
    if names is None:
        return rule
    return names.get(language) or names["en"]
