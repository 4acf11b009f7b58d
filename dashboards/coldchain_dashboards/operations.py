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
from coldchain_dashboards.language import Language, pick, uid
from coldchain_dashboards.panels import (
    LOOKBACK,
    asset_variable,
    headers,
    site_variable,
    thresholds_property,
    transformation,
)

NAME = "operations"
_RECENT = f"time > now() - {LOOKBACK}"


def build(assets: list[WatchedAsset], tz: str, lang: Language) -> Dashboard:
    return (
        Dashboard(pick(lang, de="coldchain: Betrieb", en="coldchain: operations"))
        .uid(uid(NAME, lang))
        .tags(["coldchain", lang])
        .timezone(tz)
        .time("now-6h", "now")
        .refresh("1m")
        .with_variable(site_variable(lang))
        .with_variable(asset_variable(lang))
        .with_panel(_current_temperature(assets, lang))
        .with_panel(_temperature(assets, lang))
        .with_panel(_open_alerts(lang))
        .with_panel(_open_alert_list(lang))
        .with_panel(_sensors(lang))
        .with_panel(_gateways(lang))
        .with_panel(_van_positions(lang))
    )


def _current_temperature(assets: list[WatchedAsset], lang: Language) -> stat.Panel:
    query = (
        f'SELECT last("temp_c") FROM "{measurements.TEMPERATURE}" '
        f'WHERE {where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)} GROUP BY "asset"'
    )
    panel = (
        stat.Panel()
        .title(pick(lang, de="Aktuelle Temperatur", en="Current temperature"))
        .description(
            pick(
                lang,
                en="Latest reading of each asset in the time range. Blue below the minimum, "
                "green in the band, yellow from the warning level, red from the alarm limit "
                "(limits from the fleet file).",
                de="Neuester Messwert jeder Anlage im Zeitraum. Blau unter dem Minimum, grün "
                "im Band, gelb ab der Warnstufe, rot ab der Alarmgrenze (Grenzen aus der "
                "Flottendatei).",
            )
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


def _temperature(assets: list[WatchedAsset], lang: Language) -> timeseries.Panel:
    query = (
        f'SELECT mean("temp_c") FROM "{measurements.TEMPERATURE}" '
        f"WHERE {where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)} "
        'GROUP BY time($__interval), "asset" fill(null)'
    )
    panel = (
        timeseries.Panel()
        .title(pick(lang, de="Temperatur", en="Temperature"))
        .description(
            pick(
                lang,
                en="Mean per display interval of each asset, with its limit bands. A gap in a "
                "line is time without readings.",
                de="Mittel je Anzeigeintervall jeder Anlage, mit ihren Grenzbändern. Eine "
                "Lücke in einer Linie ist Zeit ohne Messwerte.",
            )
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


def _open_alerts(lang: Language) -> stat.Panel:
    legends = {
        "open": pick(lang, de="offen", en="open"),
        "unacknowledged": pick(lang, de="nicht quittiert", en="unacknowledged"),
        "decision_due": pick(lang, de="Entscheidung fällig", en="decision due"),
    }
    panel = (
        stat.Panel()
        .title(pick(lang, de="Offene Alarme", en="Open alerts"))
        .description(
            pick(
                lang,
                en="What the alerts service counts as open work, by the one definition of the "
                "inbox, the API and the summary: every alert that is not closed; of those, how "
                "many nobody has acknowledged and how many wait for the decision (critical, "
                "acknowledged, cause, corrective action or product decision missing). Read "
                "from the standing each alert step records, so it does not depend on the time "
                "range.",
                de="Was der Alarmdienst als offene Arbeit zählt, nach der einen Definition von "
                "Eingang, API und Zusammenfassung: jeder Alarm, der nicht geschlossen ist; "
                "davon, wie viele niemand quittiert hat und wie viele auf die Entscheidung "
                "warten (kritisch, quittiert, Ursache, Korrekturmaßnahme oder Entscheidung "
                "über die Ware fehlt). Gelesen aus dem Stand, den jeder Schritt an einem Alarm "
                "festhält, also unabhängig vom Zeitraum.",
            )
        )
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.NONE)
        .no_value("0")
        .height(5)
        .span(8)
    )
    for ref, query in openwork.counts().items():
        panel = panel.with_target(Target(ref, query).alias(legends[ref]))
    return panel


def _open_alert_list(lang: Language) -> table.Panel:
    panel = (
        table.Panel()
        .title(
            pick(lang, de="Offene Alarme: was jeder verlangt", en="Open alerts: what each asks for")
        )
        .description(
            pick(
                lang,
                en="Every alert that is not closed, with its standing: unacknowledged "
                "(escalation runs), decision_due (cause, corrective action or product decision "
                "missing) or acknowledged (only the closing is left); Time is its last step. "
                "The alert's page is /alerts/<alert_id> in the alerts service.",
                de="Jeder Alarm, der nicht geschlossen ist, mit seinem Stand: unacknowledged "
                "(nicht quittiert, die Eskalation läuft), decision_due (Ursache, "
                "Korrekturmaßnahme oder Entscheidung über die Ware fehlt) oder acknowledged "
                "(quittiert, nur das Schließen fehlt); Zeit ist sein letzter Schritt. Die "
                "Seite des Alarms ist /alerts/<Alarm-Nr.> im Alarmdienst.",
            )
        )
        .with_target(Target("open", openwork.listing()).table())
        .height(8)
        .span(16)
    )
    fields = ["Time", "alert_id", "standing", "severity", "asset", "sensor", "gateway"]
    return headers(panel, lang, fields)


def _sensors(lang: Language) -> table.Panel:
    query = (
        f'SELECT last("temp_c") AS "temp_c" FROM "{measurements.TEMPERATURE}" '
        f'WHERE {where(SITE_FILTER, _RECENT)} GROUP BY "gateway", "sensor", "asset"'
    )
    panel = (
        table.Panel()
        .title(pick(lang, de="Fühler: zuletzt gemeldet", en="Sensors: last seen"))
        .description(
            pick(
                lang,
                en=f"Every probe's newest reading of the last {LOOKBACK}; Time is when it was "
                "taken. A probe missing here has sent nothing for that long.",
                de=f"Der neueste Messwert jedes Fühlers der letzten {LOOKBACK}; Zeit ist, wann "
                "er gemessen wurde. Ein Fühler, der hier fehlt, hat so lange nichts gesendet.",
            )
        )
        .with_target(Target("sensors", query).table())
        .override_by_name("Time", [model.DynamicConfigValue("unit", "dateTimeFromNow")])
        .height(8)
        .span(12)
    )
    return headers(panel, lang, ["Time", "gateway", "sensor", "asset", "temp_c"])


def _gateways(lang: Language) -> table.Panel:
    battery = (
        f'SELECT last("battery_v") AS "battery_v" FROM "{measurements.GATEWAY}" '
        f'WHERE {where(SITE_FILTER, _RECENT)} GROUP BY "gateway"'
    )
    newest = (
        f'SELECT last("seq") AS "newest_reading_seq" FROM "{measurements.TEMPERATURE}" '
        f'WHERE {where(SITE_FILTER, _RECENT)} GROUP BY "gateway"'
    )
    last_message = pick(lang, de="letzte Nachricht", en="last message")
    newest_reading = pick(lang, de="neuester Messwert", en="newest reading")
    panel = (
        table.Panel()
        .title(
            pick(
                lang,
                de="Gateways: letzte Nachricht, Batterie, Rückstand",
                en="Gateways: last message, battery, backlog",
            )
        )
        .description(
            pick(
                lang,
                en="Last message: when the gateway last sent (its battery reading is stamped "
                "with the send time). Newest reading: the newest reading stored from it. A "
                "gateway back from a dead zone sends its backlog oldest first, so while it "
                "catches up its last message is far newer than its newest reading: the "
                "difference is how far back its backlog reaches. The outbox size itself is not "
                "stored in InfluxDB.",
                de="Letzte Nachricht: wann das Gateway zuletzt gesendet hat (sein "
                "Batteriewert trägt die Sendezeit). Neuester Messwert: der neueste von ihm "
                "gespeicherte Messwert. Ein Gateway, das aus einem Funkloch zurückkommt, sendet "
                "seinen Rückstand, die ältesten zuerst; solange es aufholt, ist seine letzte "
                "Nachricht viel neuer als sein neuester Messwert: der Unterschied zeigt, wie "
                "weit sein Rückstand zurückreicht. Die Größe des Postausgangs selbst steht "
                "nicht in InfluxDB.",
            )
        )
        .with_target(Target("battery", battery).table())
        .with_target(Target("newest", newest).table())
        .with_transformation(transformation("joinByField", {"byField": "gateway", "mode": "outer"}))
        .with_transformation(
            transformation(
                "organize",
                {"renameByName": {"Time 1": last_message, "Time 2": newest_reading}},
            )
        )
        .override_by_name("battery_v", [model.DynamicConfigValue("unit", "volt")])
        .height(8)
        .span(12)
    )
    return headers(panel, lang, ["gateway", "battery_v", "newest_reading_seq"])


def _van_positions(lang: Language) -> geomap.Panel:
    query = (
        f'SELECT last("lat") AS "lat", "lon" FROM "{measurements.POSITION}" '
        f'WHERE {where(SITE_FILTER, TIME_FILTER)} GROUP BY "gateway"'
    )
    markers = (
        MapLayerOptions()
        .type("markers")
        .name(pick(lang, de="Transporter", en="Vans"))
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
        .title(pick(lang, de="Positionen der Transporter", en="Van positions"))
        .description(
            pick(
                lang,
                en="Last position of every gateway that reports one (vans) in the time range.",
                de="Letzte Position jedes Gateways, das eine meldet (Transporter), im Zeitraum.",
            )
        )
        .with_target(Target("positions", query).table())
        .layers([markers])
        .height(10)
        .span(24)
    )
