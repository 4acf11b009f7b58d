"""Database models of the alerts service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from coldchain_alerts.db import Base, UtcDateTime


class Alert(Base):
    """One occurrence of an alarm condition at one sensor, from raised to cleared.

    Times are reading times (UTC) from the alert events, not arrival times.
    """

    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    site: Mapped[str] = mapped_column(String(64), index=True)
    asset: Mapped[str | None] = mapped_column(String(64))
    sensor: Mapped[str | None] = mapped_column(String(130))
    gateway: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    raised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    value_c: Mapped[float | None] = mapped_column(Float)
    peak_c: Mapped[float | None] = mapped_column(Float)
    limit_c: Mapped[float | None] = mapped_column(Float)
    regulatory_limit_c: Mapped[float | None] = mapped_column(Float)
    delay_s: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    degree_minutes: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
