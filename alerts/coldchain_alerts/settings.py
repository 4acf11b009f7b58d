"""Alerts service settings: environment variables prefixed COLDCHAIN_ALERTS_, or a .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
    mqtt_tls: bool = Field(default=False, description="Connect with TLS (port 8883, say).")
    mqtt_ca_file: Path | None = Field(
        default=None, description="CA certificate to check the broker with; system CAs if unset."
    )
    mqtt_cert_file: Path | None = Field(default=None, description="Client certificate (PEM).")
    mqtt_key_file: Path | None = Field(default=None, description="Client certificate key (PEM).")
    mqtt_client_id: str = "coldchain-alerts"
    session_expiry_s: int = Field(default=7 * 24 * 3600, ge=60)
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for people, json for a log collector (one object a line)."
    )
