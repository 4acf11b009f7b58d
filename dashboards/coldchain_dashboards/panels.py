"""Pieces every dashboard uses: the site and asset variables, limit thresholds, helpers."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import QueryVariable, ThresholdsConfig
from grafana_foundation_sdk.models import dashboard

from coldchain import measurements
from coldchain_dashboards.assets import WatchedAsset
from coldchain_dashboards.influxql import SITE_FILTER, tag_values_variable

#: How far back "current" state (last seen, open alerts, battery) is looked for.
LOOKBACK = "30d"


def site_variable() -> QueryVariable:
    return tag_values_variable(
        "site", "Site", f'SHOW TAG VALUES FROM "{measurements.TEMPERATURE}" WITH KEY = "site"'
    )


def asset_variable() -> QueryVariable:
    query = (
        f'SHOW TAG VALUES FROM "{measurements.TEMPERATURE}" WITH KEY = "asset" WHERE {SITE_FILTER}'
    )
    return (
        tag_values_variable("asset", "Asset", query)
        .multi(True)
        .include_all(True)
        .current(dashboard.VariableOption(selected=True, text="All", value="$__all"))
    )


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


def limits_markdown(assets: list[WatchedAsset]) -> str:
    """A Markdown table of every asset's limits, as the queries use them."""
    rows = [
        "| Asset | Category | Alarm band (°C) | Legal maximum (°C) | Interval (s) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for watched in assets:
        band = watched.band
        low = "–" if band.min_c is None else f"{band.min_c:g}"
        high = "–" if band.max_c is None else f"{band.max_c:g}"
        rows.append(
            f"| {watched.id} ({watched.asset.name.en}) | {watched.asset.preset.name_en} | "
            f"{low} to {high} | {watched.legal_max_c:g} | {watched.interval_s:g} |"
        )
    return "\n".join(rows)
