"""Annotations: excursions the rules recorded, and what people and the alerts service did.

Excursions come from ingest (`excursion`), alert actions from the alerts service
(`alert_action`: opened, acknowledged, notified, escalated, closed, ...). They
mark every time series panel of a dashboard that lists them.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import AnnotationQuery

from coldchain import measurements
from coldchain_dashboards.influxql import (
    ASSET_FILTER,
    DATASOURCE,
    SITE_FILTER,
    TIME_FILTER,
    AnnotationTarget,
    where,
)
from coldchain_dashboards.language import Language, pick

#: Alerts of the selected assets, and those of no asset (gateways, the site).
ASSET_OR_NONE = f"""{ASSET_FILTER} OR "asset" = ''"""
_ACTIONS = measurements.ALERT_ACTION
_CLOSED = "\"action\" = 'closed'"
_NOT_CLOSED = "\"action\" != 'closed'"


def excursions(lang: Language) -> AnnotationQuery:
    """Each excursion from its start to its end; text: its peak (°C)."""
    query = (
        'SELECT "peak_c", "end_ns" / 1000000 AS "end_ms", "asset", "rule", "severity" '
        f'FROM "{measurements.EXCURSION}" WHERE {where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)}'
    )
    target = AnnotationTarget(query, "end_ms", "peak_c", "asset,rule,severity")
    return _annotation(pick(lang, de="Abweichungen", en="Excursions"), "red", target)


def alert_actions(lang: Language) -> AnnotationQuery:
    """Every step on an alert but its closing; text: the comment given with it."""
    query = (
        f'SELECT "comment", "action", "actor", "alert_id", "asset" FROM "{_ACTIONS}" '
        f"WHERE {where(SITE_FILTER, ASSET_OR_NONE, _NOT_CLOSED, TIME_FILTER)}"
    )
    target = AnnotationTarget(query, None, "comment", "action,actor,alert_id,asset")
    return _annotation(pick(lang, de="Schritte an Alarmen", en="Alert actions"), "yellow", target)


def closed_alerts(lang: Language) -> AnnotationQuery:
    """Each alert's closing; text: the corrective action, tags: product decision and who."""
    query = (
        'SELECT "corrective_action", "product_decision", "actor", "alert_id", "asset" '
        f'FROM "{_ACTIONS}" WHERE {where(SITE_FILTER, ASSET_OR_NONE, _CLOSED, TIME_FILTER)}'
    )
    target = AnnotationTarget(
        query, None, "corrective_action", "product_decision,actor,alert_id,asset"
    )
    return _annotation(
        pick(lang, de="Korrekturmaßnahmen", en="Corrective actions"), "green", target
    )


def _annotation(name: str, color: str, target: AnnotationTarget) -> AnnotationQuery:
    return (
        AnnotationQuery()
        .name(name)
        .datasource(DATASOURCE)
        .enable(True)
        .icon_color(color)
        .target(target)
    )
