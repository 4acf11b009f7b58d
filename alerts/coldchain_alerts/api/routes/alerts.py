"""GET /api/v1/alerts: the stored alerts, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from coldchain_alerts.api.deps import SessionDep
from coldchain_alerts.models import Alert

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    site: str
    asset: str | None
    sensor: str | None
    gateway: str | None
    kind: str
    severity: str
    status: str
    opened_at: datetime
    cleared_at: datetime | None
    peak_c: float | None
    limit_c: float | None
    regulatory_limit_c: float | None
    duration_s: float | None
    degree_minutes: float | None


#: Most alerts one request returns; bounded so the database is never handed an absurd LIMIT.
MAX_LIMIT = 10_000


@router.get("", response_model=list[AlertOut])
def list_alerts(
    session: SessionDep,
    status: Literal["open", "cleared"] | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 500,
) -> list[Alert]:
    query = select(Alert).order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit)
    if status is not None:
        query = query.where(Alert.status == status)
    return list(session.scalars(query))
