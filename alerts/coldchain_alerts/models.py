"""Database models of the alerts service (SQLAlchemy 2). Migrations: `migrations/`.

Reading times (when a condition began, was raised, cleared) come from the alert
events; every other time is the service's clock. All times are UTC.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coldchain.alerting import Standing, standing
from coldchain_alerts.db import Base, UtcDateTime

#: Longest webhook URL stored, written out (punycode host, percent-encoded path).
MAX_URL = 2000


class Alert(Base):
    """One alarm condition at one subject, from the first raise until someone closes it.

    The condition may clear and fire again, or get more severe, while the alert is
    not closed: each raise is an `Occurrence` of the same alert.
    """

    __tablename__ = "alert"
    __table_args__ = (
        # At most one alert per condition is not closed: a repeat updates it.
        Index(
            "ix_alert_condition_unclosed",
            "condition",
            unique=True,
            postgresql_where=text("status <> 'closed'"),
            sqlite_where=text("status <> 'closed'"),
        ),
        Index("ix_alert_site_opened", "site", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    condition: Mapped[str] = mapped_column(String(300), index=True)
    site: Mapped[str] = mapped_column(String(64))
    asset: Mapped[str | None] = mapped_column(String(64), index=True)
    sensor: Mapped[str | None] = mapped_column(String(130))
    gateway: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    """The most severe level reached."""
    status: Mapped[str] = mapped_column(String(16), index=True)
    active: Mapped[bool] = mapped_column(Boolean)
    """The condition is present now (raised and not cleared)."""
    occurrences: Mapped[int] = mapped_column(Integer, default=1)

    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """Reading time the condition first began."""
    raised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    value_c: Mapped[float | None] = mapped_column(Float)
    value_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """Reading time of `value_c`, the latest reading the rules reported."""
    peak_c: Mapped[float | None] = mapped_column(Float)
    limit_c: Mapped[float | None] = mapped_column(Float)
    regulatory_limit_c: Mapped[float | None] = mapped_column(Float)
    delay_s: Mapped[float] = mapped_column(Float, default=0.0)
    duration_s: Mapped[float | None] = mapped_column(Float)
    degree_minutes: Mapped[float | None] = mapped_column(Float)

    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledge_comment: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    cause: Mapped[str | None] = mapped_column(Text)
    corrective_action: Mapped[str | None] = mapped_column(Text)
    product_decision: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    close_comment: Mapped[str | None] = mapped_column(Text)
    closed_while_active: Mapped[bool] = mapped_column(Boolean, default=False)
    """Closed while the condition was present, with a reason in `close_comment`."""

    # Escalation progress since the alert (last) became open; coldchain.escalation.Progress.
    escalation_since: Mapped[datetime] = mapped_column(UtcDateTime)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalation_level_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalation_level_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    told_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    occurrence_list: Mapped[list[Occurrence]] = relationship(
        back_populates="alert", order_by="Occurrence.started_at"
    )

    @property
    def standing(self) -> Standing:
        """What the alert asks of people now (coldchain.alerting.standing)."""
        return standing(self)


class Occurrence(Base):
    """One raise of an alert's condition: the events of one key."""

    __tablename__ = "alert_occurrence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), index=True)
    rule: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    raised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    peak_c: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    degree_minutes: Mapped[float | None] = mapped_column(Float)

    alert: Mapped[Alert] = relationship(back_populates="occurrence_list")


class AuditEntry(Base):
    """One entry of the append-only audit log, chained to the previous one by SHA-256."""

    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300))
    alert_id: Mapped[int | None] = mapped_column(Integer, index=True)
    detail: Mapped[str] = mapped_column(Text)
    """Canonical JSON (sorted keys, no spaces) of what happened."""
    prev_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))


class AuditSite(Base):
    """A site an audit entry concerns, fixed when the entry is written: a user of some
    sites reads the entries whose sites are all theirs (coldchain_alerts.audit.of_sites).

    Not part of the chain's hashes: which entries a user may read is access, not record.
    """

    __tablename__ = "audit_site"

    seq: Mapped[int] = mapped_column(ForeignKey("audit_entry.seq"), primary_key=True)
    site: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class AuditHead(Base):
    """The chain's last entry: one row, locked while appending so entries never fork."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    """The last entry's time: entries get strictly increasing times."""


class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(2), default="de")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    """argon2id; None for an account that only uses API tokens."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class UserSite(Base):
    """A site a user works at, with the user's role there (coldchain_alerts.access).

    A user without rows works at every site with the role of `User.role`; a user with
    rows sees and changes only their sites' alerts, fleet, gateways and policies.
    """

    __tablename__ = "user_site"
    __table_args__ = (UniqueConstraint("user_id", "site"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    site: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))


class ApiToken(Base):
    """A token for machines. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    user: Mapped[User] = relationship()


class Contact(Base):
    """Someone who is told about alerts, over every channel with an address here."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    language: Mapped[str] = mapped_column(String(2), default="de")
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    ntfy_topic: Mapped[str | None] = mapped_column(String(64))
    webhook_url: Mapped[str | None] = mapped_column(String(MAX_URL))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class EscalationPolicy(Base):
    """How one site escalates; the site `*` applies to sites without their own policy."""

    __tablename__ = "escalation_policy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site: Mapped[str] = mapped_column(String(64), unique=True)
    ack_timeout_s: Mapped[int] = mapped_column(Integer)
    reminder_interval_s: Mapped[int | None] = mapped_column(Integer)

    levels: Mapped[list[PolicyLevel]] = relationship(
        back_populates="policy", order_by="PolicyLevel.level", cascade="all, delete-orphan"
    )


class PolicyLevel(Base):
    """One contact on one level of a policy."""

    __tablename__ = "escalation_level"
    __table_args__ = (UniqueConstraint("policy_id", "level", "contact_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("escalation_policy.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contact.id"))

    policy: Mapped[EscalationPolicy] = relationship(back_populates="levels")
    contact: Mapped[Contact] = relationship()


class InfluxOutbox(Base):
    """Line-protocol points waiting to be written to InfluxDB, in the order queued.

    Queued in the same transaction as what they record, so a point is never lost
    when InfluxDB is down; a background job writes and deletes them.
    """

    __tablename__ = "influx_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    line: Mapped[str] = mapped_column(Text)
    audit_seq: Mapped[int | None] = mapped_column(Integer)
    """The audit-log entry this point copies (`audit_chain`), else None."""


class InfluxDeadLetter(Base):
    """A point InfluxDB refused (not: was unavailable for), set aside so that the points
    behind it are written; kept until an operator replays it (`coldchain-alerts dead-letters`)."""

    __tablename__ = "influx_dead_letter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    """The point's id in the outbox: the order it was queued in."""
    line: Mapped[str] = mapped_column(Text)
    audit_seq: Mapped[int | None] = mapped_column(Integer, index=True)
    reason: Mapped[str] = mapped_column(Text)
    """InfluxDB's answer to the last attempt."""
    refused_at: Mapped[datetime] = mapped_column(UtcDateTime)
    """When InfluxDB last refused it."""
    attempts: Mapped[int] = mapped_column(Integer)
    """How often InfluxDB refused it: once when set aside, once more per replay."""


class RefusedEvent(Base):
    """An alert event that could not be stored: kept as received, with the reason."""

    __tablename__ = "refused_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    topic: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    """The payload as text (invalid UTF-8 replaced), cut to 64 KiB."""
    reason: Mapped[str] = mapped_column(Text)


class GatewayIdentity(Base):
    """A gateway's broker account, registered through the service (coldchain_alerts.gateways).

    The broker keeps the account and its password; this row keeps who registered and
    retired it, and a hash of the password its bundle carried, never the password. On
    the NATS cluster a gateway of the fleet gets its row when it is retired, without a
    hash (its account is in nats.conf).
    """

    __tablename__ = "gateway_identity"

    site: Mapped[str] = mapped_column(String(64), primary_key=True)
    gateway: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    retired_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Partner(Base):
    """A receiving kitchen or platform that gets delivery certificates: by its API key
    (`/partner/v1`, only its own deliveries) and, with a webhook URL, by webhook."""

    __tablename__ = "partner"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    """The API key's SHA-256; the key is shown once."""
    webhook_url: Mapped[str | None] = mapped_column(String(MAX_URL))
    webhook_secret: Mapped[str | None] = mapped_column(String(100))
    """Signs webhook bodies (HMAC-SHA256), so it is kept as it is; shown once."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PartnerDelivery(Base):
    """A final, signed delivery certificate for one partner, with its webhook's progress.

    The certificate is kept as the hub posted it; one certificate is stored once per
    partner (`sha256`, over its canonical form), however often it is posted.
    """

    __tablename__ = "partner_delivery"
    __table_args__ = (
        UniqueConstraint("partner_id", "sha256"),
        Index("ix_partner_delivery_webhook_due", "webhook_state", "webhook_next_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partner.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the certificate's RFC 8785 form: the delivery's id in the partner API."""
    certificate: Mapped[str] = mapped_column(Text)
    delivery: Mapped[str | None] = mapped_column(String(200))
    """The delivery (note) number the certificate names."""
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_from: Mapped[str] = mapped_column(String(64))

    webhook_state: Mapped[str] = mapped_column(String(16))
    """`none` (no webhook URL), `pending`, `delivered`, `failed` (gave up or refused),
    `stopped` (the partner was revoked)."""
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    webhook_next_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    webhook_error: Mapped[str | None] = mapped_column(Text)
    """Why the last attempt failed, or why it stopped."""
    webhook_done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class FleetVersion(Base):
    """One version of the fleet, never changed: a change makes the next number.

    `fleet` is the fleet file's content as JSON (coldchain.fleet.Fleet); it holds
    for readings from `valid_from` until the next version's (docs/fleet.md).
    """

    __tablename__ = "fleet_version"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    valid_from: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    fleet: Mapped[str] = mapped_column(Text)


class FleetRequest(Base):
    """A change of the fleet someone asked for: applied at once, or pending until a
    second person approves it (it loosens a critical limit), or refused by them."""

    __tablename__ = "fleet_request"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    """pending, applied or refused."""
    base_version: Mapped[int | None] = mapped_column(Integer)
    """The version it changes; approving it after another change is refused."""
    fleet: Mapped[str] = mapped_column(Text)
    """The fleet it makes, as JSON."""
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    loosens: Mapped[str] = mapped_column(Text, default="[]")
    """JSON list of what it loosens (coldchain.registry.loosened)."""
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int | None] = mapped_column(ForeignKey("fleet_version.number"))

    changes: Mapped[list[FleetChange]] = relationship(
        back_populates="request", order_by="FleetChange.id", cascade="all, delete-orphan"
    )


class FleetChange(Base):
    """One value a request changes: its path (coldchain.registry), old and new as JSON."""

    __tablename__ = "fleet_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("fleet_request.id"), index=True)
    path: Mapped[str] = mapped_column(String(300))
    old: Mapped[str] = mapped_column(Text)
    new: Mapped[str] = mapped_column(Text)

    request: Mapped[FleetRequest] = relationship(back_populates="changes")


class CalibrationCheck(Base):
    """One check of a probe against a reference instrument (EN 13486), as entered:
    never changed; a later check of the same probe supersedes it (calibration.py).
    Dates are local days of the probe's site."""

    __tablename__ = "calibration_check"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sensor: Mapped[str] = mapped_column(String(130), index=True)
    checked_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    reference: Mapped[str] = mapped_column(String(200))
    """The reference instrument, or the calibration certificate that names it."""
    deviation_k: Mapped[float | None] = mapped_column(Float)
    """The largest deviation from the reference found, in K; None: not recorded."""
    checked_by: Mapped[str | None] = mapped_column(String(200))
    entered_by: Mapped[str] = mapped_column(String(64))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime)
