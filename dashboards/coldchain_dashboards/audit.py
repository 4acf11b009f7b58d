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
from coldchain_dashboards.language import Language, pick, uid
from coldchain_dashboards.panels import (
    LOOKBACK,
    asset_variable,
    headers,
    site_variable,
    transformation,
)

NAME = "audit"
#: Alerts of the selected assets, and those of no asset (gateways, the site).
_ALERTS = where(SITE_FILTER, ASSET_OR_NONE, TIME_FILTER)
_ACTIONS = f'FROM "{measurements.ALERT_ACTION}"'
_NOTIFICATIONS = ("notified", "reminded", "escalated")


def build(tz: str, lang: Language) -> Dashboard:
    return (
        Dashboard(pick(lang, de="coldchain: Prüfpfad", en="coldchain: audit"))
        .uid(uid(NAME, lang))
        .tags(["coldchain", lang])
        .timezone(tz)
        .time("now-30d", "now")
        .with_variable(site_variable(lang))
        .with_variable(asset_variable(lang))
        .annotation(excursions(lang))
        .annotation(alert_actions(lang))
        .annotation(closed_alerts(lang))
        .with_panel(_chain_state(lang))
        .with_panel(_count("raised", lang))
        .with_panel(_count("cleared", lang))
        .with_panel(_handled_alerts(lang))
        .with_panel(_notifications(lang))
        .with_panel(_per_day(tz, lang))
        .with_panel(_events(lang))
        .with_panel(_verifications(lang))
        .with_panel(_chain_entries(lang))
    )


def chain_title(lang: Language) -> str:
    return pick(lang, de="Prüfprotokoll: letzte Prüfung", en="Audit log: last verification")


def _chain_state(lang: Language) -> table.Panel:
    query = (
        'SELECT "ok", "entries", "first_bad_seq", "problem" '
        f'FROM "{measurements.AUDIT_VERIFY}" WHERE time > now() - {LOOKBACK} '
        "ORDER BY time DESC LIMIT 1"
    )
    intact = model.ValueMappingResult(
        text=pick(lang, de="intakt", en="intact"), color="green", index=0
    )
    broken = model.ValueMappingResult(
        text=pick(lang, de="GEBROCHEN", en="BROKEN"), color="red", index=1
    )
    panel = (
        table.Panel()
        .title(chain_title(lang))
        .description(
            pick(
                lang,
                en="The alerts service keeps its audit log (every acknowledgement, closing, "
                "notification) as a hash chain and verifies the chain periodically. ok: "
                "whether the last verification found every entry intact; entries: how many it "
                "checked; first_bad_seq: the first entry whose hash does not match (0 when "
                f"intact); problem: what was wrong. Empty when there was no verification in "
                f"{LOOKBACK}: check that the alerts service runs.",
                de="Der Alarmdienst führt sein Prüfprotokoll (jede Quittierung, jedes "
                "Schließen, jede Benachrichtigung) als Hash-Kette und prüft die Kette "
                "regelmäßig. Intakt: ob die letzte Prüfung jeden Eintrag unverändert fand; "
                "Einträge: wie viele sie geprüft hat; erster falscher Eintrag: der erste, "
                "dessen Hash nicht passt (0, wenn intakt); Problem: was nicht stimmte. Leer, "
                f"wenn es in {LOOKBACK} keine Prüfung gab: prüfen Sie, ob der Alarmdienst läuft.",
            )
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
        .override_by_name(
            "Time",
            [
                model.DynamicConfigValue(
                    "displayName", pick(lang, de="geprüft am", en="verified at")
                )
            ],
        )
        .no_value(pick(lang, de="keine Prüfung", en="no verification"))
        .height(5)
        .span(12)
    )
    return headers(panel, lang, ["ok", "entries", "first_bad_seq", "problem"])


def count_title(state: str, lang: Language) -> str:
    """The title of the panel counting alert events `raised` or `cleared`."""
    if state == "raised":
        return pick(lang, de="Alarme ausgelöst", en="Alert events raised")
    return pick(lang, de="Alarme aufgehoben", en="Alert events cleared")


def _count(state: str, lang: Language) -> stat.Panel:
    query = (
        f'SELECT count("key") AS "{state}" FROM "{measurements.ALERT}" '
        f"WHERE {_ALERTS} AND \"state\" = '{state}'"
    )
    return (
        stat.Panel()
        .title(count_title(state, lang))
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


def handled_title(lang: Language) -> str:
    return pick(
        lang,
        de="Alarme: Quittierung, Korrekturmaßnahme, Entscheidung über die Ware",
        en="Alerts: acknowledgement, corrective action, product decision",
    )


def _handled_alerts(lang: Language) -> table.Panel:
    steps = _handled_queries()
    # Joined, the n-th query's time column is "Time n": name it after the step.
    names = {
        "opened": pick(lang, de="geöffnet", en="opened"),
        "acknowledged": pick(lang, de="quittiert", en="acknowledged"),
        "closed": pick(lang, de="geschlossen", en="closed"),
    }
    renames = {f"Time {n}": names[step] for n, step in enumerate(steps, 1)}
    panel = (
        table.Panel()
        .title(handled_title(lang))
        .description(
            pick(
                lang,
                en="One row per alert of the time range (several if it was acknowledged more "
                "than once): when it was opened, who acknowledged it when and with which "
                "comment, who closed it when, the cause, the corrective action and the product "
                "decision (release, quarantine, discard). Empty cells: that step has not been "
                "taken (or fell outside the time range).",
                de="Eine Zeile je Alarm des Zeitraums (mehrere, wenn er mehr als einmal "
                "quittiert wurde): wann er geöffnet wurde, wer ihn wann mit welchem Kommentar "
                "quittiert hat, wer ihn wann geschlossen hat, die Ursache, die "
                "Korrekturmaßnahme und die Entscheidung über die Ware (release: freigeben, "
                "quarantine: sperren, discard: verwerfen). Leere Zellen: dieser Schritt fehlt "
                "noch (oder lag außerhalb des Zeitraums).",
            )
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
    fields = [
        "alert_id",
        "asset",
        "sensor",
        "severity",
        "opened_by",
        "acknowledged_by",
        "acknowledgement",
        "closed_by",
        "cause",
        "corrective_action",
        "product_decision",
        "closing_comment",
    ]
    return headers(panel, lang, fields)


def _notifications(lang: Language) -> table.Panel:
    steps = "|".join(_NOTIFICATIONS)
    query = (
        'SELECT "alert_id", "action", "level", "actor", "comment", "asset", "severity" '
        f'{_ACTIONS} WHERE {_ALERTS} AND "action" =~ /^({steps})$/ ORDER BY time DESC'
    )
    panel = (
        table.Panel()
        .title(
            pick(lang, de="Benachrichtigungen und Eskalationen", en="Notifications and escalations")
        )
        .description(
            pick(
                lang,
                en="Every notification the alerts service sent, newest first: notified (first "
                "message), reminded (again at the same level), escalated (to the next level "
                "of people). level: the escalation level reached.",
                de="Jede Benachrichtigung des Alarmdiensts, die neueste zuerst: notified "
                "(erste Nachricht), reminded (erneut auf derselben Stufe), escalated (an die "
                "nächste Stufe). Stufe: die erreichte Eskalationsstufe.",
            )
        )
        .with_target(Target("notifications", query).table())
        .height(8)
        .span(24)
    )
    fields = ["Time", "alert_id", "action", "level", "actor", "comment", "asset", "severity"]
    return headers(panel, lang, fields)


def _per_day(tz: str, lang: Language) -> timeseries.Panel:
    query = (
        f'SELECT count("key") FROM "{measurements.ALERT}" '
        f"WHERE {_ALERTS} AND \"state\" = 'raised' "
        f"GROUP BY time(1d), \"severity\" fill(0) tz('{tz}')"
    )
    return (
        timeseries.Panel()
        .title(
            pick(
                lang,
                de="Ausgelöste Alarme pro Tag, nach Schwere",
                en="Alerts raised per day, by severity",
            )
        )
        .description(
            pick(
                lang,
                en="Annotations: excursions, steps on alerts and corrective actions.",
                de="Annotationen: Abweichungen, Schritte an Alarmen und Korrekturmaßnahmen.",
            )
        )
        .with_target(Target("per day", query).alias("$tag_severity"))
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(60)
        .height(8)
        .span(24)
    )


def _events(lang: Language) -> table.Panel:
    query = (
        'SELECT "state", "rule", "severity", "key", "asset", "sensor", "gateway", '
        f'"value_c", "peak_c", "limit_c" FROM "{measurements.ALERT}" '
        f"WHERE {_ALERTS} ORDER BY time DESC"
    )
    panel = (
        table.Panel()
        .title(events_title(lang))
        .description(
            pick(
                lang,
                en="Every alert event in the time range, newest first: raised (again at each "
                "escalation, same key) and cleared. value_c: the reading that changed the "
                "state; peak_c: the worst value so far; limit_c: the level passed.",
                de="Jedes Alarmereignis im Zeitraum, das neueste zuerst: raised (ausgelöst, "
                "erneut bei jeder Eskalation, gleicher Schlüssel) und cleared (aufgehoben). "
                "Wert: der Messwert, der den Zustand änderte; Spitze: der schlechteste Wert "
                "bis dahin; Grenze: die überschrittene Stufe.",
            )
        )
        .with_target(Target("events", query).table())
        .height(12)
        .span(24)
    )
    fields = ["Time", "state", "rule", "severity", "key", "asset", "sensor", "gateway"]
    temperatures = ["value_c", "peak_c", "limit_c"]
    for field in temperatures:
        panel = panel.override_by_name(field, [model.DynamicConfigValue("unit", "celsius")])
    return headers(panel, lang, [*fields, *temperatures])


def events_title(lang: Language) -> str:
    return pick(lang, de="Alarmereignisse", en="Alert events")


def verifications_title(lang: Language) -> str:
    return pick(lang, de="Prüfprotokoll: Prüfungen", en="Audit log: verifications")


def entries_title(lang: Language) -> str:
    return pick(lang, de="Prüfprotokoll: Einträge", en="Audit log: entries")


def _verifications(lang: Language) -> table.Panel:
    query = (
        'SELECT "ok", "entries", "first_bad_seq", "problem" '
        f'FROM "{measurements.AUDIT_VERIFY}" WHERE {TIME_FILTER} ORDER BY time DESC'
    )
    panel = (
        table.Panel()
        .title(verifications_title(lang))
        .description(
            pick(
                lang,
                en="Every verification of the audit log's chain in the time range, newest first.",
                de="Jede Prüfung der Kette des Prüfprotokolls im Zeitraum, die neueste zuerst.",
            )
        )
        .with_target(Target("verifications", query).table())
        .height(8)
        .span(12)
    )
    return headers(panel, lang, ["Time", "ok", "entries", "first_bad_seq", "problem"])


def _chain_entries(lang: Language) -> table.Panel:
    query = (
        'SELECT "seq", "action", "actor", "sha256" '
        f'FROM "{measurements.AUDIT_CHAIN}" WHERE {TIME_FILTER} ORDER BY time DESC'
    )
    panel = (
        table.Panel()
        .title(entries_title(lang))
        .description(
            pick(
                lang,
                en="A copy of each audit-log entry's number and hash, kept in InfluxDB outside "
                "the alerts service's database: compare with the service's log to see an "
                "entry changed or removed there.",
                de="Eine Kopie von Nummer und Hash jedes Eintrags im Prüfprotokoll, in InfluxDB "
                "außerhalb der Datenbank des Alarmdiensts: der Vergleich mit dem Protokoll des "
                "Diensts zeigt, ob dort ein Eintrag geändert oder entfernt wurde.",
            )
        )
        .with_target(Target("entries", query).table())
        .height(8)
        .span(12)
    )
    return headers(panel, lang, ["Time", "seq", "action", "actor", "sha256"])
