"""Food categories and their legal temperature limits, in °C.

Sources: ATP agreement Annex 2 and 3; Reg. (EC) 853/2004 Annex III;
DIN 10508 for perishable food without a specific rule; Directive 89/108/EEC and
the German TLMV for quick-frozen food. Values are the maximum air temperature
for chilled or frozen storage and transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coldchain.limits import Limits

#: House defaults for every category; an asset overrides any of them in the fleet file.
DELAY_S = 900.0
HYSTERESIS_K = 0.5
BUDGET_S = 3600.0
BUDGET_WINDOW_S = 86400.0
DOOR_GRACE_S = 900.0
DOOR_OPEN_MAX_S = 600.0
DEFROST_GRACE_S = 2700.0
STUCK_S = 4 * 3600.0
MAX_RATE_K_PER_MIN = 10.0
NO_DATA_FACTOR = 2.0
#: Chilled goods suffer below this (frost damage), whatever their category.
CHILLED_MIN_C = -1.0
#: An absolute limit this far above a chilled maximum alarms at once.
CHILLED_ABSOLUTE_MARGIN_K = 6.0
#: Quick-frozen food may rise by at most 3 K during dispatch and local delivery
#: (Directive 89/108/EEC Art. 5; TLMV Anlage 3); beyond that it alarms at once.
FROZEN_TOLERANCE_K = 3.0


@dataclass(frozen=True)
class Category:
    """A preset: the regulatory maximum in °C, where it comes from, and default limits."""

    id: str
    name_de: str
    name_en: str
    max_c: float
    source: str
    frozen: bool = False

    def defaults(self, max_c: float | None = None) -> dict[str, Any]:
        """Every Limits field for an asset of this category, before its own overrides.

        The warning level follows the alarm maximum `max_c` (the category's unless
        the asset sets its own); a chilled absolute limit follows it too, a frozen
        one stays at the legal tolerance.
        """
        chilled = not self.frozen
        alarm_max = self.max_c if max_c is None else max_c
        return {
            "regulatory_max_c": self.max_c,
            "max_c": alarm_max,
            "warn_max_c": alarm_max - 1.0,
            "min_c": CHILLED_MIN_C if chilled else None,
            "warn_min_c": CHILLED_MIN_C + 0.5 if chilled else None,
            "absolute_max_c": alarm_max + CHILLED_ABSOLUTE_MARGIN_K
            if chilled
            else self.max_c + FROZEN_TOLERANCE_K,
            "delay_s": DELAY_S,
            "hysteresis_k": HYSTERESIS_K,
            "budget_s": BUDGET_S,
            "budget_window_s": BUDGET_WINDOW_S,
            "door_grace_s": DOOR_GRACE_S,
            "door_open_max_s": DOOR_OPEN_MAX_S,
            "defrost_grace_s": DEFROST_GRACE_S,
            "stuck_s": STUCK_S,
            "max_rate_k_per_min": MAX_RATE_K_PER_MIN,
            "no_data_factor": NO_DATA_FACTOR,
        }

    def limits(self, **overrides: Any) -> Limits:
        """The preset's limits with `overrides`; a max_c that is no number is left for
        Limits to refuse with its reason, not used to derive the others."""
        max_c = overrides.get("max_c")
        number = isinstance(max_c, int | float) and not isinstance(max_c, bool)
        return Limits(**{**self.defaults(max_c if number else None), **overrides})


_PRESETS = [
    Category("minced_meat", "Hackfleisch", "Minced meat", 2.0, "Reg. 853/2004 Annex III Sec. V"),
    Category("red_offal", "Rote Innereien", "Red offal", 3.0, "Reg. 853/2004 Annex III Sec. I"),
    Category(
        "poultry",
        "Geflügel, Kaninchen, Kleinwild",
        "Poultry, rabbit, small game",
        4.0,
        "Reg. 853/2004 Annex III Sec. II; ATP Annex 3",
    ),
    Category(
        "meat_products",
        "Fleischerzeugnisse, Milch, Frischmilchprodukte, Butter, Fertiggerichte",
        "Meat products, pasteurised milk, fresh dairy, butter, ready meals",
        6.0,
        "ATP Annex 3",
    ),
    Category("red_meat", "Rotes Fleisch (Kern)", "Red meat (carcass core)", 7.0, "ATP Annex 3"),
    Category(
        "fresh_fish",
        "Frischer Fisch (auf schmelzendem Eis)",
        "Fresh fish (on melting ice)",
        2.0,
        "Reg. 853/2004 Annex III Sec. VIII; ATP Annex 3",
    ),
    Category(
        "perishable",
        "Leicht verderbliche Lebensmittel ohne eigene Regel",
        "Perishable food without a specific rule",
        7.0,
        "DIN 10508",
    ),
    Category(
        "quick_frozen",
        "Tiefkühllebensmittel",
        "Quick-frozen food",
        -18.0,
        "Directive 89/108/EEC; TLMV; ATP Annex 2",
        frozen=True,
    ),
    Category("ice_cream", "Speiseeis", "Ice cream", -20.0, "ATP Annex 2", frozen=True),
    Category("frozen_other", "Andere Gefrierware", "Other frozen food", -12.0, "ATP Annex 2", True),
]

PRESETS: dict[str, Category] = {category.id: category for category in _PRESETS}
