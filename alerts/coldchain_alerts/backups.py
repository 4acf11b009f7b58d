"""The maintenance alert of a missing backup, from coldchain-admin's manifests.

The backup service writes each backup into a directory of its own under the backup
root (a volume this service reads), its manifest last. Every `backup_check_interval_s`
the newest complete backup's end is read from the manifests; when it is older than
`backup_max_age_h`, or there is none, each site of the fleet gets an alert of the rule
`backup_missing`, raised through the same lifecycle and escalation as ingest's events
(`AlertsService.handle_events`); it clears once a fresh backup is there. A manifest
that cannot be read counts as no backup, with a warning naming it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coldchain import alerting, backups
from coldchain.contract import AlertEvent, AlertState
from coldchain_alerts.models import Alert, Occurrence

log = logging.getLogger(__name__)


def newest_finished_at(root: Path) -> datetime | None:
    """When the newest complete backup under `root` ended (UTC), or None."""
    if not root.is_dir():
        log.warning("the backup root %s is not a directory (COLDCHAIN_ALERTS_BACKUP_ROOT)", root)
        return None
    ends = [end for path in sorted(root.glob(f"*/{backups.MANIFEST}")) if (end := _end(path))]
    return max(ends, default=None)


def _end(manifest: Path) -> datetime | None:
    try:
        raw = json.loads(manifest.read_text(encoding="utf-8"))
        if raw.get("format") != backups.FORMAT:
            raise ValueError(f"not of format {backups.FORMAT}")
        return datetime.fromisoformat(raw["finished_at"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("%s is not a complete backup's manifest: %s", manifest, exc)
        return None


def events(
    sessions: sessionmaker[Session], sites: Sequence[str], since: datetime | None, now: datetime
) -> list[AlertEvent]:
    """What to tell the lifecycle: raise where a backup is overdue `since` and no alert
    is open yet, clear where one is open and the backup no longer overdue."""
    found = []
    with sessions() as session:
        for site in sites:
            key = _open_key(session, site)
            if since is not None and key is None:
                found.append(backups.missing_event(site, since, now, AlertState.RAISED))
            elif since is None and key is not None:
                started = key.rsplit("/", 1)[1]
                found.append(
                    backups.missing_event(
                        site, datetime.fromisoformat(started), now, AlertState.CLEARED, key
                    )
                )
    return found


def _open_key(session: Session, site: str) -> str | None:
    """The key of the site's maintenance alert still present (not cleared), or None."""
    return session.scalars(
        select(Occurrence.key)
        .join(Alert)
        .where(
            Alert.condition == backups.condition(site),
            Alert.status != alerting.Status.CLOSED,
            Occurrence.cleared_at.is_(None),
        )
    ).first()


def check(
    root: Path,
    max_age: timedelta,
    sites: Sequence[str],
    sessions: sessionmaker[Session],
    handle: Callable[[Sequence[AlertEvent]], None],
    now: datetime,
) -> list[AlertEvent]:
    """Look at the backup root once and hand the events it calls for to `handle`."""
    since = backups.overdue_since(newest_finished_at(root), now, max_age)
    found = events(sessions, sites, since, now)
    if found:
        handle(found)
    for event in found:
        if event.state == AlertState.RAISED:
            log.error("no complete backup under %s since %s: alert for %s", root, since, event.site)
    return found
