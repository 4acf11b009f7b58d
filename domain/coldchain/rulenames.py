"""What each alarm rule is called, in German and English (docs/rules.md explains them).

One table for every place a person reads a rule: messages, pages, reports.
"""

from __future__ import annotations

RULE_NAMES: dict[str, dict[str, str]] = {
    "over_warning": {"de": "Temperatur über Warnstufe", "en": "Temperature above warning level"},
    "over_max": {"de": "Temperatur über Grenzwert", "en": "Temperature above limit"},
    "over_absolute": {
        "de": "Temperatur über absoluter Grenze",
        "en": "Temperature above absolute limit",
    },
    "under_warning": {
        "de": "Temperatur unter Warnstufe",
        "en": "Temperature below warning level",
    },
    "under_min": {"de": "Temperatur unter Grenzwert", "en": "Temperature below limit"},
    "budget": {
        "de": "Zeitbudget über Grenzwert aufgebraucht",
        "en": "Time budget above limit used up",
    },
    "door_open": {"de": "Tür zu lange offen", "en": "Door open too long"},
    "no_data": {"de": "Keine Messwerte", "en": "No readings"},
    "implausible": {"de": "Unplausibler Messwert", "en": "Implausible reading"},
    "stuck": {"de": "Fühler hängt (Wert unverändert)", "en": "Sensor stuck (value unchanged)"},
    "jump": {"de": "Unmöglicher Temperatursprung", "en": "Impossible temperature jump"},
    "offline": {"de": "Gateway offline", "en": "Gateway offline"},
    "battery_low": {"de": "Batterie schwach", "en": "Battery low"},
    "clock_jump": {"de": "Uhr des Gateways gesprungen", "en": "Gateway clock jumped"},
    "outbox_thinned": {
        "de": "Gateway-Speicher voll, Messwerte ausgedünnt",
        "en": "Gateway storage full, readings thinned",
    },
}


def rule_name(rule: str, language: str) -> str:
    """The rule in words; the rule id itself for a rule this table does not know."""
    names = RULE_NAMES.get(rule)
    if names is None:
        return rule
    return names.get(language) or names["en"]
