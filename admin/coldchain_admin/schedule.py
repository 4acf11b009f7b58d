"""`coldchain-admin serve`: a backup every interval, the newest `keep` complete ones kept.

Each backup goes into its own directory under the backup root, named by its UTC start
(`20261207T020000Z`), so names sort by age. A failed backup is logged as an ERROR and
its directory removed; complete backups beyond `keep` are removed oldest first, and
only after a new one is complete, so a failing schedule never deletes the last good one.
"""

from __future__ import annotations

import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler

from coldchain_admin import backup, manifest
from coldchain_admin.errors import AdminError
from coldchain_admin.settings import AdminSettings

log = logging.getLogger(__name__)


def complete(root: Path) -> list[Path]:
    """The complete backups under `root`, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / manifest.NAME).is_file())


def overdue(settings: AdminSettings, now: datetime | None = None) -> str | None:
    """Why the newest complete backup is missing or older than `max_age_h`, or None."""
    found = complete(settings.backup_root)
    if not found:
        return f"no complete backup under {settings.backup_root}"
    made = manifest.check(found[-1]).finished_at
    age = (now or datetime.now(UTC)) - made
    if age > timedelta(hours=settings.max_age_h):
        return f"the newest backup, {found[-1].name}, is {age.total_seconds() / 3600:.1f} h old"
    return None


def once(settings: AdminSettings, now: datetime | None = None) -> Path | None:
    """Make one backup under the root and prune; its directory, or None if it failed."""
    started = now or datetime.now(UTC)
    directory = settings.backup_root / started.strftime("%Y%m%dT%H%M%SZ")
    try:
        made = backup.make(settings, directory)
    except AdminError as exc:
        log.error("backup into %s failed: %s", directory, exc)
        shutil.rmtree(directory, ignore_errors=True)
        return None
    log.info("backed up into %s in %.1f s", directory, made.took_s)
    for old in complete(settings.backup_root)[: -settings.keep]:
        shutil.rmtree(old)
        log.info("removed %s: %d newer backups are kept", old, settings.keep)
    return directory


def serve(settings: AdminSettings) -> None:
    """Back up at once and then every `interval_h`, until SIGTERM or Ctrl-C."""
    scheduler = BlockingScheduler(timezone=UTC)
    scheduler.add_job(
        once,
        "interval",
        args=[settings],
        hours=settings.interval_h,
        next_run_time=datetime.now(UTC) + timedelta(seconds=1),
        max_instances=1,
        coalesce=True,
    )
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
