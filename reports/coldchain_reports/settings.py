"""Reports settings: environment variables prefixed COLDCHAIN_REPORT_, or a .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from coldchain_io.influx import InfluxSettings


class ReportSettings(InfluxSettings):
    model_config = SettingsConfigDict(env_prefix="COLDCHAIN_REPORT_", extra="forbid")

    influx_chunk_size: int = Field(
        default=10000, ge=1, description="Rows per chunk of a streamed InfluxQL answer."
    )
    fleet: Path = Path("fleet/dortmund-hub.yaml")
    calibration: Path | None = Field(
        default=None,
        description="CSV of recorder calibrations (sensor,checked_on,due_on,reference); "
        "without it a report says the calibration status is unknown.",
    )
    signing_key: Path | None = Field(
        default=None,
        description="Private Ed25519 key (PEM, mode 0600) that signs every report and "
        "certificate (`coldchain-report key create`); without it they are not made.",
    )
    public_keys: Path | None = Field(
        default=None,
        description="The hub's public key list; `verify` uses it when --key is not given, and "
        "`report`/`certificate` refuse to sign with a key it lists as revoked or retired.",
    )
