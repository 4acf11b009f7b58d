"""Audit: what happened to every alert and who did what, and whether the audit log is intact.

Alert events come from ingest (`alert`); the steps people and the alerts service
took on each alert (`alert_action`) and the audit log's chain (`audit_chain`,
`audit_verify`) come from the alerts service.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from coldchain import measurements
from coldchain_dashboards.annotation_queries import (
    ASSET_OR_NONE,
    alert_actions,
    closed_alerts,
    excursions,
)
from coldchain_dashboards.influxql import SITE_FILTER, TIME_FILTER, Target, where
from coldchain_dashboards.panels import LOOKBACK, asset_variable, site_variable, transformation

UID = "coldchain-audit"
CHAIN_TITLE = "Audit log: last verification"
#: Alerts of the selected assets, and those of no asset (gateways, the site).
_ALERTS = where(SITE_FILTER, ASSET_OR_NONE, TIME_FILTER)
_ACTIONS = f'FROM "{measurements.ALERT_ACTION}"'
_NOTIFICATIONS = ("notified", "reminded", "escalated")


def build(tz: str) -> Dashboard:
    return (
        Dashboard("coldchain: audit")
        .uid(UID)
        .tags(["coldchain"])
        .timezone(tz)
        .time("now-30d", "now")
        .with_variable(site_variable())
        .with_variable(asset_variable())
        .annotation(excursions())
        .annotation(alert_actions())
        .annotation(closed_alerts())
        .with_panel(_chain_state())
        .with_panel(_count("raised"))
        .with_panel(_count("cleared"))
        .with_panel(_handled_alerts())
        .with_panel(_notifications())
        .with_panel(_per_day(tz))
        .with_panel(_events())
        .with_panel(_verifications())
        .with_panel(_chain_entries())
    )


def _chain_state() -> table.Panel:
    query = (
        'SELECT "ok", "entries", "first_bad_seq", "problem" '
        f'FROM "{measurements.AUDIT_VERIFY}" WHERE time > now() - {LOOKBACK} '
        "ORDER BY time DESC LIMIT 1"
    )
    intact = model.ValueMappingResult(text="intact", color="green", index=0)
    broken = model.ValueMappingResult(text="BROKEN", color="red", index=1)
    return (
        table.Panel()
        .title(CHAIN_TITLE)
        .description(
            "The alerts service keeps its audit log (every acknowledgement, closing, "
            "notification) as a hash chain and verifies the chain periodically. ok: whether "
            "the last verification found every entry intact; entries: how many it checked; "
            "first_bad_seq: the first entry whose hash does not match (0 when intact); "
            f"problem: what was wrong. Empty when there was no verification in {LOOKBACK}: "
            "check that the alerts service runs."
        )
        .with_target(Target("verified", query).table())
        .mappings([model.ValueMap({"true": intact, "false": broken})])
        .override_by_name(
            "ok",
            [
                model.DynamicConfigValue(
                    "custom.cellOptions", {"type": "color-background", "mode": "basic"}
                )
            ],
        )
        .override_by_name("Time", [model.DynamicConfigValue("displayName", "verified at")])
        .no_value("no verification")
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


def _handled_queries() -> dict[str, str]:
    """The steps of each alert, one query per step by its refId, joined by alert_id."""
    return {
        "opened": (
            'SELECT "alert_id", "asset", "sensor", "severity", "actor" AS "opened_by" '
            f"{_ACTIONS} WHERE {_ALERTS} AND \"action\" = 'opened'"
        ),
        "acknowledged": (
            'SELECT "alert_id", "actor" AS "acknowledged_by", "comment" AS "acknowledgement" '
            f"{_ACTIONS} WHERE {_ALERTS} AND \"action\" = 'acknowledged'"
        ),
        "closed": (
            'SELECT "alert_id", "actor" AS "closed_by", "cause", "corrective_action", '
            f'"product_decision", "comment" AS "closing_comment" {_ACTIONS} '
            f"WHERE {_ALERTS} AND \"action\" = 'closed'"
        ),
    }


def _handled_alerts() -> table.Panel:
    steps = _handled_queries()
    # Joined, the n-th query's time column is "Time n": name it after the step.
    renames = {f"Time {n}": step for n, step in enumerate(steps, 1)}
    panel = (
        table.Panel()
        .title("Alerts: acknowledgement, corrective action, product decision")
        .description(
            "One row per alert of the time range (several if it was acknowledged more than "
            "once): when it was opened, who acknowledged it when and with which comment, who "
            "closed it when, the cause, the corrective action and the product decision "
            "(release, quarantine, discard). Empty cells: that step has not been taken (or "
            "fell outside the time range)."
        )
        .with_transformation(
            transformation("joinByField", {"byField": "alert_id", "mode": "outer"})
        )
        .with_transformation(transformation("organize", {"renameByName": renames}))
        .height(10)
        .span(24)
    )
    for step, query in steps.items():
        panel = panel.with_target(Target(step, query).table())
    return panel


def _notifications() -> table.Panel:
    steps = "|".join(_NOTIFICATIONS)
    query = (
        'SELECT "alert_id", "action", "level", "actor", "comment", "asset", "severity" '
        f'{_ACTIONS} WHERE {_ALERTS} AND "action" =~ /^({steps})$/ ORDER BY time DESC'
    )
    return (
        table.Panel()
        .title("Notifications and escalations")
        .description(
            "Every notification the alerts service sent, newest first: notified (first "
            "message), reminded (again at the same level), escalated (to the next level "
            "of people). level: the escalation level reached."
        )
        .with_target(Target("notifications", query).table())
        .height(8)
        .span(24)
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
        .description("Annotations: excursions, steps on alerts and corrective actions.")
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
        .height(12)
        .span(24)
    )


def _verifications() -> table.Panel:
    query = (
        'SELECT "ok", "entries", "first_bad_seq", "problem" '
        f'FROM "{measurements.AUDIT_VERIFY}" WHERE {TIME_FILTER} ORDER BY time DESC'
    )
    return (
        table.Panel()
        .title("Audit log: verifications")
        .description("Every verification of the audit log's chain in the time range, newest first.")
        .with_target(Target("verifications", query).table())
        .height(8)
        .span(12)
    )


def _chain_entries() -> table.Panel:
    query = (
        'SELECT "seq", "action", "actor", "sha256" '
        f'FROM "{measurements.AUDIT_CHAIN}" WHERE {TIME_FILTER} ORDER BY time DESC'
    )
    return (
        table.Panel()
        .title("Audit log: entries")
        .description(
            "A copy of each audit-log entry's number and hash, kept in InfluxDB outside the "
            "alerts service's database: compare with the service's log to see an entry "
            "changed or removed there."
        )
        .with_target(Target("entries", query).table())
        .height(8)
        .span(12)
    )
