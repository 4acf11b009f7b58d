"""Operations: what is happening now at a site, for the people on shift."""

from __future__ import annotations

from grafana_foundation_sdk.builders import geomap, stat, table, timeseries
from grafana_foundation_sdk.builders.common import (
    FrameGeometrySource,
    GraphThresholdsStyleConfig,
    MapLayerOptions,
    ReduceDataOptions,
)
from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from coldchain import measurements
from coldchain_dashboards import openwork
from coldchain_dashboards.assets import WatchedAsset
from coldchain_dashboards.influxql import (
    ASSET_FILTER,
    SITE_FILTER,
    TIME_FILTER,
    Target,
    where,
)
from coldchain_dashboards.panels import (
    LOOKBACK,
    asset_variable,
    site_variable,
    thresholds_property,
    transformation,
)

UID = "coldchain-operations"
_RECENT = f"time > now() - {LOOKBACK}"


def build(assets: list[WatchedAsset], tz: str) -> Dashboard:
    return (
        Dashboard("coldchain: operations")
        .uid(UID)
        .tags(["coldchain"])
        .timezone(tz)
        .time("now-6h", "now")
        .refresh("1m")
        .with_variable(site_variable())
        .with_variable(asset_variable())
        .with_panel(_current_temperature(assets))
        .with_panel(_temperature(assets))
        .with_panel(_open_alerts())
        .with_panel(_open_alert_list())
        .with_panel(_sensors())
        .with_panel(_gateways())
        .with_panel(_van_positions())
    )


def _current_temperature(assets: list[WatchedAsset]) -> stat.Panel:
    query = (
        f'SELECT last("temp_c") FROM "{measurements.TEMPERATURE}" '
        f'WHERE {where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)} GROUP BY "asset"'
    )
    panel = (
        stat.Panel()
        .title("Current temperature")
        .description(
            "Latest reading of each asset in the time range. Blue below the minimum, green "
            "in the band, yellow from the warning level, red from the alarm limit "
            "(limits from the fleet file)."
        )
        .with_target(Target("current", query).alias("$tag_asset"))
        .unit("celsius")
        .decimals(1)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .height(5)
        .span(24)
    )
    for watched in assets:
        panel = panel.override_by_name(watched.id, [thresholds_property(watched)])
    return panel


def _temperature(assets: list[WatchedAsset]) -> timeseries.Panel:
    query = (
        f'SELECT mean("temp_c") FROM "{measurements.TEMPERATURE}" '
        f"WHERE {where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)} "
        'GROUP BY time($__interval), "asset" fill(null)'
    )
    panel = (
        timeseries.Panel()
        .title("Temperature")
        .description(
            "Mean per display interval of each asset, with its limit bands. A gap in a line "
            "is time without readings."
        )
        .with_target(Target("temperature", query).alias("$tag_asset"))
        .unit("celsius")
        .span_nulls(False)
        .thresholds_style(
            GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE_AND_AREA)
        )
        .interval(f"{min((a.interval_s for a in assets), default=60):g}s")
        .height(9)
        .span(24)
    )
    for watched in assets:
        panel = panel.override_by_name(watched.id, [thresholds_property(watched)])
    return panel


def _open_alerts() -> stat.Panel:
    panel = (
        stat.Panel()
        .title("Open alerts")
        .description(
            "What the alerts service counts as open work, by the one definition of the inbox, "
            "the API and the summary: every alert that is not closed; of those, how many "
            "nobody has acknowledged and how many wait for the decision (critical, "
            "acknowledged, cause, corrective action or product decision missing). Read from "
            "the standing each alert step records, so it does not depend on the time range."
        )
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.NONE)
        .no_value("0")
        .height(5)
        .span(8)
    )
    for ref, query in openwork.counts().items():
        panel = panel.with_target(Target(ref, query).alias(ref.replace("_", " ")))
    return panel


def _open_alert_list() -> table.Panel:
    return (
        table.Panel()
        .title("Open alerts: what each asks for")
        .description(
            "Every alert that is not closed, with its standing: unacknowledged (escalation "
            "runs), decision_due (cause, corrective action or product decision missing) or "
            "acknowledged (only the closing is left); Time is its last step. The alert's "
            "page is /alerts/<alert_id> in the alerts service."
        )
        .with_target(Target("open", openwork.listing()).table())
        .height(8)
        .span(16)
    )


def _sensors() -> table.Panel:
    query = (
        f'SELECT last("temp_c") AS "temp_c" FROM "{measurements.TEMPERATURE}" '
        f'WHERE {where(SITE_FILTER, _RECENT)} GROUP BY "gateway", "sensor", "asset"'
    )
    return (
        table.Panel()
        .title("Sensors: last seen")
        .description(
            f"Every probe's newest reading of the last {LOOKBACK}; Time is when it was taken. "
            "A probe missing here has sent nothing for that long."
        )
        .with_target(Target("sensors", query).table())
        .override_by_name("Time", [model.DynamicConfigValue("unit", "dateTimeFromNow")])
        .height(8)
        .span(12)
    )


def _gateways() -> table.Panel:
    battery = (
        f'SELECT last("battery_v") AS "battery_v" FROM "{measurements.GATEWAY}" '
        f'WHERE {where(SITE_FILTER, _RECENT)} GROUP BY "gateway"'
    )
    newest = (
        f'SELECT last("seq") AS "newest_reading_seq" FROM "{measurements.TEMPERATURE}" '
        f'WHERE {where(SITE_FILTER, _RECENT)} GROUP BY "gateway"'
    )
    return (
        table.Panel()
        .title("Gateways: last message, battery, backlog")
        .description(
            "Last message: when the gateway last sent (its battery reading is stamped with "
            "the send time). Newest reading: the newest reading stored from it. A gateway "
            "back from a dead zone sends its backlog oldest first, so while it catches up "
            "its last message is far newer than its newest reading: the difference is how "
            "far back its backlog reaches. The outbox size itself is not stored in InfluxDB."
        )
        .with_target(Target("battery", battery).table())
        .with_target(Target("newest", newest).table())
        .with_transformation(transformation("joinByField", {"byField": "gateway", "mode": "outer"}))
        .with_transformation(
            transformation(
                "organize",
                {"renameByName": {"Time 1": "last message", "Time 2": "newest reading"}},
            )
        )
        .override_by_name("battery_v", [model.DynamicConfigValue("unit", "volt")])
        .height(8)
        .span(12)
    )


def _van_positions() -> geomap.Panel:
    query = (
        f'SELECT last("lat") AS "lat", "lon" FROM "{measurements.POSITION}" '
        f'WHERE {where(SITE_FILTER, TIME_FILTER)} GROUP BY "gateway"'
    )
    markers = (
        MapLayerOptions()
        .type("markers")
        .name("Vans")
        .location(
            FrameGeometrySource()
            .mode(common.FrameGeometrySourceMode.COORDS)
            .latitude("lat")
            .longitude("lon")
        )
        .tooltip(True)
    )
    return (
        geomap.Panel()
        .title("Van positions")
        .description("Last position of every gateway that reports one (vans) in the time range.")
        .with_target(Target("positions", query).table())
        .layers([markers])
        .height(10)
        .span(24)
    )
