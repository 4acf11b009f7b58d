"""Pieces every dashboard uses: the site and asset variables, limit thresholds, helpers."""

from __future__ import annotations

from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders.dashboard import QueryVariable, ThresholdsConfig
from grafana_foundation_sdk.models import dashboard

from coldchain import measurements
from coldchain_dashboards.assets import WatchedAsset
from coldchain_dashboards.influxql import SITE_FILTER, tag_values_variable
from coldchain_dashboards.language import Language, column, pick

#: How far back "current" state (last seen, open alerts, battery) is looked for.
LOOKBACK = "30d"


def site_variable(lang: Language) -> QueryVariable:
    query = f'SHOW TAG VALUES FROM "{measurements.TEMPERATURE}" WITH KEY = "site"'
    return tag_values_variable("site", pick(lang, de="Standort", en="Site"), query)


def asset_variable(lang: Language) -> QueryVariable:
    query = (
        f'SHOW TAG VALUES FROM "{measurements.TEMPERATURE}" WITH KEY = "asset" WHERE {SITE_FILTER}'
    )
    every = pick(lang, de="Alle", en="All")
    return (
        tag_values_variable("asset", pick(lang, de="Anlage", en="Asset"), query)
        .multi(True)
        .include_all(True)
        .current(dashboard.VariableOption(selected=True, text=every, value="$__all"))
    )


class _Overridable(Protocol):
    def override_by_name(
        self, name: str, properties: list[dashboard.DynamicConfigValue]
    ) -> Self: ...


_Panel = TypeVar("_Panel", bound=_Overridable)


def headers(panel: _Panel, lang: Language, fields: list[str]) -> _Panel:
    """The panel with each field's column header in `lang`."""
    for field in fields:
        header = dashboard.DynamicConfigValue("displayName", column(lang, field))
        panel = panel.override_by_name(field, [header])
    return panel


def limit_thresholds(watched: WatchedAsset) -> ThresholdsConfig:
    """Blue below the band, green inside, yellow from the warning level, red from the limit."""
    limits = watched.asset.limits
    steps = [dashboard.Threshold(value=None, color="blue" if limits.min_c is not None else "green")]
    if limits.min_c is not None:
        steps.append(dashboard.Threshold(value=limits.min_c, color="green"))
    if limits.warn_max_c is not None:
        steps.append(dashboard.Threshold(value=limits.warn_max_c, color="yellow"))
    if limits.max_c is not None:
        steps.append(dashboard.Threshold(value=limits.max_c, color="red"))
    return ThresholdsConfig().mode(dashboard.ThresholdsMode.ABSOLUTE).steps(steps)


def thresholds_property(watched: WatchedAsset) -> dashboard.DynamicConfigValue:
    return dashboard.DynamicConfigValue(
        id_val="thresholds", value=limit_thresholds(watched).build()
    )


def transformation(id_val: str, options: dict[str, object]) -> dashboard.DataTransformerConfig:
    return dashboard.DataTransformerConfig(id_val=id_val, options=options)


def limits_markdown(assets: list[WatchedAsset], lang: Language) -> str:
    """A Markdown table of every asset's limits, as the queries use them."""
    head = pick(
        lang,
        de="| Anlage | Kategorie | Alarmband (°C) | Gesetzliches Maximum (°C) | Intervall (s) |",
        en="| Asset | Category | Alarm band (°C) | Legal maximum (°C) | Interval (s) |",
    )
    rows = [head, "| --- | --- | --- | --- | --- |"]
    to = pick(lang, de="bis", en="to")
    for watched in assets:
        band = watched.band
        low = "–" if band.min_c is None else f"{band.min_c:g}"
        high = "–" if band.max_c is None else f"{band.max_c:g}"
        name = pick(lang, de=watched.asset.name.de, en=watched.asset.name.en)
        category = pick(lang, de=watched.asset.preset.name_de, en=watched.asset.preset.name_en)
        rows.append(
            f"| {watched.id} ({name}) | {category} | "
            f"{low} {to} {high} | {watched.legal_max_c:g} | {watched.interval_s:g} |"
        )
    return "\n".join(rows)
