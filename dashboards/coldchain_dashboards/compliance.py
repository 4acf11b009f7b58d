"""Compliance: the numbers of coldchain.compliance per asset and local day, for audits."""

from __future__ import annotations

from grafana_foundation_sdk.builders import table, text, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import text as text_model

from coldchain import measurements
from coldchain_dashboards import queries
from coldchain_dashboards.annotation_queries import alert_actions, closed_alerts, excursions
from coldchain_dashboards.assets import WatchedAsset
from coldchain_dashboards.influxql import ASSET_FILTER, SITE_FILTER, TIME_FILTER, Target, where
from coldchain_dashboards.panels import (
    asset_variable,
    limits_markdown,
    site_variable,
    thresholds_property,
    transformation,
)

UID = "coldchain-compliance"
TABLE_TITLE = "Daily compliance"
_UNITS = {
    "Time": "time:YYYY-MM-DD",
    "coverage_pct": "percent",
    "time_in_range_pct": "percent",
    "time_in_legal_range_pct": "percent",
    "excursion_s": "s",
    "above_legal_s": "s",
    "min_c": "celsius",
    "max_c": "celsius",
    "mean_c": "celsius",
    "mkt_c": "celsius",
    "alarm_min_c": "celsius",
    "alarm_max_c": "celsius",
    "legal_max_c": "celsius",
}


def build(assets: list[WatchedAsset], tz: str) -> Dashboard:
    return (
        Dashboard("coldchain: compliance")
        .uid(UID)
        .tags(["coldchain"])
        .timezone(tz)
        .time("now-7d/d", "now-1d/d")
        .with_variable(site_variable())
        .with_variable(asset_variable())
        .annotation(excursions())
        .annotation(alert_actions())
        .annotation(closed_alerts())
        .with_panel(_daily_table())
        .with_panel(_daily_shares())
        .with_panel(_daily_temperatures())
        .with_panel(_temperature(assets))
        .with_panel(_limits(assets))
    )


def _daily_table() -> table.Panel:
    panel = (
        table.Panel()
        .title(TABLE_TITLE)
        .description(
            "Per asset and local day (Time: the day), as ingest computed it with "
            "coldchain.compliance.daily_stats, the code of the PDF reports, into the "
            "compliance_daily rollup; a day shows once it has ended, and is computed again "
            "when late readings for it arrive. Coverage: share of the day covered by a "
            "reading. Time in range: share of the day covered by a reading within the alarm "
            "band (a reading at a limit is in range; time without data never is). Excursions: "
            "per side, delimited as the alarms are (alarm delay, hysteresis, door and defrost "
            "grace); one across midnight counts on the day it starts. Short deviations: beyond "
            "the band, but ended before the alarm delay or within a grace. Excursion time and "
            "degree-minutes (K beyond the limit x minutes, split at midnight) against the "
            "alarm band; above legal: time above the legal maximum. Min, max, mean and MKT "
            "(ΔH/R = 10000 K) over the day's readings. The last three columns: the limits the "
            "day was judged against."
        )
        .with_target(Target("days", queries.daily_table()).table())
        .with_transformation(
            transformation(
                "organize",
                {
                    "indexByName": {
                        name: i for i, name in enumerate(["asset", "Time", *queries.TABLE_FIELDS])
                    },
                },
            )
        )
        .decimals(2)
        .height(12)
        .span(24)
    )
    for name, unit in _UNITS.items():
        panel = panel.override_by_name(name, [model.DynamicConfigValue("unit", unit)])
    return panel


def _daily_shares() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Coverage and time in range per day")
        .description(
            "The daily coverage and time in range of the table over time: a day with a "
            "coverage gap shows a lower coverage bar."
        )
        .with_target(Target("shares", queries.daily_shares()).alias("$tag_asset $col"))
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .unit("percent")
        .min(0)
        .max(100)
        .height(9)
        .span(24)
    )


def _daily_temperatures() -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title("Daily minimum, mean, maximum and MKT")
        .description(
            "From the daily rollup, so a year shows at once; the panel below has the "
            "readings themselves."
        )
        .with_target(Target("temperatures", queries.daily_temperatures()).alias("$tag_asset $col"))
        .unit("celsius")
        .span_nulls(False)
        .height(9)
        .span(24)
    )


def _temperature(assets: list[WatchedAsset]) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title("Temperature with limits and excursions")
        .description(
            "Mean, min and max per display interval; limit bands from the fleet file; "
            "excursions the rules recorded as annotations. Gaps in the lines are time "
            "without readings."
        )
    )
    # One aggregate per statement: InfluxDB 1.x answers three statements over a year of
    # readings several times faster than one statement with all three.
    for aggregate in ("mean", "min", "max"):
        query = (
            f'SELECT {aggregate}("temp_c") AS "{aggregate}" FROM "{measurements.TEMPERATURE}" '
            f"WHERE {where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)} "
            'GROUP BY time($__interval), "asset" fill(null)'
        )
        panel = panel.with_target(Target(aggregate, query).alias("$tag_asset $col"))
    panel = (
        panel.unit("celsius")
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
            "The limits and reporting intervals of the fleet file (written here by `make "
            "dashboards`). Ingest judges each day against the limits of its own fleet file "
            "when it computes the day; the table's last columns show the limits each day "
            "was judged against.\n\n" + limits_markdown(assets)
        )
        .height(8)
        .span(24)
    )
