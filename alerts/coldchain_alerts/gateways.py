"""Gateways' broker accounts: register one and hand out its bundle once; retire one at once.

Registering creates the gateway's account and role in the broker's dynamic-security
plugin (coldchain_io.dynsec) with a random password and returns the provisioning
bundle that `coldchain-gateway enroll` installs: the only copy of the password. The
service keeps a SHA-256 of it (the password is random, 32 bytes: a plain hash
suffices) and the audit entry; a second registration of the same gateway is
refused, so a bundle cannot be fetched twice. Retiring disables the account, which
closes its live connection, and records who, when and why.

On the NATS cluster (`COLDCHAIN_ALERTS_TRANSPORT=nats`) the gateways' accounts are in
the nodes' `nats.conf`, which the service does not write: registering is refused, and
retiring a gateway of the fleet records the retirement (every worker then refuses
what it took after) while its account stays until it is taken out of `nats.conf`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.contract import RetiredGateway, RetiredGateways
from coldchain_alerts import audit, registry
from coldchain_alerts.models import GatewayIdentity
from coldchain_alerts.people import Conflict, NotFound
from coldchain_alerts.settings import AlertsSettings
from coldchain_io import dynsec, fleetfile

#: The format of a bundle; `coldchain-gateway enroll` refuses any other.
BUNDLE_VERSION = 1


class NotConfigured(Exception):
    """The service lacks the settings to register gateways; the message names them."""


def admin(settings: AlertsSettings) -> dynsec.DynsecAdmin:
    """The broker's admin, connecting as the service does, with the admin account."""
    if account_in_nats_conf(settings):
        raise NotConfigured(
            "on the NATS cluster gateways' accounts are in the nodes' nats.conf, which this "
            "service does not write: add the gateway's user there (docs/scaling.md)"
        )
    if settings.dynsec_password is None or settings.gateway_mqtt_host is None:
        raise NotConfigured(
            "registering gateways needs COLDCHAIN_ALERTS_DYNSEC_PASSWORD (the broker's "
            "admin account) and COLDCHAIN_ALERTS_GATEWAY_MQTT_HOST (the broker's name for "
            "gateways); see docs/gateway.md"
        )
    if settings.gateway_mqtt_tls and settings.gateway_ca_file is None:
        raise NotConfigured(
            "bundles for TLS need the authority's certificate: set "
            "COLDCHAIN_ALERTS_GATEWAY_CA_FILE, or COLDCHAIN_ALERTS_GATEWAY_MQTT_TLS=false"
        )
    as_admin = settings.model_copy(
        update={
            "mqtt_username": settings.dynsec_username,
            "mqtt_password": settings.dynsec_password,
        }
    )
    return dynsec.DynsecAdmin(as_admin)


def register(
    session: Session, settings: AlertsSettings, actor: str, site: str, gateway: str
) -> dict[str, Any]:
    """Create the gateway's broker account and return its bundle; the caller commits.

    The row and the audit entry are written first and the account made last, so a
    refused account leaves nothing once the caller rolls back.
    """
    broker = admin(settings)
    ca_certificate = _ca_certificate(settings)
    if session.get(GatewayIdentity, (site, gateway)) is not None:
        raise Conflict(
            f"gateway {site}/{gateway} is registered already; its bundle was handed out "
            "once and is not kept. Retire it and register it under a new id"
        )
    password = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.add(
        GatewayIdentity(
            site=site,
            gateway=gateway,
            password_sha256=hashlib.sha256(password.encode()).hexdigest(),
            created_at=now,
            created_by=actor,
        )
    )
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="gateway.registered",
        subject=f"gateway:{site}/{gateway}",
        detail={"username": dynsec.gateway_username(site, gateway)},
        sites=(site,),
    )
    broker.create_gateway(site, gateway, password)
    return _bundle(settings, site, gateway, password, ca_certificate, now)


def retire(
    session: Session, settings: AlertsSettings, actor: str, site: str, gateway: str, reason: str
) -> GatewayIdentity:
    """Disable the gateway's account (its connection closes at once); the caller commits.
    On the cluster only the retirement is recorded (`account_in_nats_conf`)."""
    on_cluster = account_in_nats_conf(settings)
    broker = None if on_cluster else admin(settings)
    row = session.get(GatewayIdentity, (site, gateway), with_for_update=True)
    if row is None and on_cluster:
        row = _of_the_fleet(session, settings, actor, site, gateway)
    if row is None:
        raise NotFound(f"gateway {site}/{gateway} was not registered through this service")
    if row.retired_at is not None:
        raise Conflict(f"gateway {site}/{gateway} was retired at {row.retired_at.isoformat()}")
    row.retired_at, row.retired_by, row.reason = datetime.now(UTC), actor, reason
    audit.append(
        session,
        actor=actor,
        action="gateway.retired",
        subject=f"gateway:{site}/{gateway}",
        detail={"reason": reason, "account": "nats.conf" if on_cluster else "disabled"},
        at=row.retired_at,
        sites=(site,),
    )
    if broker is not None:
        broker.disable(dynsec.gateway_username(site, gateway))
    return row


def account_in_nats_conf(settings: AlertsSettings) -> bool:
    """Whether the gateways' accounts are in the cluster's nats.conf, out of our reach."""
    return settings.transport == "nats"


def _of_the_fleet(
    session: Session, settings: AlertsSettings, actor: str, site: str, gateway: str
) -> GatewayIdentity | None:
    """A row for a gateway of the fleet that was never registered here (the cluster's
    gateways are not): no password hash, recorded by whoever retires it."""
    fallback = fleetfile.load(settings.fleet) if settings.fleet is not None else None
    fleet = registry.current_fleet(session, fallback)
    found = fleet.gateway(gateway) if fleet is not None else None
    if found is None or found[0].id != site:
        return None
    row = GatewayIdentity(
        site=site,
        gateway=gateway,
        password_sha256="",
        created_at=datetime.now(UTC),
        created_by=actor,
    )
    session.add(row)
    return row


def retired(session: Session) -> RetiredGateways:
    """Every gateway retired so far, as ingest receives the list (coldchain.contract)."""
    rows = session.scalars(
        select(GatewayIdentity)
        .where(GatewayIdentity.retired_at.is_not(None))
        .order_by(GatewayIdentity.site, GatewayIdentity.gateway)
    )
    return RetiredGateways(
        gateways=[
            RetiredGateway(site=row.site, gateway=row.gateway, retired_at=row.retired_at)
            for row in rows
            if row.retired_at is not None
        ]
    )


def listing(session: Session) -> list[GatewayIdentity]:
    return list(
        session.scalars(
            select(GatewayIdentity).order_by(GatewayIdentity.site, GatewayIdentity.gateway)
        )
    )


def _ca_certificate(settings: AlertsSettings) -> str | None:
    if settings.gateway_ca_file is None:
        return None
    try:
        return settings.gateway_ca_file.read_text()
    except OSError as exc:
        raise NotConfigured(
            f"cannot read COLDCHAIN_ALERTS_GATEWAY_CA_FILE ({settings.gateway_ca_file}): "
            f"{exc.strerror}"
        ) from None


def _bundle(
    settings: AlertsSettings,
    site: str,
    gateway: str,
    password: str,
    ca_certificate: str | None,
    issued_at: datetime,
) -> dict[str, Any]:
    prefix = "COLDCHAIN_GATEWAY_"
    return {
        "coldchain_gateway_bundle": BUNDLE_VERSION,
        "site": site,
        "gateway": gateway,
        "issued_at": issued_at.isoformat(),
        "ca_certificate": ca_certificate,
        "settings": {
            f"{prefix}SITE": site,
            f"{prefix}ID": gateway,
            f"{prefix}MQTT_HOST": settings.gateway_mqtt_host,
            f"{prefix}MQTT_PORT": str(settings.gateway_mqtt_port),
            f"{prefix}MQTT_TLS": "true" if settings.gateway_mqtt_tls else "false",
            f"{prefix}MQTT_USERNAME": dynsec.gateway_username(site, gateway),
            f"{prefix}MQTT_PASSWORD": password,
        },
    }
