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
from coldchain_dashboards.language import Language, pick, uid
from coldchain_dashboards.panels import (
    asset_variable,
    limits_markdown,
    site_variable,
    thresholds_property,
    transformation,
)

NAME = "compliance"
#: The time range: the last seven days and today, which is still preliminary.
TIME_FROM, TIME_TO = "now-7d/d", "now"
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
#: The table's column headers: field -> (German, English).
_HEADERS = {
    "asset": ("Anlage", "asset"),
    "Time": ("Tag", "day"),
    "preliminary": ("Stand", "status"),
    "coverage_pct": ("Abdeckung", "coverage"),
    "time_in_range_pct": ("im Alarmband", "in alarm band"),
    "time_in_legal_range_pct": ("im gesetzlichen Bereich", "in legal range"),
    "excursions_above": ("Abweichungen oben", "excursions above"),
    "excursions_below": ("Abweichungen unten", "excursions below"),
    "short_deviations": ("kurze Abweichungen", "short deviations"),
    "excursion_s": ("Abweichungsdauer", "excursion time"),
    "degree_minutes": ("Gradminuten", "degree-minutes"),
    "above_legal_s": ("über gesetzl. Maximum", "above legal maximum"),
    "samples": ("Messwerte", "readings"),
    "min_c": ("Minimum", "min"),
    "max_c": ("Maximum", "max"),
    "mean_c": ("Mittel", "mean"),
    "mkt_c": ("MKT", "MKT"),
    "alarm_min_c": ("Alarm unten", "alarm min"),
    "alarm_max_c": ("Alarm oben", "alarm max"),
    "legal_max_c": ("gesetzl. Maximum", "legal max"),
    "calibration": ("Kalibrierung", "calibration"),
    "unverified_readings": ("nicht verifizierte Messwerte", "unverified readings"),
}
#: What the calibration column shows for each state (coldchain.calibration.Marking.label).
_CALIBRATION = {
    "valid": (("verifiziert", "verified"), None),
    "unverified": (("nicht verifiziert", "unverified"), "red"),
    "partly_unverified": (("teils nicht verifiziert", "partly unverified"), "red"),
    "unknown": (("unbekannt", "unknown"), None),
}


def table_title(lang: Language) -> str:
    """The daily table's title: it says that today is preliminary."""
    return pick(
        lang, de="Einhaltung pro Tag (heute vorläufig)", en="Daily compliance (today preliminary)"
    )


def status_texts(lang: Language) -> tuple[str, str]:
    """What the status column shows for a day under way and for an ended day."""
    return pick(lang, de="vorläufig", en="preliminary"), pick(lang, de="endgültig", en="final")


def build(assets: list[WatchedAsset], tz: str, lang: Language) -> Dashboard:
    return (
        Dashboard(pick(lang, de="coldchain: Einhaltung", en="coldchain: compliance"))
        .uid(uid(NAME, lang))
        .tags(["coldchain", lang])
        .timezone(tz)
        .time(TIME_FROM, TIME_TO)
        .with_variable(site_variable(lang))
        .with_variable(asset_variable(lang))
        .annotation(excursions(lang))
        .annotation(alert_actions(lang))
        .annotation(closed_alerts(lang))
        .with_panel(_daily_table(lang))
        .with_panel(_daily_shares(lang))
        .with_panel(_daily_temperatures(lang))
        .with_panel(_temperature(assets, lang))
        .with_panel(_limits(assets, lang))
    )


def _daily_table(lang: Language) -> table.Panel:
    description = pick(
        lang,
        en=(
            "Per asset and local day (the day's local midnight), as ingest computed it with "
            "coldchain.compliance.daily_stats, the code of the PDF reports, into the "
            "compliance_daily rollup. Status: today is preliminary, computed so far (its "
            "shares are of the part of the day that has passed) and again every rollup "
            "interval; after midnight the whole day replaces it as final, and is computed "
            "again when late readings for it arrive. Coverage: share of the day covered by a "
            "reading. In alarm band: share of the day covered by a reading within the alarm "
            "band (a reading at a limit is in range; time without data never is). "
            "Excursions: per side, delimited as the alarms are (alarm delay, hysteresis, "
            "door and defrost grace); one across midnight counts on the day it starts. Short "
            "deviations: beyond the band, but ended before the alarm delay or within a "
            "grace. Excursion time and degree-minutes (K beyond the limit x minutes, split "
            "at midnight) against the alarm band; above legal maximum: time above it. Min, "
            "max, mean and MKT (ΔH/R = 10000 K) over the day's readings. Alarm min, "
            "alarm max, legal max: the limits the day was judged against. Calibration: whether the "
            "probe was verified that day (its check in force not overdue and within ±1 K; "
            "unknown without a check in the register), and how many of the day's readings it "
            "took while unverified."
        ),
        de=(
            "Pro Anlage und Ortstag (Mitternacht Ortszeit), wie Ingest ihn mit "
            "coldchain.compliance.daily_stats, dem Code der PDF-Berichte, in den "
            "Tagesabschluss compliance_daily gerechnet hat. Stand: heute ist vorläufig, "
            "gerechnet bis jetzt (die Anteile beziehen sich auf den vergangenen Teil des "
            "Tages) und in jedem Rollup-Intervall neu; nach Mitternacht ersetzt ihn der "
            "ganze Tag als endgültig, der neu gerechnet wird, wenn verspätete Messwerte für "
            "ihn eintreffen. Abdeckung: Anteil des Tages, den ein Messwert abdeckt. Im "
            "Alarmband: Anteil des Tages mit einem Messwert innerhalb des Alarmbands (ein "
            "Messwert auf der Grenze liegt im Band; Zeit ohne Daten nie). Abweichungen: je "
            "Seite, abgegrenzt wie die Alarme (Alarmverzögerung, Hysterese, Karenz nach "
            "Türöffnung und Abtauen); eine über Mitternacht zählt am Tag ihres Beginns. Kurze "
            "Abweichungen: außerhalb des Bands, aber vor der Alarmverzögerung oder in einer "
            "Karenz beendet. Abweichungsdauer und Gradminuten (K jenseits der Grenze mal "
            "Minuten, an Mitternacht geteilt) gegen das Alarmband; über gesetzl. Maximum: "
            "Zeit darüber. Minimum, Maximum, Mittel und MKT (ΔH/R = 10000 K) über die "
            "Messwerte des Tages. Alarm unten, Alarm oben, gesetzl. Maximum: die Grenzen, "
            "gegen die der Tag geprüft wurde. Kalibrierung: ob der Fühler an dem Tag "
            "verifiziert war (seine geltende Prüfung nicht überfällig und höchstens ±1 K "
            "Abweichung; unbekannt ohne Prüfung im Register), und wie viele Messwerte des "
            "Tages er nicht verifiziert aufnahm."
        ),
    )
    preliminary, final = status_texts(lang)
    columns = ["asset", "Time", *queries.TABLE_FIELDS]
    panel = (
        table.Panel()
        .title(table_title(lang))
        .description(description)
        .with_target(Target("days", queries.daily_table()).table())
        .with_transformation(
            transformation("organize", {"indexByName": {n: i for i, n in enumerate(columns)}})
        )
        .decimals(2)
        .height(12)
        .span(24)
    )
    for name, unit in _UNITS.items():
        panel = panel.override_by_name(name, [model.DynamicConfigValue("unit", unit)])
    for name, (de, en) in _HEADERS.items():
        header = model.DynamicConfigValue("displayName", pick(lang, de=de, en=en))
        panel = panel.override_by_name(name, [header])
    # Records stored before ingest wrote `preliminary` are of ended days: null is final.
    return panel.mappings(
        [
            model.ValueMap(
                {
                    "true": model.ValueMappingResult(text=preliminary, color="orange", index=0),
                    "false": model.ValueMappingResult(text=final, index=1),
                }
                | {
                    state: model.ValueMappingResult(
                        text=pick(lang, de=de, en=en), color=color, index=3 + n
                    )
                    for n, (state, ((de, en), color)) in enumerate(_CALIBRATION.items())
                }
            ),
            model.SpecialValueMap(
                model.DashboardSpecialValueMapOptions(
                    match=model.SpecialValueMatch.NULL,
                    result=model.ValueMappingResult(text=final, index=2),
                )
            ),
        ]
    )


def _daily_shares(lang: Language) -> timeseries.Panel:
    query = queries.daily_shares(
        pick(lang, de="Abdeckung", en="coverage"), pick(lang, de="im Band", en="in range")
    )
    return (
        timeseries.Panel()
        .title(
            pick(
                lang,
                de="Abdeckung und Zeit im Band pro Tag",
                en="Coverage and time in range per day",
            )
        )
        .description(
            pick(
                lang,
                en="The daily coverage and time in range of the table over time: a day with a "
                "coverage gap shows a lower coverage bar; today's bar is preliminary.",
                de="Abdeckung und Zeit im Band der Tabelle über die Zeit: ein Tag mit einer "
                "Lücke zeigt einen niedrigeren Balken; der Balken von heute ist vorläufig.",
            )
        )
        .with_target(Target("shares", query).alias("$tag_asset $col"))
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .unit("percent")
        .min(0)
        .max(100)
        .height(9)
        .span(24)
    )


def _daily_temperatures(lang: Language) -> timeseries.Panel:
    query = queries.daily_temperatures(
        pick(lang, de="Minimum", en="min"),
        pick(lang, de="Mittel", en="mean"),
        pick(lang, de="Maximum", en="max"),
    )
    return (
        timeseries.Panel()
        .title(
            pick(
                lang,
                de="Minimum, Mittel, Maximum und MKT pro Tag",
                en="Daily minimum, mean, maximum and MKT",
            )
        )
        .description(
            pick(
                lang,
                en="From the daily rollup, so a year shows at once; the panel below has the "
                "readings themselves.",
                de="Aus dem Tagesabschluss, so zeigt sich ein Jahr auf einmal; das Panel "
                "darunter zeigt die Messwerte selbst.",
            )
        )
        .with_target(Target("temperatures", query).alias("$tag_asset $col"))
        .unit("celsius")
        .span_nulls(False)
        .height(9)
        .span(24)
    )


def _temperature(assets: list[WatchedAsset], lang: Language) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(
            pick(
                lang,
                de="Temperatur mit Grenzen und Abweichungen",
                en="Temperature with limits and excursions",
            )
        )
        .description(
            pick(
                lang,
                en="Mean, min and max per display interval; limit bands from the fleet file; "
                "excursions the rules recorded as annotations. Gaps in the lines are time "
                "without readings.",
                de="Mittel, Minimum und Maximum je Anzeigeintervall; Grenzbänder aus der "
                "Flottendatei; von den Regeln erfasste Abweichungen als Annotationen. Lücken "
                "in den Linien sind Zeit ohne Messwerte.",
            )
        )
    )
    # One aggregate per statement: InfluxDB 1.x answers three statements over a year of
    # readings several times faster than one statement with all three.
    legends = {
        "mean": pick(lang, de="Mittel", en="mean"),
        "min": pick(lang, de="Minimum", en="min"),
        "max": pick(lang, de="Maximum", en="max"),
    }
    for aggregate, legend in legends.items():
        query = (
            f'SELECT {aggregate}("temp_c") AS "{legend}" FROM "{measurements.TEMPERATURE}" '
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


def _limits(assets: list[WatchedAsset], lang: Language) -> text.Panel:
    intro = pick(
        lang,
        en="The limits and reporting intervals of the fleet file (written here by `make "
        "dashboards`). Ingest judges each day against the limits of its own fleet file "
        "when it computes the day; the table's last columns show the limits each day "
        "was judged against.",
        de="Die Grenzen und Messintervalle der Flottendatei (hier eingetragen von `make "
        "dashboards`). Ingest prüft jeden Tag gegen die Grenzen seiner eigenen "
        "Flottendatei, wenn es den Tag rechnet; die letzten Spalten der Tabelle zeigen die "
        "Grenzen, gegen die jeder Tag geprüft wurde.",
    )
    return (
        text.Panel()
        .title(pick(lang, de="Grenzen", en="Limits"))
        .mode(text_model.TextMode.MARKDOWN)
        .content(f"{intro}\n\n{limits_markdown(assets, lang)}")
        .height(8)
        .span(24)
    )
