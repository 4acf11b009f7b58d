"""Years: temperature over long ranges, from the 15-minute series, for look-backs and audits.

A five-year range of one-minute readings is 2.6 million readings per probe; the
panel reads `temperature_15m` in the retention policy `downsampled` instead (96
points a probe and day, ingest's rollup job writes them: docs/influxdb-schema.md)
and combines its buckets per display interval: the lowest minimum, the highest
maximum, and the mean weighted by the readings of each bucket.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.builders.dashboard import Dashboard

from coldchain import measurements, retention
from coldchain_dashboards.assets import WatchedAsset
from coldchain_dashboards.influxql import ASSET_FILTER, SITE_FILTER, TIME_FILTER, Target, where
from coldchain_dashboards.language import Language, pick, uid
from coldchain_dashboards.panels import asset_variable, site_variable, thresholds_property

NAME = "years"
TIME_FROM, TIME_TO = "now-5y", "now"
#: The downsampled series as a query names it: policy, then measurement.
SERIES = f'"{retention.DOWNSAMPLED_POLICY}"."{measurements.TEMPERATURE_15M}"'


def build(assets: list[WatchedAsset], tz: str, lang: Language) -> Dashboard:
    return (
        Dashboard(pick(lang, de="coldchain: Jahre", en="coldchain: years"))
        .uid(uid(NAME, lang))
        .tags(["coldchain", lang])
        .timezone(tz)
        .time(TIME_FROM, TIME_TO)
        .with_variable(site_variable(lang))
        .with_variable(asset_variable(lang))
        .with_panel(long_range_temperature(assets, lang))
    )


def long_range_query(lang: Language) -> str:
    """Minimum, mean and maximum per asset and display interval from the 15-minute series."""
    low, mean, high = _columns(lang)
    return (
        f'SELECT min("min_c") AS "{low}", sum("sum_c") / sum("samples") AS "{mean}", '
        f'max("max_c") AS "{high}" FROM {SERIES} '
        f"WHERE {where(SITE_FILTER, ASSET_FILTER, TIME_FILTER)} "
        'GROUP BY time($__interval), "asset" fill(none)'
    )


def long_range_temperature(assets: list[WatchedAsset], lang: Language) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(pick(lang, de="Temperatur über Jahre", en="Temperature over years"))
        .description(
            pick(
                lang,
                en="Per asset and display interval (at least 15 minutes): the lowest and the "
                "highest reading and the mean of all readings, from the 15-minute series "
                "ingest computes from the readings. For looking back; compliance figures "
                "come from the readings themselves (Compliance dashboard, reports).",
                de="Je Anlage und Anzeigeintervall (mindestens 15 Minuten): der niedrigste und "
                "der höchste Messwert und das Mittel aller Messwerte, aus der "
                "15-Minuten-Reihe, die Ingest aus den Messwerten berechnet. Für den Rückblick; "
                "Kennzahlen der Einhaltung kommen aus den Messwerten selbst "
                "(Einhaltungs-Dashboard, Berichte).",
            )
        )
        .with_target(Target("years", long_range_query(lang)).alias("$tag_asset $col"))
        .unit("celsius")
        .decimals(1)
        .span_nulls(False)
        .interval(f"{retention.BUCKET_S}s")
        .height(12)
        .span(24)
    )
    low, mean, high = _columns(lang)
    for watched in assets:
        for column in (low, mean, high):
            name = f"{watched.id} {column}"
            panel = panel.override_by_name(name, [thresholds_property(watched)])
    return panel


def _columns(lang: Language) -> tuple[str, str, str]:
    return (
        pick(lang, de="Minimum", en="min"),
        pick(lang, de="Mittel", en="mean"),
        pick(lang, de="Maximum", en="max"),
    )
