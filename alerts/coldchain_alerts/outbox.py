"""Points for InfluxDB, queued in the transaction that records what they show.

The alerts service copies alert steps and the audit chain into InfluxDB for
Grafana. Queuing them in the database, in the same transaction as the step, and
writing them from a background job means an InfluxDB outage delays the copy but
never loses it, and never blocks a hygiene officer's acknowledgement.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from coldchain_alerts.models import InfluxOutbox


def queue(session: Session, line: str) -> None:
    session.add(InfluxOutbox(line=line))


def oldest(session: Session, limit: int) -> list[InfluxOutbox]:
    return list(session.scalars(select(InfluxOutbox).order_by(InfluxOutbox.id).limit(limit)))


def remove(session: Session, up_to_id: int) -> None:
    session.execute(delete(InfluxOutbox).where(InfluxOutbox.id <= up_to_id))
