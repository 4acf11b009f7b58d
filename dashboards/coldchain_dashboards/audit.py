"""Audit: every alert event, for an auditor reading back what happened and when."""

from __future__ import annotations

from grafana_foundation_sdk.builders import stat, table, text, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import text as text_model

from coldchain import measurements
from coldchain_dashboards.influxql import ASSET_FILTER, SITE_FILTER, TIME_FILTER, Target, where
from coldchain_dashboards.panels import asset_variable, site_variable

UID = "coldchain-audit"
#: Alerts of the selected assets, and those of no asset (gateways, the site).
_ALERTS = where(SITE_FILTER, f"""{ASSET_FILTER} OR "asset" = ''""", TIME_FILTER)
PENDING = (
    "**Acknowledgement, corrective action and product decision, and the state of the "
    "audit-log chain, come with the alerts service issue.** The alerts service does not "
    "record them yet. Until it does, this dashboard shows what the `alert` measurement "
    "holds: every `raised` and `cleared` event with its rule, severity and key (one key "
    "per alarm, kept through its escalation), and the readings that caused it."
)


def build(tz: str) -> Dashboard:
    return (
        Dashboard("coldchain: audit")
        .uid(UID)
        .tags(["coldchain"])
        .timezone(tz)
        .time("now-30d", "now")
        .with_variable(site_variable())
        .with_variable(asset_variable())
        .with_panel(_pending())
        .with_panel(_count("raised"))
        .with_panel(_count("cleared"))
        .with_panel(_per_day(tz))
        .with_panel(_events())
    )


def _pending() -> text.Panel:
    return (
        text.Panel()
        .title("Acknowledgement and audit chain")
        .mode(text_model.TextMode.MARKDOWN)
        .content(PENDING)
        .height(5)
        .span(12)
    )


def _count(state: str) -> stat.Panel:
    query = (
        f'SELECT count("key") AS "{state}" FROM "{measurements.ALERT}" '
        f"WHERE {_ALERTS} AND \"state\" = '{state}'"
    )
    return (
        stat.Panel()
        .title(f"Alert events {state}")
        .with_target(Target(state, query))
        .reduce_options(ReduceDataOptions().calcs(["sum"]).values(False))
        .graph_mode(common.BigValueGraphMode.NONE)
        .no_value("0")
        .height(5)
        .span(6)
    )


def _per_day(tz: str) -> timeseries.Panel:
    query = (
        f'SELECT count("key") FROM "{measurements.ALERT}" '
        f"WHERE {_ALERTS} AND \"state\" = 'raised' "
        f"GROUP BY time(1d), \"severity\" fill(0) tz('{tz}')"
    )
    return (
        timeseries.Panel()
        .title("Alerts raised per day, by severity")
        .with_target(Target("per day", query).alias("$tag_severity"))
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .height(8)
        .span(24)
    )


def _events() -> table.Panel:
    query = (
        'SELECT "state", "rule", "severity", "key", "asset", "sensor", "gateway", '
        f'"value_c", "peak_c", "limit_c" FROM "{measurements.ALERT}" '
        f"WHERE {_ALERTS} ORDER BY time DESC"
    )
    return (
        table.Panel()
        .title("Alert events")
        .description(
            "Every alert event in the time range, newest first: raised (again at each "
            "escalation, same key) and cleared. value_c: the reading that changed the "
            "state; peak_c: the worst value so far; limit_c: the level passed."
        )
        .with_target(Target("events", query).table())
        .height(14)
        .span(24)
    )
