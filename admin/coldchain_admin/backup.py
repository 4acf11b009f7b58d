"""Make one backup: InfluxDB, the SQL store, ingest's state file, the broker's accounts,
the key list, the manifest.

The parts are copied in turn while the services run, so they are not of one instant:
readings that arrive during the seconds a backup takes may be in one copy and not
in another, and belong to the gap a restore leaves. Ingest's state file is copied
first, so every alert event it counts as delivered is in the SQL store copied after
it; the events it still holds it publishes again after a restore, and the alerts
service applies a repeat as nothing.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from coldchain_admin import brokeraccounts, influx, manifest, sqlstore
from coldchain_admin.errors import BackupFailed
from coldchain_admin.manifest import InfluxPart, Manifest, SqlPart, StatePart
from coldchain_admin.settings import AdminSettings
from coldchain_admin.statefile import copy_sqlite

INGEST_STATE = "ingest-state.sqlite3"
PUBLIC_KEYS = "hub.pub"
BROKER_ACCOUNTS = "dynamic-security.json"


def make(settings: AdminSettings, directory: Path) -> Manifest:
    """Back up into `directory` (new, or empty); the manifest it wrote last."""
    if directory.exists() and any(directory.iterdir()):
        raise BackupFailed(f"{directory} is not empty: back up into a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    started, clock = datetime.now(UTC), time.monotonic()
    states = []
    if settings.ingest_state is not None:
        copy_sqlite(settings.ingest_state, directory / "state" / INGEST_STATE, BackupFailed)
        states.append(StatePart(name="ingest-state", file=f"state/{INGEST_STATE}"))
    influx_version = influx.version(settings)
    influx.backup(settings, directory / "influxdb")
    (directory / "sql").mkdir()
    store = sqlstore.backup(settings.database_url, directory / "sql")
    keys = None
    if settings.public_keys is not None:
        keys = f"keys/{PUBLIC_KEYS}"
        _copy_key_list(settings.public_keys, directory / keys)
    accounts = None
    if settings.broker_accounts is not None:
        accounts = f"broker/{BROKER_ACCOUNTS}"
        brokeraccounts.backup(settings.broker_accounts, directory / accounts)
    done = Manifest(
        format=manifest.FORMAT,
        format_version=manifest.FORMAT_VERSION,
        made_by=f"coldchain-admin {version('coldchain-admin')}",
        started_at=started,
        finished_at=datetime.now(UTC),
        took_s=round(time.monotonic() - clock, 3),
        influxdb=InfluxPart(version=influx_version, databases=settings.influx_databases),
        sql=SqlPart(
            dialect=store.dialect,
            server_version=store.server_version,
            alembic_revision=store.alembic_revision,
            file=f"sql/{store.file}",
        ),
        state_files=states,
        public_keys=keys,
        broker_accounts=accounts,
        files=manifest.entries(directory),
    )
    manifest.write(directory, done)
    return done


def _copy_key_list(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupFailed(f"the key list {source} does not exist (COLDCHAIN_ADMIN_PUBLIC_KEYS)")
    target.parent.mkdir(parents=True)
    shutil.copyfile(source, target)
