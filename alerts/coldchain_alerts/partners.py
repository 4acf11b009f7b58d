"""Partners and the delivery certificates they receive: stored once, each change audited.

A partner (a receiving kitchen, the regional goods-exchange platform) has an API key
(shown once, stored as SHA-256 like API tokens) and, optionally, a webhook URL with a
secret that signs what is sent there. The hub posts a final, signed delivery
certificate for a partner; it is checked against the hub's key list
(`coldchain.signatures`), stored once per partner, and queued for the partner's
webhook (`partner_webhook` sends it). docs/partners.md is the partner's side.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.signatures import (
    FinalCertificate,
    InvalidKeyList,
    NotVerified,
    final_certificate,
    key_list,
    parse_document,
)
from coldchain_alerts import audit
from coldchain_alerts.auth import token_digest
from coldchain_alerts.models import MAX_URL, Partner, PartnerDelivery
from coldchain_alerts.people import Conflict, NotFound

KEY_PREFIX = "ccp_"
SECRET_PREFIX = "whsec_"
#: Partner ids: lower-case letters, digits and . _ -, at most 64 characters.
PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class CertificateRefused(ValueError):
    """The posted document is not a final delivery certificate the hub signed; says why."""


class KeyListUnavailable(RuntimeError):
    """The hub's key list is not configured or cannot be read: nothing can be verified."""


@dataclass(frozen=True)
class NewPartner:
    partner: Partner
    api_key: str
    webhook_secret: str | None


def webhook_url_refusal(url: str, http_loopback: bool) -> str | None:
    """Why `url` cannot be a partner's webhook URL, or None: https only, or http to a
    loopback address where `http_loopback` allows it (tests, the demo)."""
    if len(url) > MAX_URL:
        return f"the webhook URL is longer than {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError for a port that is no number or out of range
    except ValueError as exc:
        return f"the webhook URL is not a URL ({exc})"
    if not host:
        return "the webhook URL names no host"
    if parts.username or parts.password:
        return "the webhook URL carries credentials; the partner checks our signature instead"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and http_loopback and _loopback(host):
        return None
    return (
        "the webhook URL must start with https:// (http:// only to a loopback address, "
        "with COLDCHAIN_ALERTS_PARTNER_WEBHOOK_HTTP_LOOPBACK=true)"
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_partner(
    session: Session,
    actor: str,
    partner_id: str,
    name: str,
    webhook_url: str | None,
    http_loopback: bool,
    now: datetime,
) -> NewPartner:
    """A new partner with its API key and webhook secret (each returned only here)."""
    if not PARTNER_ID.match(partner_id):
        raise ValueError(
            f"{partner_id!r} is not a partner id: lower-case letters, digits and . _ -, "
            "at most 64 characters, starting with a letter or digit"
        )
    if not name.strip() or len(name) > 200:
        raise ValueError("give the partner's name (--name), at most 200 characters")
    if webhook_url is not None:
        refusal = webhook_url_refusal(webhook_url, http_loopback)
        if refusal:
            raise ValueError(refusal)
    if session.get(Partner, partner_id) is not None:
        raise Conflict(f"a partner {partner_id!r} exists already (revoked ones too)")
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32) if webhook_url else None
    partner = Partner(
        id=partner_id,
        name=name,
        key_sha256=token_digest(api_key),
        webhook_url=webhook_url,
        webhook_secret=secret,
        created_at=now,
    )
    session.add(partner)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="partner.created",
        subject=f"partner:{partner_id}",
        detail={"name": name, "webhook_url": webhook_url},
        at=now,
    )
    return NewPartner(partner, api_key, secret)


def all_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.id)))


def get_partner(session: Session, partner_id: str) -> Partner:
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(f"no partner {partner_id!r}; `coldchain-alerts partner list` lists them")
    return partner


def revoke_partner(session: Session, actor: str, partner_id: str, now: datetime) -> Partner:
    """From now on the partner's key is refused and nothing more is sent to its webhook."""
    partner = get_partner(session, partner_id)
    if partner.revoked_at is not None:
        return partner
    partner.revoked_at = now
    pending = session.scalars(
        select(PartnerDelivery).where(
            PartnerDelivery.partner_id == partner_id, PartnerDelivery.webhook_state == "pending"
        )
    ).all()
    for row in pending:
        row.webhook_state, row.webhook_next_at = "stopped", None
        row.webhook_error, row.webhook_done_at = "the partner was revoked", now
    stopped = len(pending)
    audit.append(
        session,
        actor=actor,
        action="partner.revoked",
        subject=f"partner:{partner_id}",
        detail={"webhooks_stopped": stopped},
        at=now,
    )
    return partner


def partner_for_key(session: Session, api_key: str) -> Partner | None:
    """The unrevoked partner whose API key this is, or None."""
    partner = session.scalars(
        select(Partner).where(Partner.key_sha256 == token_digest(api_key))
    ).one_or_none()
    if partner is None or partner.revoked_at is not None:
        return None
    return partner


def verified_certificate(text: bytes, keys_path: Path | None) -> FinalCertificate:
    """The posted `text` as a final delivery certificate the hub signed.

    Fails closed: without a readable key list nothing is accepted (KeyListUnavailable);
    a document that is not shown final and signed raises CertificateRefused with why.
    """
    if keys_path is None:
        raise KeyListUnavailable(
            "no key list configured: set COLDCHAIN_ALERTS_PUBLIC_KEYS to the hub's public "
            "key list; until then every certificate is refused"
        )
    try:
        keys = key_list(keys_path.read_text(encoding="utf-8"), str(keys_path))
    except OSError as exc:
        raise KeyListUnavailable(
            f"cannot read the key list {keys_path} ({exc.strerror}); check "
            "COLDCHAIN_ALERTS_PUBLIC_KEYS"
        ) from None
    except InvalidKeyList as exc:
        raise KeyListUnavailable(str(exc)) from None
    try:
        document = parse_document(text.decode("utf-8"), "the body")
    except UnicodeDecodeError as exc:
        raise CertificateRefused(f"the body is not UTF-8 ({exc.reason})") from None
    except NotVerified as exc:
        raise CertificateRefused(exc.reason) from None
    except RecursionError:
        raise CertificateRefused("the body nests deeper than any certificate does") from None
    try:
        return final_certificate(document, keys)
    except NotVerified as exc:
        raise CertificateRefused(exc.reason) from None


def store(
    session: Session,
    actor: str,
    partner: Partner,
    certificate: FinalCertificate,
    text: str,
    now: datetime,
) -> tuple[PartnerDelivery, bool]:
    """Keep the certificate for the partner and queue it for its webhook; returns the
    delivery and whether it is new (False: the same certificate was stored before)."""
    stored = session.scalars(
        select(PartnerDelivery).where(
            PartnerDelivery.partner_id == partner.id,
            PartnerDelivery.sha256 == certificate.sha256,
        )
    ).one_or_none()
    if stored is not None:
        return stored, False
    delivery = PartnerDelivery(
        partner_id=partner.id,
        sha256=certificate.sha256,
        certificate=text,
        delivery=certificate.delivery,
        ended_at=certificate.ended_at,
        issued_at=certificate.issued_at,
        key_id=certificate.key_id,
        received_at=now,
        received_from=actor,
        webhook_state="pending" if partner.webhook_url else "none",
        webhook_attempts=0,
        webhook_next_at=now if partner.webhook_url else None,
    )
    session.add(delivery)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="partner.delivery_stored",
        subject=f"partner:{partner.id}",
        detail={
            "certificate_sha256": certificate.sha256,
            "delivery": certificate.delivery,
            "key_id": certificate.key_id,
        },
        at=now,
    )
    return delivery, True


def deliveries(
    session: Session, partner_id: str, before: int | None, limit: int
) -> list[PartnerDelivery]:
    """The partner's deliveries, newest first, those stored before `before` (a row id)."""
    query = select(PartnerDelivery).where(PartnerDelivery.partner_id == partner_id)
    if before is not None:
        query = query.where(PartnerDelivery.id < before)
    return list(session.scalars(query.order_by(PartnerDelivery.id.desc()).limit(limit)))


def delivery(session: Session, partner_id: str, sha256: str) -> PartnerDelivery | None:
    """The partner's delivery with this id; None for another partner's, as for none."""
    return session.scalars(
        select(PartnerDelivery).where(
            PartnerDelivery.partner_id == partner_id, PartnerDelivery.sha256 == sha256
        )
    ).one_or_none()


def failed_webhooks(session: Session, partner_id: str) -> list[PartnerDelivery]:
    """The partner's deliveries whose webhook failed (gave up or was refused)."""
    return list(
        session.scalars(
            select(PartnerDelivery)
            .where(
                PartnerDelivery.partner_id == partner_id,
                PartnerDelivery.webhook_state == "failed",
            )
            .order_by(PartnerDelivery.id)
        )
    )
