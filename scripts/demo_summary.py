"""Print a one-line summary of the demo every 5 s: readings stored, invalid, open alerts."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

INFLUX = f"http://127.0.0.1:{os.environ.get('INFLUX_PORT', '8086')}"
ALERTS = f"http://127.0.0.1:{os.environ.get('ALERTS_PORT', '8000')}"
METRICS = f"http://127.0.0.1:{os.environ.get('METRICS_PORT', '9108')}/metrics"
INVALID = "coldchain_ingest_messages_invalid_total"
#: An auditor's API token, made by scripts/demo_alerts.py.
TOKEN = Path("var/alerts/demo-token")


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


def open_alerts(client: httpx.Client) -> str:
    token = TOKEN.read_text().strip()
    alerts = client.get(
        f"{ALERTS}/api/v1/alerts",
        params={"status": "open"},
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    return ", ".join(_describe(alert) for alert in alerts) or "none"


def _describe(alert: dict[str, object]) -> str:
    subject = alert["sensor"] or alert["asset"] or alert["gateway"]
    peak = alert["peak_c"]
    worst = f" peak {peak:.1f} °C" if isinstance(peak, float) else ""
    return f"{subject} {alert['rule']}{worst}"


def main() -> None:
    with httpx.Client(timeout=2.0) as client:
        while True:
            time.sleep(5)
            parts = []
            for label, probe in (
                ("readings stored", readings_stored),
                ("invalid messages", invalid_messages),
                ("open alerts", open_alerts),
            ):
                try:
                    parts.append(f"{label}: {probe(client)}")
                except (httpx.HTTPError, ValueError, KeyError, OSError):
                    parts.append(f"{label}: (starting)")
            print(" | ".join(parts), flush=True)


if __name__ == "__main__":
    main()
