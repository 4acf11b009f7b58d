"""Gateway settings: environment variables prefixed COLDCHAIN_GATEWAY_, or a .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import AwareDatetime, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from coldchain.contract import Id, SensorId
from coldchain_io.mqtt import MqttSettings


class GatewaySettings(MqttSettings):
    model_config = SettingsConfigDict(env_prefix="COLDCHAIN_GATEWAY_", extra="forbid")

    mqtt_protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description="MQTT version to speak: 5 for Mosquitto, 3.1.1 for the NATS cluster "
        "(its MQTT listener refuses MQTT 5).",
    )
    mqtt_failover: list[str] = Field(
        default_factory=list,
        description='Further brokers as a JSON list of "host:port" (the NATS cluster\'s other '
        "nodes): when the broker in use cannot be reached, or the connection to it is lost, "
        "the gateway connects to the next one, round the list.",
    )

    site: Id
    id: Id = Field(description="This gateway's id, as in the fleet file.")
    outbox: Path = Field(default=Path("var/gateway/outbox.sqlite3"))
    outbox_budget_readings: int | None = Field(
        default=2_000_000,
        gt=0,
        description="Most readings the outbox holds before it thins the oldest "
        "(about 150 bytes each on disk); unset: no limit.",
    )
    clock_jump_tolerance_s: float = Field(
        default=10.0,
        gt=0,
        description="A wall clock this far off the monotonic clock has jumped.",
    )
    source: str = Field(
        default="sim",
        pattern=r"^[a-z][a-z0-9_-]{0,39}$",
        description="ds18b20: 1-Wire probes; any other name: the installed source plugin of "
        "that name (sim: the simulated firmware of coldchain-sim).",
    )
    onewire_root: Path = Field(
        default=Path("/sys/bus/w1/devices"), description="Where the kernel lists 1-Wire devices."
    )
    onewire_probes: dict[str, SensorId] = Field(
        default_factory=dict,
        description='Probe id to sensor id, as JSON: {"28-0316a2794eff": "van-1.chilled"}.',
    )
    sim_scenario: Path = Path("firmware-sim/scenarios/dortmund-hub.yaml")
    interval_s: float = Field(default=60.0, gt=0, description="Seconds between samples.")
    clock: Literal["live", "replay"] = Field(
        default="live",
        description="live: readings carry the wall clock. replay: readings start at "
        "replay_start and advance interval_s per sample, `speed` times faster than real time.",
    )
    speed: float = Field(
        default=1.0,
        gt=0,
        description="live: simulated physics seconds per real second (the demo uses 60). "
        "replay: reading-clock seconds per real second.",
    )
    replay_start: AwareDatetime | None = None
    ticks: int | None = Field(default=None, ge=0, description="Stop sampling after this many.")
    exit_when_drained: bool = Field(
        default=False, description="Exit once `ticks` samples are all confirmed durable."
    )
    redeliver_after_s: float = Field(
        default=30.0,
        gt=0,
        description="Publish unconfirmed messages again when no durable mark came for this long.",
    )
    window: int = Field(default=200, gt=0, description="Most messages in flight unconfirmed.")
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30

    log_format: Literal["text", "json"] = Field(
        default="text", description="text for people, json for a log collector (one object a line)."
    )

    @field_validator("mqtt_failover")
    @classmethod
    def _host_and_port(cls, brokers: list[str]) -> list[str]:
        for broker in brokers:
            host, _, port = broker.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{broker!r} is not host:port (broker.example:1883, say)")
        return brokers

    def brokers(self) -> list[tuple[str, int]]:
        """Every broker to connect to, in turn: mqtt_host first, then mqtt_failover."""
        further = [broker.rpartition(":") for broker in self.mqtt_failover]
        return [(self.mqtt_host, self.mqtt_port)] + [(host, int(port)) for host, _, port in further]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.clock == "replay" and self.replay_start is None:
            raise ValueError("clock=replay needs replay_start (an ISO 8601 time with offset)")
        if self.clock == "replay" and self.source == "ds18b20":
            raise ValueError("clock=replay is for a simulator; real probes read the wall clock")
        if self.source == "ds18b20" and not self.onewire_probes:
            raise ValueError("source=ds18b20 needs onewire_probes (probe id to sensor id)")
        return self
