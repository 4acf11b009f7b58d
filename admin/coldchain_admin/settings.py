"""Admin settings: environment variables prefixed COLDCHAIN_ADMIN_, or a .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AdminSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COLDCHAIN_ADMIN_", extra="forbid")

    database_url: str = Field(
        default="sqlite:///var/alerts/alerts.sqlite3",
        description="The alerts service's SQL store (its COLDCHAIN_ALERTS_DATABASE_URL): "
        "backed up whole, every table.",
    )
    influx_url: str = Field(
        default="http://127.0.0.1:8086",
        description="InfluxDB's HTTP API: its version, and whether a database exists.",
    )
    influx_rpc: str = Field(
        default="127.0.0.1:8088",
        description="InfluxDB's RPC address (its bind-address), which `influxd backup` and "
        "`restore` use. It has no login: keep it on loopback.",
    )
    influx_databases: list[str] = Field(
        default=["coldchain"],
        min_length=1,
        description="The InfluxDB databases backed up, with their retention policies.",
    )
    influx_username: str | None = Field(
        default=None, description="An InfluxDB admin account, when authentication is on."
    )
    influx_password: SecretStr | None = None
    ingest_state: Path | None = Field(
        default=Path("var/ingest/state.sqlite3"),
        description="Ingest's state file (COLDCHAIN_INGEST_STATE): rule state, alert outbox, "
        "dead letters, rollup marks. Empty: not backed up.",
    )
    public_keys: Path | None = Field(
        default=None,
        description="The hub's key list (COLDCHAIN_REPORT_PUBLIC_KEYS), backed up; the "
        "private signing key never is.",
    )
    broker_accounts: Path | None = Field(
        default=None,
        description="The broker's accounts and rights, the dynamic-security plugin's file "
        "(its plugin_opt_config_file), backed up and restored. Unset: not backed up.",
    )
    backup_root: Path = Field(
        default=Path("var/backups"),
        description="Where `coldchain-admin serve` makes its backups, one directory each.",
    )
    keep: int = Field(
        default=7, ge=1, description="How many complete backups `serve` keeps; older go."
    )
    interval_h: float = Field(
        default=24.0, gt=0, description="How often `serve` makes a backup, in hours."
    )
    max_age_h: float = Field(
        default=26.0,
        gt=0,
        description="`serve` reports a missing backup when the newest complete one is older.",
    )

    @field_validator("ingest_state", "public_keys", "broker_accounts", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # "Empty: not backed up" (and compose.yaml's `${VAR:-}`); Path("") would be ".".
        return None if value == "" else value
