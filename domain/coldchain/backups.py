"""A hub's backups: what marks one complete, and when the next is overdue. Pure.

`coldchain-admin` writes each backup into its own directory, its manifest last: a
directory with a manifest of this format is a complete backup. The alerts service
reads the manifests to raise a maintenance alert when no complete backup is recent
enough (`overdue_since`, `missing_event`); times are UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from coldchain.alerting import maintenance_event
from coldchain.contract import AlertEvent, AlertState

MANIFEST = "manifest.json"
FORMAT = "coldchain-backup"
#: The maintenance alert's rule (coldchain.rulenames names it).
RULE = "backup_missing"


def overdue_since(
    newest_finished_at: datetime | None, now: datetime, max_age: timedelta
) -> datetime | None:
    """Since when a backup is overdue: the newest complete backup's end plus `max_age`,
    or `now` without any; None while the newest is at most `max_age` old."""
    if newest_finished_at is None:
        return now
    due = newest_finished_at + max_age
    return due if now > due else None


def condition(site: str) -> str:
    """The alert condition of the site's missing backup (`coldchain.alerting.condition_of`)."""
    return f"{RULE}/{site}"


def missing_event(
    site: str, since: datetime, now: datetime, state: AlertState, key: str | None = None
) -> AlertEvent:
    """The event that raises (or, with the raised event's `key`, clears) the maintenance
    alert of a backup overdue `since`, at the service's clock `now`."""
    return maintenance_event(RULE, condition(site), site, since, now, state, key)
