"""Alerts service settings: environment variables prefixed COLDCHAIN_ALERTS_, or a .env file."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from coldchain_alerts.notify.sms import SmsTemplate
from coldchain_io.influx import InfluxSettings
from coldchain_io.mqtt import MqttSettings
from coldchain_io.nats import NatsSettings


class AlertsSettings(MqttSettings, InfluxSettings, NatsSettings):
    model_config = SettingsConfigDict(env_prefix="COLDCHAIN_ALERTS_", extra="forbid")

    transport: Literal["mqtt", "nats"] = Field(
        default="mqtt",
        description="mqtt: alert events from the MQTT broker (the MQTT settings). nats: "
        "from stream ALERTS of the NATS cluster (the NATS settings), one durable consumer "
        "shared by all instances.",
    )
    database_url: str = Field(
        default="sqlite:///var/alerts/alerts.sqlite3",
        description="SQLAlchemy URL; postgresql+psycopg://user:pass@host/db in production.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of the proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed, comma-separated; none by default.",
    )
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
    influx_url: str = Field(
        default="http://localhost:8086",
        description="InfluxDB for alert actions, the audit chain's copy and alert curves; "
        "empty to run without.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs session cookies; at least 32 characters. Unset: a random key "
        "per start, so everyone logs in again after a restart.",
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="Send the session cookie over HTTPS only; unset: when public_url is https.",
    )
    session_hours: float = Field(
        default=12.0,
        gt=0,
        description="How long a login lasts without a page being opened (the pages' own "
        "refreshes do not count).",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        description="Largest request body accepted, in bytes; a larger one is refused (413) "
        "before it is read.",
    )
    escalation_window_s: float = Field(
        default=30.0,
        ge=0,
        description="A new alert waits this long before the first message, so that a flood "
        "of alerts at one site goes out as one message per level.",
    )
    leader_lease_s: float = Field(
        default=10.0,
        ge=2,
        le=300,
        description="With several instances on one PostgreSQL database, only the leader "
        "escalates and runs the scheduled jobs: a leader that stops answering for this "
        "long is replaced (after a crash at once).",
    )
    audit_verify_interval_s: float = Field(
        default=3600.0, gt=0, description="How often the audit-log chain is verified."
    )

    # --- The hub's backups (coldchain_alerts.backups; docs/operations.md) ---------------
    backup_root: Path | None = Field(
        default=None,
        description="Where coldchain-admin serve makes its backups (its "
        "COLDCHAIN_ADMIN_BACKUP_ROOT), read only: without a recent complete backup there, "
        "every site of the fleet gets a maintenance alert. Unset: not watched.",
    )
    backup_max_age_h: float = Field(
        default=26.0,
        gt=0,
        description="A maintenance alert is raised when the newest complete backup is older.",
    )
    backup_check_interval_s: float = Field(
        default=300.0, gt=0, description="How often the backup root is looked at."
    )

    # --- The calibration register (coldchain_alerts.calibration; docs/compliance.md) ----
    calibration_check_interval_s: float = Field(
        default=3600.0,
        gt=0,
        description="How often each probe's latest calibration check is looked at: one "
        "overdue or beyond ±1 K raises the maintenance alert probe_unverified.",
    )

    # --- Registering gateways (coldchain_alerts.gateways; docs/gateway.md) -------------
    dynsec_username: str = Field(
        default="broker-admin",
        description="The broker's admin account, which changes accounts through the "
        "dynamic-security plugin; it connects like the service (MQTT_HOST, _PORT, _TLS).",
    )
    dynsec_password: SecretStr | None = Field(
        default=None, description="The admin account's password; unset: no gateway registering."
    )
    gateway_mqtt_host: str | None = Field(
        default=None,
        description="The broker's name gateways connect to, given in their bundles; "
        "unset: no gateway registering.",
    )
    gateway_mqtt_port: int = Field(
        default=8883, ge=1, le=65535, description="The port given in gateways' bundles."
    )
    gateway_mqtt_tls: bool = Field(default=True, description="Bundles tell gateways to use TLS.")
    gateway_ca_file: Path | None = Field(
        default=None,
        description="The certificate of the authority that signed the broker's, put into "
        "bundles (PEM); needed with gateway_mqtt_tls.",
    )
    # --- Partners: delivery certificates for kitchens (docs/partners.md) ---------------
    public_keys: Path | None = Field(
        default=None,
        description="The hub's public key list (JSON, as `coldchain-report key create` writes "
        "it), read at each posted certificate; unset: every certificate is refused.",
    )
    partner_webhook_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="Longest wait for a partner's webhook to answer."
    )
    partner_webhook_retry_s: float = Field(
        default=30.0,
        gt=0,
        description="Wait before the first retry of a failed webhook; it doubles (with "
        "jitter) up to partner_webhook_retry_max_s.",
    )
    partner_webhook_retry_max_s: float = Field(
        default=3600.0, gt=0, description="Longest wait between two webhook attempts."
    )
    partner_webhook_give_up_s: float = Field(
        default=3 * 24 * 3600.0,
        gt=0,
        description="A webhook that has failed for this long since the certificate came is "
        "given up (`partner list` shows it); the partner can still fetch it by API.",
    )
    partner_webhook_http_loopback: bool = Field(
        default=False,
        description="Allow http:// webhook URLs to loopback addresses (tests, the demo); "
        "otherwise only https:// URLs are taken.",
    )

    # --- Notifications (coldchain_alerts.notify; docs/configuration.md) ----------------
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL people open the service at; links in notifications start with it.",
    )
    notify_timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="Longest wait for one notification server."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server; unset: no e-mail.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_ca_file: Path | None = Field(
        default=None, description="CA certificate to check the SMTP server; system CAs if unset."
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = Field(
        default=None, validate_default=True, description="From address; needed with smtp_host."
    )
    ntfy_url: str | None = Field(default=None, description="ntfy server; unset: no push.")
    ntfy_token: SecretStr | None = None
    sms_url: str | None = Field(default=None, description="HTTP SMS gateway; unset: no SMS.")
    sms_method: Literal["POST", "PUT", "GET"] = "POST"
    sms_content_type: Literal["form", "json"] = "form"
    sms_headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers (JSON); {token} allowed in values."
    )
    sms_username: str | None = None
    sms_password: SecretStr | None = None
    sms_token: SecretStr | None = None
    sms_body: str | None = Field(
        default=None,
        validate_default=True,
        description="Request body template with {to}, {text}, {token}; unset: a default per type.",
    )

    @field_validator(
        "smtp_host",
        "smtp_ca_file",
        "smtp_username",
        "smtp_password",
        "smtp_from",
        "ntfy_url",
        "ntfy_token",
        "sms_url",
        "sms_username",
        "sms_password",
        "sms_token",
        "sms_body",
        "dynsec_password",
        "gateway_mqtt_host",
        "gateway_ca_file",
        "public_keys",
        "backup_root",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # compose.yaml passes optional settings as `${VAR:-}`: empty when not given.
        return None if value == "" else value

    @field_validator("backup_root")
    @classmethod
    def _backups_need_sites(cls, root: Path | None, info: ValidationInfo) -> Path | None:
        if root is not None and info.data.get("fleet") is None:
            raise ValueError(
                "the maintenance alert of a missing backup goes to the fleet's sites: "
                "set COLDCHAIN_ALERTS_FLEET too"
            )
        return root

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return (
            [part.strip() for part in value.split(",") if part.strip()]
            if isinstance(value, str)
            else value
        )

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            try:
                ipaddress.ip_network(proxy)
            except ValueError:
                raise ValueError(
                    f"{proxy!r} is not an IP address or network (a network has no host bits "
                    "set: 10.0.0.0/8, not 10.0.0.1/8)"
                ) from None
        return proxies

    @field_validator("public_url", "ntfy_url")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    # Checks of one field against those before it (not of the whole model): their
    # errors then show only that field's value, never a password or token.
    @field_validator("smtp_from")
    @classmethod
    def _from_with_host(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None and info.data.get("smtp_host") is not None:
            raise ValueError("set the From address of e-mail (smtp_host is set)")
        return value

    @field_validator("sms_body")
    @classmethod
    def _sms_template_works(cls, value: str | None, info: ValidationInfo) -> str | None:
        data = info.data
        if data.get("sms_url") is None or "sms_content_type" not in data:
            return value
        token = data.get("sms_token")
        SmsTemplate.check(
            data["sms_method"],
            data["sms_content_type"],
            value,
            data.get("sms_headers"),
            data.get("sms_username"),
            token.get_secret_value() if token else None,
        )
        return value
