"""Compliance: the numbers of coldchain.compliance per asset and local day, for audits."""

from __future__ import annotations

from grafana_foundation_sdk.builders import table, text, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.builders.dashboard import AnnotationQuery, Dashboard
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import text as text_model

from coldchain import measurements
from coldchain_dashboards import queries
from coldchain_dashboards.assets import AssetGroup, WatchedAsset, groups
from coldchain_dashboards.influxql import (
    ASSET_FILTER,
    DATASOURCE,
    SITE_FILTER,
    TIME_FILTER,
    AnnotationTarget,
    Target,
    where,
)
from coldchain_dashboards.panels import (
    asset_variable,
    limits_markdown,
    site_variable,
    thresholds_property,
    transformation,
)

UID = "coldchain-compliance"
TABLE_TITLE = "Daily compliance"
_COLUMNS = [
    "asset",
    "Time",
    "coverage_pct",
    "time_in_range_pct",
    "time_in_legal_range_pct",
    "excursions_above",
    "excursions_below",
    "excursion_s",
    "degree_minutes",
    "samples",
    "min_c",
    "max_c",
    "mean_c",
    "mkt_c",
]
_UNITS = {
    "coverage_pct": "percent",
    "time_in_range_pct": "percent",
    "time_in_legal_range_pct": "percent",
    "excursion_s": "s",
    "min_c": "celsius",
    "max_c": "celsius",
    "mean_c": "celsius",
    "mkt_c": "celsius",
}


def build(assets: list[WatchedAsset], tz: str) -> Dashboard:
    asset_groups = groups(assets)
    return (
        Dashboard("coldchain: compliance")
        .uid(UID)
        .tags(["coldchain"])
        .timezone(tz)
        .time("now-7d/d", "now-1d/d")
        .with_variable(site_variable())
        .with_variable(asset_variable())
        .annotation(_excursions_annotation())
        .with_panel(_daily_table(asset_groups, tz))
        .with_panel(_daily_shares(asset_groups, tz))
        .with_panel(_temperature(assets))
        .with_panel(_limits(assets))
    )


def daily_targets(asset_groups: list[AssetGroup], tz: str) -> list[Target]:
    """Every query of the daily table; each returns rows per asset and local day."""
    targets = [
        Target("readings", queries.readings(tz)),
        Target("mkt", queries.mean_kinetic_temperature(tz)),
    ]
    for n, group in enumerate(asset_groups, 1):
        targets += [
            Target(f"coverage {n}", queries.coverage(group, tz)),
            Target(f"in range {n}", queries.time_in_range(group, tz)),
            Target(f"in legal range {n}", queries.time_in_legal_range(group, tz)),
            Target(f"beyond band {n}", queries.beyond_band(group, tz)),
        ]
        targets += [
            Target(f"excursions {side} {n}", queries.excursions(group, tz, side))
            for side in queries.sides(group)
        ]
    return [target.table() for target in targets]


def _daily_table(asset_groups: list[AssetGroup], tz: str) -> table.Panel:
    panel = (
        table.Panel()
        .title(TABLE_TITLE)
        .description(
            "Per asset and local day, against the alarm band and the legal maximum of the "
            "fleet file (see Limits). Coverage: share of the day covered by a reading "
            "(readings x interval). Time in range: share of the day covered by a reading in "
            "the band, a reading at a limit counting as in range; time without data is never "
            "in range. Excursions: runs of readings beyond the band in consecutive "
            "intervals, per side; a run across midnight counts on both days. Excursion time "
            "and degree-minutes: readings beyond the band x interval, and K beyond the limit "
            "x minutes. Min, max, mean and MKT (ΔH/R = 10000 K) over the day's readings. "
            "Exact for regular readings and whole days; the same rules as "
            "coldchain.compliance.daily_stats, which the tests compare it with."
        )
        .with_transformation(transformation("merge", {}))
        .with_transformation(
            transformation(
                "organize",
                {"indexByName": {name: i for i, name in enumerate(_COLUMNS)}},
            )
        )
        .decimals(2)
        .height(12)
        .span(24)
    )
    for target in daily_targets(asset_groups, tz):
        panel = panel.with_target(target)
    for name, unit in _UNITS.items():
        panel = panel.override_by_name(name, [model.DynamicConfigValue("unit", unit)])
    return panel


def _daily_shares(asset_groups: list[AssetGroup], tz: str) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title("Coverage and time in range per day")
        .description(
            "The daily coverage and time in range of the table over time: a day with a "
            "coverage gap shows a lower coverage bar."
        )
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .unit("percent")
        .min(0)
        .max(100)
        .height(9)
        .span(24)
    )
    for n, group in enumerate(asset_groups, 1):
        panel = panel.with_target(
            Target(f"coverage {n}", queries.coverage(group, tz)).alias("$tag_asset coverage")
        )
        panel = panel.with_target(
            Target(f"in range {n}", queries.time_in_range(group, tz)).alias("$tag_asset in range")
        )
    return panel


def _temperature(assets: list[WatchedAsset]) -> timeseries.Panel:
    query = (
        f'SELECT mean("temp_c") AS "mean", min("temp_c") AS "min", max("temp_c") AS "max" '
        f'FROM "{measurements.TEMPERATURE}" WHERE {where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)} '
        'GROUP BY time($__interval), "asset" fill(null)'
    )
    panel = (
        timeseries.Panel()
        .title("Temperature with limits and excursions")
        .description(
            "Mean, min and max per display interval; limit bands from the fleet file; "
            "excursions the rules recorded as annotations. Gaps in the lines are time "
            "without readings."
        )
        .with_target(Target("temperature", query).alias("$tag_asset $col"))
        .unit("celsius")
        .span_nulls(False)
        .thresholds_style(
            GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE_AND_AREA)
        )
        .interval(f"{min((a.interval_s for a in assets), default=60):g}s")
        .height(10)
        .span(24)
    )
    for watched in assets:
        panel = panel.override_by_regexp(f"^{watched.id} ", [thresholds_property(watched)])
    return panel


def _limits(assets: list[WatchedAsset]) -> text.Panel:
    return (
        text.Panel()
        .title("Limits")
        .mode(text_model.TextMode.MARKDOWN)
        .content(
            "The limits and reporting intervals the queries use, generated from the fleet "
            "file by `make dashboards`:\n\n" + limits_markdown(assets)
        )
        .height(8)
        .span(24)
    )


def _excursions_annotation() -> AnnotationQuery:
    query = (
        'SELECT "peak_c", "end_ns" / 1000000 AS "end_ms", "asset", "rule", "severity" '
        f'FROM "{measurements.EXCURSION}" WHERE {where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)}'
    )
    return (
        AnnotationQuery()
        .name("Excursions")
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color("red")
        .target(AnnotationTarget(query, "end_ms", "peak_c", "asset,rule,severity"))
    )
