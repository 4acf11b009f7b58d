"""The hub's signing key and delivery certificates signed with it, made in the test.

The certificates have the fields the alerts service reads (kind, version, delivery,
to, issued_at, conventions, preliminary) and are signed by `coldchain-report`'s own
signing (`coldchain_reports.signing.sign`); the key list is written in the domain's
format (`coldchain.signatures.KeyList`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from coldchain.signatures import (
    CERTIFICATE_KIND,
    CERTIFICATE_VERSION,
    KeyList,
    PublicKey,
    Revocation,
    key_id,
    utc_text,
)
from coldchain_reports import signing
from coldchain_reports.keys import SigningKey

#: The hand-over of the deliveries: long enough ago that a certificate issued now is final.
HANDOVER = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
#: The most a reading covers (1.5 recording intervals of 60 s).
REACH_S = 90.0
#: The hub the key list names.
HUB_NAME = "Testhub Dortmund"


@dataclass
class HubKey:
    private: Ed25519PrivateKey
    valid_from: datetime
    revoked: tuple[datetime, str] | None = None

    @property
    def key_id(self) -> str:
        return key_id(self.private.public_key())

    def entry(self) -> PublicKey:
        revoked = Revocation(*self.revoked) if self.revoked else None
        return PublicKey(self.key_id, self.private.public_key(), self.valid_from, None, revoked)


def new_key(valid_from: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> HubKey:
    return HubKey(Ed25519PrivateKey.generate(), valid_from)


def key_list_text(*keys: HubKey) -> str:
    listed = KeyList(tuple(key.entry() for key in keys), HUB_NAME, datetime.now(UTC))
    return json.dumps(listed.to_json(), indent=2)


def write_key_list(path: Path, *keys: HubKey) -> Path:
    path.write_text(key_list_text(*keys), encoding="utf-8")
    return path


def certificate(
    delivery: str | None = None,
    issued_at: datetime | None = None,
    handover: datetime = HANDOVER,
    **fields: Any,
) -> dict[str, Any]:
    """An unsigned delivery certificate (the fields the alerts service reads, and a few);
    `delivery` is the delivery note's number."""
    issued = issued_at or handover + timedelta(hours=1)
    document = {
        "kind": CERTIFICATE_KIND,
        "version": CERTIFICATE_VERSION,
        "delivery": {
            "delivery_note": delivery or f"LS-{uuid.uuid4().hex[:8]}",
            "goods": [{"description": "Putenbrust frisch", "lot": "L-260302-07"}],
            "receiver": {"name": "Betriebskantine Mengede"},
            "responsible": {"name": "Sabine Keller", "role": "Fahrerin"},
        },
        "site": "dortmund-hub",
        "sensor": "van-1.chilled",
        "from": {"utc": utc_text(handover - timedelta(hours=2))},
        "to": {"utc": utc_text(handover)},
        "limits": {"max_c": 7.0, "min_c": 0.0, "regulatory_max_c": 7.0},
        "max_c": 5.1,
        "conventions": {"reading_holds_at_most_s": REACH_S},
        "issued_at": utc_text(issued),
        "preliminary": issued < handover + timedelta(seconds=REACH_S),
    }
    return document | fields


def sign(document: dict[str, Any], key: HubKey) -> dict[str, Any]:
    return signing.sign(document, SigningKey(key.key_id, key.private))


def file_text(document: dict[str, Any]) -> str:
    """As `coldchain-report certificate` writes a file: indented, a newline at the end."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
