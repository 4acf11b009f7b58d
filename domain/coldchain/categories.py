"""Food categories and their legal temperature limits, in °C.

Sources: ATP agreement Annex 2 and 3; Reg. (EC) 853/2004 Annex III;
DIN 10508 for perishable food without a specific rule; Directive 89/108/EEC and
the German TLMV for quick-frozen food. Values are the maximum air temperature
for chilled or frozen storage and transport.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """A preset: the regulatory maximum in °C and where it comes from."""

    id: str
    name_de: str
    name_en: str
    max_c: float
    source: str
    frozen: bool = False


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
