"""Print a one-line summary of the demo every 5 s: readings stored, invalid messages, open alerts.

Open alerts are the alerts service's open work, by the one definition the inbox, the
API and the dashboards use (coldchain.alerting.Standing): every alert that is not
closed, with how many nobody has acknowledged and how many wait for the decision.
The line is German when the locale (LC_ALL, LC_MESSAGES or LANG) is, else English.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from coldchain.alerting import SEVERITY_RANK, STANDING_RANK, Standing, Status
from coldchain.contract import Severity
from coldchain.fleet import Fleet
from coldchain.languages import Language
from coldchain.rulenames import rule_name
from coldchain_alerts.notify.message import celsius, duration
from coldchain_devstack.stack import DEMO_FLEET

INFLUX = f"http://127.0.0.1:{os.environ.get('INFLUX_PORT', '8086')}"
ALERTS = f"http://127.0.0.1:{os.environ.get('ALERTS_PORT', '8000')}"
METRICS = f"http://127.0.0.1:{os.environ.get('METRICS_PORT', '9108')}/metrics"
INVALID = "coldchain_ingest_messages_invalid_total"
#: An auditor's API token, made by `demo_alerts`.
TOKEN = Path("var/alerts/demo-token")
#: Open alerts described in the line; the rest are counted.
DESCRIBED = 3

WORDS: dict[str, tuple[str, str]] = {
    "readings": ("Messwerte gespeichert", "readings stored"),
    "invalid": ("ungültige Nachrichten", "invalid messages"),
    "alerts": ("Alarme", "alerts"),
    "starting": ("(startet)", "(starting)"),
    "none_open": ("keine offenen Alarme", "no open alerts"),
    "one_open": ("1 offener Alarm", "1 open alert"),
    "many_open": ("{n} offene Alarme", "{n} open alerts"),
    "more_1": ("und 1 weiterer", "and 1 more"),
    "more_n": ("und {n} weitere", "and {n} more"),
    "for": ("seit", "for"),
    "peak": ("Spitzenwert", "peak"),
    "lowest": ("Tiefstwert", "lowest"),
    Standing.UNACKNOWLEDGED: ("unbestätigt", "unacknowledged"),
    Standing.DECISION_DUE: ("Entscheidung fällig", "decision due"),
    Standing.ACKNOWLEDGED: ("bestätigt", "acknowledged"),
}


def language() -> Language:
    """German when the locale is, else English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name)
        if value:
            return "de" if value.startswith("de") else "en"
    return "en"


def word(key: str, language: Language, **values: object) -> str:
    german, english = WORDS[key]
    return (german if language == "de" else english).format(**values)


def readings_stored(client: httpx.Client) -> str:
    response = client.post(
        f"{INFLUX}/query",
        data={"db": "coldchain", "q": "SELECT count(temp_c) FROM temperature"},
    )
    series = response.json()["results"][0].get("series")
    return str(series[0]["values"][0][1]) if series else "0"


def invalid_messages(client: httpx.Client) -> str:
    for line in client.get(METRICS).text.splitlines():
        if line.startswith(INVALID + " "):
            return str(int(float(line.split()[1])))
    return "?"


def open_work(client: httpx.Client, alerts_url: str, token: str) -> list[dict[str, Any]]:
    """Every alert that is not closed: those nobody acknowledged, then the acknowledged."""
    found: list[dict[str, Any]] = []
    for status in (Status.OPEN, Status.ACKNOWLEDGED):
        response = client.get(
            f"{alerts_url}/api/v1/alerts",
            params={"status": status.value, "limit": 10_000},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        found += response.json()
    return found


def open_alerts(
    alerts: list[dict[str, Any]], language: Language, names: dict[str, dict[str, str]]
) -> str:
    """`2 open alerts (unacknowledged: 1, decision due: 1): Van 2, ...`."""
    if not alerts:
        return word("none_open", language)
    counted = Counter(Standing(alert["standing"]) for alert in alerts)
    how_many = (
        word("one_open", language)
        if len(alerts) == 1
        else word("many_open", language, n=len(alerts))
    )
    counts = ", ".join(
        f"{word(standing, language)}: {counted[standing]}"
        for standing in (Standing.UNACKNOWLEDGED, Standing.DECISION_DUE)
    )
    first = sorted(alerts, key=_rank)[:DESCRIBED]
    described = "; ".join(describe(alert, language, names) for alert in first)
    rest = len(alerts) - len(first)
    more = f"; {word('more_1' if rest == 1 else 'more_n', language, n=rest)}" if rest else ""
    return f"{how_many} ({counts}): {described}{more}"


def _rank(alert: dict[str, Any]) -> tuple[int, int, float]:
    """As the inbox orders: critical first, then what is least done, then the newest."""
    return (
        SEVERITY_RANK[Severity(alert["severity"])],
        STANDING_RANK[Standing(alert["standing"])],
        -datetime.fromisoformat(alert["opened_at"]).timestamp(),
    )


def describe(alert: dict[str, Any], language: Language, names: dict[str, dict[str, str]]) -> str:
    """`Transporter 2, Kühlfach – zu warm seit 12 min, 26,0 °C, Spitzenwert 26,1 °C,
    unbestätigt`."""
    subject = alert["asset"] or alert["gateway"] or alert["sensor"] or alert["site"]
    who = names.get(subject, {}).get(language, subject)
    line = f"{who} – {rule_name(alert['rule'], language)}"
    if alert["active"] and alert["duration_s"] is not None:
        line += f" {word('for', language)} {duration(alert['duration_s'], language)}"
    if alert["value_c"] is not None:
        line += f", {celsius(alert['value_c'], language)}"
    if alert["peak_c"] is not None:
        extreme = "lowest" if str(alert["rule"]).startswith("under") else "peak"
        line += f", {word(extreme, language)} {celsius(alert['peak_c'], language)}"
    return f"{line}, {word(Standing(alert['standing']), language)}"


def asset_names(path: Path) -> dict[str, dict[str, str]]:
    fleet = Fleet.from_yaml(path.read_text())
    return {
        asset.id: {"de": asset.name.de, "en": asset.name.en}
        for site in fleet.sites
        for asset in site.assets
    }


def line(client: httpx.Client, language: Language, names: dict[str, dict[str, str]]) -> str:
    starting = word("starting", language)
    parts = []
    for label, probe in (
        ("readings", readings_stored),
        ("invalid", invalid_messages),
    ):
        try:
            parts.append(f"{word(label, language)}: {probe(client)}")
        except (httpx.HTTPError, ValueError, KeyError, OSError):
            parts.append(f"{word(label, language)}: {starting}")
    try:
        alerts = open_work(client, ALERTS, TOKEN.read_text().strip())
        parts.append(open_alerts(alerts, language, names))
    except (httpx.HTTPError, ValueError, KeyError, OSError):
        parts.append(f"{word('alerts', language)}: {starting}")
    return " | ".join(parts)


def run() -> None:
    """Print the line every 5 s until stopped."""
    shown = language()
    names = asset_names(DEMO_FLEET)
    with httpx.Client(timeout=2.0) as client:
        while True:
            time.sleep(5)
            print(line(client, shown, names), flush=True)
