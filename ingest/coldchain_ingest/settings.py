"""Ingest settings: environment variables prefixed COLDCHAIN_INGEST_, or a .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from coldchain.retention import DEFAULT_RETENTION_DAYS, check_retention_days
from coldchain_io.influx import InfluxSettings
from coldchain_io.mqtt import MqttSettings
from coldchain_io.nats import DEFAULT_LEASE_TTL_S, DEFAULT_PARTITIONS, NatsSettings


class IngestSettings(MqttSettings, NatsSettings, InfluxSettings):
    model_config = SettingsConfigDict(env_prefix="COLDCHAIN_INGEST_", extra="forbid")

    transport: Literal["mqtt", "nats"] = Field(
        default="mqtt",
        description="mqtt: one ingest on Mosquitto. nats: one of several workers on the NATS "
        "cluster, each taking a share of the partitions (docs/scaling.md).",
    )
    partitions: int = Field(
        default=DEFAULT_PARTITIONS,
        ge=1,
        le=1024,
        description="nats: how many partitions the cluster's subject mapping spreads the "
        "gateways over; the same number as in the servers' configuration.",
    )
    worker_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="nats: this worker's name in the leases, unique among the workers; "
        "unset: the host's name and the process id.",
    )
    lease_ttl_s: float = Field(
        default=DEFAULT_LEASE_TTL_S,
        ge=1,
        description="nats: a worker that does not renew its leases for this long loses its "
        "partitions to the others; it renews them every third of it.",
    )
    gap_wait_s: float = Field(
        default=45.0,
        ge=0,
        le=50,
        description="nats: how long a gateway's message waits, unjudged and unacknowledged, "
        "for a missing one below it (lost on its way into the stream, published again by the "
        "gateway after its redeliver_after_s, 30 s by default), so that readings are judged "
        "in order; after it the later ones are judged without it, logged and counted. At "
        "most 50: JetStream sends a message unacknowledged for 60 s again.",
    )

    mqtt_client_id: str = "coldchain-ingest"
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="How long the broker keeps our session and queues messages while we are away.",
    )
    receive_maximum: int = Field(
        default=1000, ge=1, le=65535, description="Most unacknowledged messages in flight to us."
    )
    qos0_backlog: int = Field(
        default=1000,
        ge=1,
        description="Most QoS 0 messages waiting to be taken; more are dropped and counted "
        "(QoS 0 has no flow control, and the contract asks for QoS 1).",
    )
    alert_redeliver_after_s: float = Field(
        default=30.0,
        gt=0,
        description="How long an alert event waits for the alerts service's receipt before "
        "it is published again; the wait doubles each time, up to 10 minutes.",
    )
    influx_create_db: bool = Field(
        default=True,
        description="At start, set InfluxDB up as `coldchain-ingest influx setup` does: "
        "CREATE DATABASE and its retention policies (1.x; needs an admin account).",
    )
    retention_days: int = Field(
        default=DEFAULT_RETENTION_DAYS,
        description="Days InfluxDB keeps the readings and every other record of the "
        "database, and the downsampled series; at least 366 (one year, food law).",
    )
    fleet: Path = Path("fleet/dortmund-hub.yaml")
    state: Path = Field(
        default=Path("var/ingest/state.sqlite3"),
        description="SQLite file keeping the rule engine's state and the days the "
        "compliance rollup has still to compute across restarts.",
    )
    silence_check_s: float = Field(
        default=10.0, gt=0, description="How often silent sensors are looked for ('no data')."
    )
    rollup_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="How often ended days whose readings changed are computed into "
        "compliance_daily (and the day under way of a share of the sensors).",
    )
    so_far_interval_s: float = Field(
        default=900.0,
        gt=0,
        description="How often each temperature sensor's record of the day under way "
        "(preliminary) is computed again, a share of the sensors at each rollup run.",
    )
    batch_max_readings: int = Field(default=5000, ge=1)
    batch_max_wait_s: float = Field(
        default=0.05, gt=0, description="Longest a reading waits for its batch to fill."
    )
    retry_max_s: float = Field(default=10.0, gt=0, description="Longest pause between retries.")
    influx_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest wait for InfluxDB's answer to one write."
    )
    stalled_after_s: float = Field(
        default=60.0,
        gt=0,
        description="/healthz says 503 when messages have waited this long without any "
        "being stored (InfluxDB answering too slowly, or not at all, or the state file "
        "refusing writes).",
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(
        default=9108, description="Port of /metrics (Prometheus) and /healthz; 0 turns both off."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for people, json for a log collector (one object a line)."
    )

    @field_validator("retention_days")
    @classmethod
    def _at_least_a_year(cls, days: int) -> int:
        return check_retention_days(days)

    @property
    def so_far_runs(self) -> int:
        """Rollup runs between two computations of a sensor's day under way."""
        return max(1, round(self.so_far_interval_s / self.rollup_interval_s))
