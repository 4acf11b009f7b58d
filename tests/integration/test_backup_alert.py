"""A missing backup reaches the hygiene officer as a maintenance alert, and clears.

The alerts service watches the backup root of `coldchain-admin serve` (a volume it reads
in compose.yaml). With no complete backup there, the site gets a `backup_missing` alert,
raised and escalated like ingest's alerts: the officer is e-mailed, in their language.
A backup made by the real `coldchain-admin backup` clears it; a damaged manifest does not.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from coldchain_devstack import BIN
from coldchain_devstack.servers import wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import OFFICERS, ApiStack, officers_on_call
from tests.fakes import SmtpSink


def _backup_alert(stack: ApiStack) -> dict[str, Any] | None:
    found = [a for a in stack.alerts_api.alerts() if a["rule"] == "backup_missing"]
    assert len(found) <= 1, found
    return found[0] if found else None


def _back_up(stack: ApiStack, directory: Path) -> None:
    """A real backup of the stack's stores, as `coldchain-admin serve` makes them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")} | {
        "COLDCHAIN_ADMIN_DATABASE_URL": stack.alerts_database,
        "COLDCHAIN_ADMIN_INFLUX_URL": stack.influxdb.url,
        "COLDCHAIN_ADMIN_INFLUX_RPC": stack.influxdb.rpc,
        "COLDCHAIN_ADMIN_INFLUX_DATABASES": json.dumps([stack.database]),
        "COLDCHAIN_ADMIN_INGEST_STATE": "",
    }
    made = subprocess.run(
        [str(BIN / "coldchain-admin"), "backup", str(directory)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr


def test_a_missing_backup_is_told_to_the_officer_and_clears_with_a_fresh_one(
    tmp_path: Path, stack: ApiStack, smtp: SmtpSink
) -> None:
    root = tmp_path / "backups"
    (root / "20261207T020000Z").mkdir(parents=True)
    (root / "20261207T020000Z" / "manifest.json").write_text("{not json")
    stack.influxdb.query("", f'CREATE DATABASE "{stack.database}"')
    officers_on_call(stack.alerts_database, SITE)
    stack.alerts(
        COLDCHAIN_ALERTS_BACKUP_ROOT=str(root),
        COLDCHAIN_ALERTS_BACKUP_MAX_AGE_H="1",
        COLDCHAIN_ALERTS_BACKUP_CHECK_INTERVAL_S="0.5",
        COLDCHAIN_ALERTS_ESCALATION_WINDOW_S="0",
        COLDCHAIN_ALERTS_SMTP_HOST="127.0.0.1",
        COLDCHAIN_ALERTS_SMTP_PORT=str(smtp.port),
        COLDCHAIN_ALERTS_SMTP_SECURITY="none",
        COLDCHAIN_ALERTS_SMTP_FROM="coldchain@hub.example",
    ).start()
    wait_until(stack.alerts_healthy, 30, "the alerts service")

    mails = smtp.wait_for(2, timeout=30)
    english, german = (next(m for m in mails if o["email"] in str(m["To"])) for o in OFFICERS)
    assert "no recent backup" in english["Subject"], english["Subject"]
    assert "no recent backup" in english.get_content()
    assert "keine aktuelle Datensicherung" in german["Subject"], german["Subject"]
    alert = _backup_alert(stack)
    assert alert is not None and alert["site"] == SITE and alert["active"], alert
    assert alert["severity"] == "warning"

    _back_up(stack, root / "20261208T020000Z")
    cleared = wait_until(
        lambda: (a := _backup_alert(stack)) and not a["active"] and a, 30, "the alert to clear"
    )
    assert cleared["id"] == alert["id"] and cleared["occurrences"] == 1, cleared
    assert "ERROR" in stack.processes[-1].output()
