"""Alerts service settings: environment variables prefixed COLDCHAIN_ALERTS_, or a .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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
    migrate_on_start: bool = Field(
        default=True, description="Bring the database schema up to date (Alembic) at start."
    )
    fleet: Path | None = Field(
        default=None, description="Fleet file, for asset names in pages and messages."
    )
    influx_url: str | None = Field(
        default="http://localhost:8086",
        description="InfluxDB for alert actions, the audit chain's copy and alert curves; "
        "empty to run without.",
    )
    influx_db: str = "coldchain"
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs session cookies; at least 32 characters. Unset: a random key "
        "per start, so everyone logs in again after a restart.",
    )
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (behind TLS)."
    )
    session_hours: float = Field(default=12.0, gt=0, description="How long a login lasts.")
    escalation_window_s: float = Field(
        default=30.0,
        ge=0,
        description="A new alert waits this long before the first message, so that a flood "
        "of alerts at one site goes out as one message per level.",
    )
    audit_verify_interval_s: float = Field(
        default=3600.0, gt=0, description="How often the audit-log chain is verified."
    )
