"""Alerts service settings: environment variables prefixed COLDCHAIN_ALERTS_, or a .env file."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLDCHAIN_ALERTS_", extra="forbid")

    database_url: str = Field(
        default="sqlite:///var/alerts/alerts.sqlite3",
        description="SQLAlchemy URL; postgresql+psycopg://user:pass@host/db in production.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    mqtt_host: str = "localhost"
    mqtt_port: int = 1883
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_client_id: str = "coldchain-alerts"
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=60)
