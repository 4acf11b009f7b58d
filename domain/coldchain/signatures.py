"""Checking the hub's Ed25519 signatures: the key list read from text, the signed
message, and a delivery certificate judged final and signed. No I/O: callers read files.

The formats are those `coldchain-report` writes (docs/partners.md):

- the **key list** is JSON of kind `coldchain.public-keys`, version 1: per key its id
  (the first 16 hex digits of SHA-256 over the 32 raw public-key bytes), the public key
  in base64, the time from which it signs, the time it stopped (`valid_until`, null
  while it signs) and its revocation (`{"at", "reason"}`, null while not revoked);
- a signed document carries `signature: {algorithm, key_id, over, value}`; the value is
  Ed25519 over the RFC 8785 canonical JSON of the document without `signature.value`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from coldchain.errors import ColdchainError

KEY_LIST_KIND = "coldchain.public-keys"
KEY_LIST_VERSION = 1
ALGORITHM = "Ed25519"
CERTIFICATE_KIND = "coldchain.delivery-certificate"
#: The delivery certificate's first signed version, and the only one checked here.
CERTIFICATE_VERSION = 3


class NotVerified(ColdchainError):
    """A document is not shown to be the hub's, unchanged and final; the text says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidKeyList(ColdchainError):
    """The key list cannot be read; the text says what is wrong with it."""


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    public: Ed25519PublicKey
    valid_from: datetime
    valid_until: datetime | None
    """UTC; None while the key still signs."""
    revoked_at: datetime | None
    revoked_reason: str

    def refusal(self, issued_at: datetime) -> str | None:
        """Why a document issued at `issued_at` (UTC) signed by this key is not taken, or
        None. A revoked key is refused for every document: whoever holds it can also
        sign with an earlier `issued_at`."""
        if self.revoked_at is not None:
            return (
                f"key {self.key_id} was revoked on {utc_text(self.revoked_at)}: "
                f"{self.revoked_reason}"
            )
        if issued_at < self.valid_from or (
            self.valid_until is not None and issued_at >= self.valid_until
        ):
            until = utc_text(self.valid_until) if self.valid_until else "now"
            return (
                f"issued at {utc_text(issued_at)}, outside the time key {self.key_id} signs "
                f"(from {utc_text(self.valid_from)} until {until})"
            )
        return None


@dataclass(frozen=True)
class KeyList:
    keys: tuple[PublicKey, ...]

    def find(self, key_id: str) -> PublicKey | None:
        return next((key for key in self.keys if key.key_id == key_id), None)


def key_id(public: Ed25519PublicKey) -> str:
    """A key's id: the first 16 hex digits of SHA-256 over its 32 raw bytes."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def key_list(text: str, source: str) -> KeyList:
    """The key list in `text` (read from `source`, named in errors)."""
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise InvalidKeyList(f"the key list {source} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != KEY_LIST_KIND:
        raise InvalidKeyList(
            f"{source} is not a key list (kind {KEY_LIST_KIND!r}); give the hub's public key "
            "list, as `coldchain-report key create` writes it"
        )
    if data.get("version") != KEY_LIST_VERSION:
        raise InvalidKeyList(f"the key list {source} has version {data.get('version')!r}, not 1")
    entries = data.get("keys")
    if not isinstance(entries, list):
        raise InvalidKeyList(f"the key list {source} has no list of keys")
    return KeyList(tuple(_key(entry, f"{source}, key {i + 1}") for i, entry in enumerate(entries)))


def _key(entry: Any, where: str) -> PublicKey:
    try:
        public = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(entry["public_key"], validate=True)
        )
        revoked = entry.get("revoked")
        key = PublicKey(
            key_id=str(entry["key_id"]),
            public=public,
            valid_from=parse_utc(str(entry["valid_from"])),
            valid_until=parse_utc(str(entry["valid_until"])) if entry.get("valid_until") else None,
            revoked_at=parse_utc(str(revoked["at"])) if revoked else None,
            revoked_reason=str(revoked["reason"]) if revoked else "",
        )
    except (KeyError, TypeError, ValueError, binascii.Error, AttributeError) as exc:
        raise InvalidKeyList(f"{where} is not a key: {exc!r}") from None
    if entry.get("algorithm") != ALGORITHM:
        raise InvalidKeyList(f"{where}: algorithm {entry.get('algorithm')!r} is not {ALGORITHM}")
    if key.key_id != key_id(public):
        raise InvalidKeyList(
            f"{where}: its id {key.key_id} is not that of its public key ({key_id(public)}); "
            "the list was edited: ask the hub for its key list again"
        )
    return key


def parse_document(text: str | bytes, source: str) -> dict[str, Any]:
    """A signed document's JSON object. A field given twice is refused: a reader taking the
    first would see another value than the signature covers, which takes the last."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise NotVerified(f"{source} gives the field {twice[0]!r} twice")
        return dict(pairs)

    try:
        data: Any = json.loads(text, object_pairs_hook=unique)
    except ValueError as exc:
        raise NotVerified(f"{source} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NotVerified(f"{source} is not a JSON object")
    return data


def signed_message(document: Mapping[str, Any]) -> bytes:
    """The bytes a document's signature is over: its RFC 8785 canonical JSON (UTF-8)
    without the signature's value."""
    block = document.get("signature")
    if not isinstance(block, Mapping):
        raise NotVerified("it is not signed: it has no signature")
    unsigned = {**document, "signature": {k: v for k, v in block.items() if k != "value"}}
    try:
        return rfc8785.dumps(unsigned)
    except rfc8785.CanonicalizationError as exc:
        raise NotVerified(f"it holds a value no signed document holds: {exc}") from None


def canonical_sha256(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the whole signed document's RFC 8785 form: one id per document,
    whatever its layout."""
    try:
        return hashlib.sha256(rfc8785.dumps(dict(document))).hexdigest()
    except rfc8785.CanonicalizationError as exc:
        raise NotVerified(f"it holds a value no signed document holds: {exc}") from None


def verify_signature(document: Mapping[str, Any], keys: KeyList) -> PublicKey:
    """The unrevoked key of `keys` whose signature the document carries over its contents;
    raises NotVerified saying why not."""
    block = document.get("signature")
    if not isinstance(block, Mapping) or "value" not in block:
        raise NotVerified("it is not signed: it has no signature")
    if block.get("algorithm") != ALGORITHM:
        raise NotVerified(f"its signature's algorithm {block.get('algorithm')!r} is not Ed25519")
    key = keys.find(str(block.get("key_id")))
    if key is None:
        known = ", ".join(k.key_id for k in keys.keys) or "none"
        raise NotVerified(
            f"it was signed with key {block.get('key_id')}, which the key list does not hold "
            f"(it holds {known}): it is not the hub's, or the key list is old"
        )
    try:
        value = base64.b64decode(str(block["value"]), validate=True)
    except binascii.Error:
        value = b""
    if len(value) != 64:
        raise NotVerified("its signature's value is not 64 bytes in base64: it was changed")
    try:
        key.public.verify(value, signed_message(document))
    except InvalidSignature:
        raise NotVerified(
            f"the signature does not match the contents: the document was changed after key "
            f"{key.key_id} signed it, or that key did not sign it"
        ) from None
    return key


@dataclass(frozen=True)
class FinalCertificate:
    """A delivery certificate the hub signed, unchanged, and not preliminary."""

    document: dict[str, Any]
    key_id: str
    sha256: str
    """canonical_sha256 of the document."""
    delivery: str | None
    """The delivery (note) number it names, if any."""
    ended_at: datetime
    """Hand-over: the end of the delivery it covers (UTC)."""
    issued_at: datetime


def final_certificate(document: dict[str, Any], keys: KeyList) -> FinalCertificate:
    """Check that `document` is a final delivery certificate signed by an unrevoked key of
    `keys` valid when it was issued; raises NotVerified with the reason."""
    if document.get("kind") != CERTIFICATE_KIND:
        raise NotVerified(
            f"it is not a delivery certificate (kind {document.get('kind')!r}, not "
            f"{CERTIFICATE_KIND!r})"
        )
    if document.get("version") != CERTIFICATE_VERSION:
        raise NotVerified(
            f"version {document.get('version')!r} of a delivery certificate is not one "
            f"accepted here (signed certificates are version {CERTIFICATE_VERSION})"
        )
    key = verify_signature(document, keys)
    try:
        issued = parse_utc(str(document["issued_at"]))
        end = parse_utc(str(document["to"]["utc"]))
        reach_s = float(document["conventions"]["reading_holds_at_most_s"])
        stated = document["preliminary"]
        delivery = document.get("delivery")
    except (KeyError, TypeError, ValueError) as exc:
        raise NotVerified(f"the signed certificate lacks or garbles a field: {exc!r}") from None
    refusal = key.refusal(issued)
    if refusal:
        raise NotVerified(refusal)
    if stated is not False or preliminary(end, issued, reach_s):
        raise NotVerified(
            f"preliminary: issued at {utc_text(issued)}, before the delivery's readings were "
            f"all known (it ended at {utc_text(end)}); ask for a certificate made after that"
        )
    return FinalCertificate(
        document=document,
        key_id=key.key_id,
        sha256=canonical_sha256(document),
        delivery=str(delivery) if delivery is not None else None,
        ended_at=end,
        issued_at=issued,
    )


def preliminary(end: datetime, issued_at: datetime, reach_s: float) -> bool:
    """Whether a document issued at `issued_at` about a period ending at `end` is
    preliminary: the period's last reading may still be unknown until `reach_s` (the
    most a reading covers, seconds) after the end."""
    return issued_at < end + timedelta(seconds=reach_s)


def utc_text(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    """An RFC 3339 time with an offset, in UTC; ValueError without an offset."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    return moment.astimezone(UTC)
