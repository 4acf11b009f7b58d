"""One definition of "open": the API, the demo's summary and Grafana count alike.

Alert events go to the running alerts service as ingest publishes them; people
acknowledge, decide and close through the API. Then the "Open alerts" panels of the
committed dashboards/en/operations.json run against the real InfluxDB the service
writes to, and `coldchain-demo summary` runs as `make demo` runs it: both must show
the API's open work (every alert not closed) and its unacknowledged and decision-due
alerts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts.auth import Role
from coldchain_devstack import BIN, REPO
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import ApiStack, token_for

OPERATIONS = REPO / "dashboards" / "en" / "operations.json"
#: (asset, sensor, rule, severity) of each alert the test drives.
CONDITIONS = {
    "waiting": ("cold-room-1", "cold-room-1.air", "over_max", Severity.CRITICAL),
    "deciding": ("cold-room-2", "cold-room-2.air", "over_max", Severity.CRITICAL),
    "warning": ("freezer-1", "freezer-1.air", "over_warning", Severity.WARNING),
    "decided": ("van-3-chilled", "van-3.chilled", "over_max", Severity.CRITICAL),
    "closed": ("van-1-chilled", "van-1.chilled", "over_max", Severity.CRITICAL),
}


def _event(name: str, state: AlertState, started: datetime) -> AlertEvent:
    asset, sensor, rule, severity = CONDITIONS[name]
    cleared = state is AlertState.CLEARED
    at = started + timedelta(minutes=30 if cleared else 15)
    return AlertEvent(
        key=f"temperature_above/{sensor}/{started.isoformat()}",
        state=state,
        rule=rule,
        severity=severity,
        site=SITE,
        asset=asset,
        sensor=sensor,
        started_at=started,
        at=at,
        ended_at=at if cleared else None,
        value_c=4.0 if cleared else 9.5,
        peak_c=9.5,
        limit_c=6.0,
        delay_s=900,
        duration_s=(at - started).total_seconds() if cleared else None,
    )


def _publish(stack: ApiStack, events: list[AlertEvent]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", stack.mosquitto.port)
    client.loop_start()
    try:
        for event in events:
            info = client.publish(topics.alerts(SITE), event.model_dump_json(), qos=1)
            info.wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def _healthy(stack: ApiStack) -> bool:
    try:
        return stack.alerts_api.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def _post(stack: ApiStack, alert_id: int, step: str, body: dict[str, Any]) -> None:
    response = stack.alerts_api.post(f"/api/v1/alerts/{alert_id}/{step}", body)
    assert response.status_code == 200, response.text


def _drive(stack: ApiStack) -> None:
    """Five alerts, left unacknowledged, waiting for the decision, acknowledged (a warning
    and a critical one decided), and closed."""
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    _publish(stack, [_event(name, AlertState.RAISED, started) for name in CONDITIONS])
    _publish(stack, [_event("closed", AlertState.CLEARED, started)])
    stored = wait_until(
        lambda: (a := stack.alerts_api.alerts()) and len(a) == len(CONDITIONS) and a,
        30,
        "the alerts to be stored",
    )
    ids = {CONDITIONS_BY_SENSOR[alert["sensor"]]: alert["id"] for alert in stored}
    wait_until(
        lambda: not stack.alerts_api.get(f"/api/v1/alerts/{ids['closed']}").json()["active"],
        30,
        "the clearing",
    )
    for name in ("deciding", "warning", "decided", "closed"):
        _post(stack, ids[name], "acknowledge", {"comment": "on it"})
    decision = {
        "cause": "compressor failed",
        "corrective_action": "goods moved to cold room 1",
        "product_decision": "quarantine",
    }
    _post(stack, ids["decided"], "decision", decision)
    _post(stack, ids["closed"], "close", decision)


CONDITIONS_BY_SENSOR = {sensor: name for name, (_, sensor, _, _) in CONDITIONS.items()}


def _api_open_work(stack: ApiStack) -> dict[str, str]:
    """alert id -> standing of every alert the API lists that is not closed."""
    listed = stack.alerts_api.alerts(limit=10_000)
    return {str(a["id"]): a["standing"] for a in listed if a["standing"] != "closed"}


def _query(stack: ApiStack, influxql: str) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{stack.influxdb.url}/query",
        data={"db": stack.database, "q": influxql.replace("$site", SITE)},
        timeout=10,
    )
    result = response.json()["results"][0]
    assert "error" not in result, f"{result['error']}\nin: {influxql}"
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def _grafana(stack: ApiStack) -> tuple[dict[str, int], dict[str, str]]:
    """What the Open alerts panels of the committed dashboard show: the counts (Grafana's
    "no value" is 0) and the listed alerts with their standing."""
    board = json.loads(OPERATIONS.read_text())
    panels = {panel["title"]: panel for panel in board["panels"]}
    counts = {
        target["refId"]: sum(s["values"][0][1] for s in _query(stack, target["query"]))
        for target in panels["Open alerts"]["targets"]
    }
    (listing,) = panels["Open alerts: what each asks for"]["targets"]
    listed: dict[str, str] = {}
    for series in _query(stack, listing["query"]):
        columns = series["columns"]
        for values in series["values"]:
            row = dict(zip(columns, values, strict=True))
            listed[row["alert_id"]] = row["standing"]
    return counts, listed


def _counts(work: dict[str, str]) -> dict[str, int]:
    standings = Counter(work.values())
    return {
        "open": len(work),
        "unacknowledged": standings["unacknowledged"],
        "decision_due": standings["decision_due"],
    }


def _summary(stack: ApiStack, directory: Path, language: str) -> str:
    """The first line `coldchain-demo summary` prints, run as `make demo` runs it: with an
    auditor's token in var/alerts/demo-token."""
    token = directory / "var" / "alerts" / "demo-token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text(token_for(stack.alerts_database, "pruefer", Role.AUDITOR))
    out = directory / f"summary-{language}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    locale = {"de": "de_DE.UTF-8", "en": "en_GB.UTF-8"}[language]
    env |= {"ALERTS_PORT": str(stack.alerts_port), "LANG": locale}
    with out.open("w") as sink:
        process = subprocess.Popen(
            [str(BIN / "coldchain-demo"), "summary"], cwd=directory, env=env, stdout=sink
        )
    try:
        return str(wait_until(lambda: out.read_text().partition("\n")[0], 30, "a summary line"))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def test_the_api_the_summary_and_grafana_agree_on_open_work(
    stack: ApiStack, tmp_path: Path
) -> None:
    stack.influxdb.query("", f'CREATE DATABASE "{stack.database}"')
    stack.alerts().start()
    wait_until(lambda: _healthy(stack), 30, "the alerts service and its broker connection")
    _drive(stack)

    work = _api_open_work(stack)
    assert sorted(work.values()) == [
        "acknowledged",
        "acknowledged",
        "decision_due",
        "unacknowledged",
    ]
    expected = (_counts(work), work)
    shown: list[tuple[dict[str, int], dict[str, str]]] = []

    def agrees() -> bool:
        shown.append(_grafana(stack))
        return shown[-1] == expected

    # The service copies its steps to InfluxDB every 2 s.
    wait_until(agrees, 30, f"Grafana to show {expected}", interval=0.5)

    english = _summary(stack, tmp_path, "en")
    assert "4 open alerts (unacknowledged: 1, decision due: 1): " in english, english
    german = _summary(stack, tmp_path, "de")
    assert "4 offene Alarme (unbestätigt: 1, Entscheidung fällig: 1): " in german, german
    assert "Kühlraum 2 (Geflügel) – zu warm" in german, german
