"""Restore one backup onto fresh servers, after checking all of it.

Nothing is touched before the manifest and every file check out and every target is
empty. Then InfluxDB, the SQL store (migrated to the installed schema by the alerts
service's own `db upgrade`), ingest's state file, the broker's accounts and the key
list; last, the audit
chain is verified by `coldchain-alerts audit verify` against the restored copy in InfluxDB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from coldchain_admin import brokeraccounts, influx, manifest, sqlstore
from coldchain_admin.errors import RestoreFailed, TargetNotEmpty
from coldchain_admin.manifest import Manifest
from coldchain_admin.settings import AdminSettings
from coldchain_admin.statefile import copy_sqlite


@dataclass(frozen=True)
class Restored:
    manifest: Manifest
    revision_after: str | None
    audit: str


def check(settings: AdminSettings, directory: Path) -> Manifest:
    """The backup's manifest once it and the targets are fit; raises before any change."""
    found = manifest.check(directory)
    influx.refuse_if_present(settings, found.influxdb.databases)
    sqlstore.refuse_if_not_empty(settings.database_url)
    if found.state_files and settings.ingest_state is None:
        raise RestoreFailed(
            "the backup holds ingest's state file: set COLDCHAIN_ADMIN_INGEST_STATE"
        )
    if found.state_files and settings.ingest_state is not None and settings.ingest_state.exists():
        raise TargetNotEmpty(
            f"{settings.ingest_state} exists: restore with ingest stopped and its state file gone"
        )
    if found.public_keys and settings.public_keys and settings.public_keys.exists():
        raise TargetNotEmpty(f"{settings.public_keys} exists: keep it, or move it away first")
    if found.broker_accounts and settings.broker_accounts is None:
        raise RestoreFailed(
            "the backup holds the broker's accounts: set COLDCHAIN_ADMIN_BROKER_ACCOUNTS"
        )
    if found.broker_accounts and settings.broker_accounts is not None:
        brokeraccounts.refuse_if_in_use(settings.broker_accounts)
    return found


def run(settings: AdminSettings, directory: Path) -> Restored:
    found = check(settings, directory)
    influx.restore(settings, directory / "influxdb", found.influxdb.databases)
    sqlstore.restore(settings.database_url, found.sql.dialect, directory / found.sql.file)
    _alerts(settings, "db", "upgrade")
    for state in found.state_files:
        assert settings.ingest_state is not None  # checked above
        copy_sqlite(directory / state.file, settings.ingest_state, RestoreFailed)
    if found.broker_accounts and settings.broker_accounts is not None:
        brokeraccounts.restore(directory / found.broker_accounts, settings.broker_accounts)
    if found.public_keys and settings.public_keys:
        settings.public_keys.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(directory / found.public_keys, settings.public_keys)
    audit = _alerts(settings, "audit", "verify")
    return Restored(found, sqlstore.alembic_revision(settings.database_url), audit)


def _alerts(settings: AdminSettings, *args: str) -> str:
    """Run `coldchain-alerts ARGS` on the restored stores; its output, or RestoreFailed."""
    command = shutil.which("coldchain-alerts") or str(
        Path(sys.executable).parent / "coldchain-alerts"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_ALERTS_")}
    env["COLDCHAIN_ALERTS_DATABASE_URL"] = settings.database_url
    env["COLDCHAIN_ALERTS_INFLUX_URL"] = settings.influx_url
    env["COLDCHAIN_ALERTS_INFLUX_DB"] = settings.influx_databases[0]
    if settings.influx_username and settings.influx_password:
        env["COLDCHAIN_ALERTS_INFLUX_USERNAME"] = settings.influx_username
        env["COLDCHAIN_ALERTS_INFLUX_PASSWORD"] = settings.influx_password.get_secret_value()
    try:
        done = subprocess.run(
            [command, *args], capture_output=True, text=True, env=env, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RestoreFailed(f"coldchain-alerts {' '.join(args)} could not run: {exc}") from None
    output = " ".join((done.stdout + done.stderr).split())
    if done.returncode != 0:
        raise RestoreFailed(f"coldchain-alerts {' '.join(args)} failed: {output}")
    return output
