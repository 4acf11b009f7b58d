"""The hub's Ed25519 signatures, checked: the key list, the signed message, a signed
document judged, and a delivery certificate a partner may receive. No I/O: callers
read and write the files (`coldchain-report` its documents and key list, the alerts
service the key list it is given).

- The **key list** is JSON of kind `coldchain.public-keys`, version 1: the hub it is
  of (`hub`, its name) and when it was written (`issued_at`), then per key its id
  (the first 16 hex digits of SHA-256 over the 32 raw public-key bytes, so an id names
  one key and nobody can give another key the same id), the public key in base64, the
  time from which it signs, the time it stopped (`valid_until`, null while it signs)
  and its revocation (`{"at", "reason"}`, null while not revoked). `hub` and
  `issued_at` came later within version 1, so that verifiers that know nothing of
  them still read a new list; a list without both is an older one, read with a note.
  Nothing in a key list proves whose it is: readers are told the hub it names, and
  compare the key's id with the one the hub publishes.
- A signed document carries `signature: {algorithm, key_id, over, value}`; the value
  is Ed25519 over the document's **canonical form**, RFC 8785 (JSON Canonicalization
  Scheme), without `signature.value`: every field is covered, and the layout
  (indentation, order of fields) is not.
- A document is **preliminary** when it was issued before the last reading of its
  period could be known (`preliminary`); a signed one must say so truly. How long a
  reading holds is the document's own `conventions.reading_holds_at_most_s`, a number
  greater than 0 and at most MAX_REACH_S: a final document was issued after its end.
- Text of a document or key list that reaches a message is `shown`: escaped where a
  terminal or a page would obey it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
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
#: What a signature is over, as its `over` field says to readers.
OVER = "RFC 8785 canonical JSON of this document without signature.value, as UTF-8"
CERTIFICATE_KIND = "coldchain.delivery-certificate"
#: The delivery certificate's current version (reports' certificate.py writes it); 4
#: added the probe's checks during the delivery and its readings taken while unverified.
CERTIFICATE_VERSION = 4
#: The first signed version: partners receive the signed versions, from it to the current.
CERTIFICATE_SIGNED_SINCE = 3
#: What a key id is; anything else is refused before it is looked up or shown.
KEY_ID = re.compile(r"[0-9a-f]{16}")
#: The longest a reading may hold by a document's conventions (1.5 recording intervals):
#: a week, far beyond any recorder's interval; the bound keeps times in range.
MAX_REACH_S = 7 * 86400.0
#: The longest hub name a key list may give.
MAX_HUB_NAME = 100
#: RFC 3339 with an offset, as `utc_text` writes it: no other ISO 8601 form, no date
#: without a time, no time without an offset.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)


class NotVerified(ColdchainError):
    """A signed document is not shown to be the hub's, unchanged and final (or, where a
    preliminary one is asked for, true about being preliminary); the text says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotADocument(NotVerified):
    """The text is no JSON object at all: a wrong file rather than a changed one."""


class InvalidKeyList(ColdchainError):
    """The key list cannot be read; the text says what is wrong with it."""


@dataclass(frozen=True)
class Revocation:
    at: datetime
    reason: str


@dataclass(frozen=True)
class PublicKey:
    """One entry of the key list: a key that signs from `valid_from` until `valid_until`
    (UTC; None: still signing), unless it was revoked."""

    key_id: str
    public: Ed25519PublicKey
    valid_from: datetime
    valid_until: datetime | None = None
    revoked: Revocation | None = None

    def verifies(self, signature: bytes, message: bytes) -> bool:
        """Whether `signature` is this key's Ed25519 signature of `message`."""
        try:
            self.public.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def refusal(self, issued_at: datetime) -> str | None:
        """Why a document issued at `issued_at` and signed with this key is not taken,
        or None when it is. A revoked key is refused for every document: whoever holds
        it may also sign with an earlier `issued_at`."""
        if self.revoked is not None:
            return self.revocation()
        if issued_at < self.valid_from or (
            self.valid_until is not None and issued_at >= self.valid_until
        ):
            until = utc_text(self.valid_until) if self.valid_until else "now"
            return (
                f"issued at {utc_text(issued_at)}, outside the time key {self.key_id} signs "
                f"(from {utc_text(self.valid_from)} until {until})"
            )
        return None

    def revocation(self) -> str | None:
        """Why the key is revoked, as readers are told; None while it is not."""
        if self.revoked is None:
            return None
        return (
            f"key {self.key_id} was revoked on {utc_text(self.revoked.at)}: {self.revoked.reason}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "algorithm": ALGORITHM,
            "public_key": base64.b64encode(raw_bytes(self.public)).decode("ascii"),
            "valid_from": utc_text(self.valid_from),
            "valid_until": utc_text(self.valid_until) if self.valid_until else None,
            "revoked": (
                {"at": utc_text(self.revoked.at), "reason": self.revoked.reason}
                if self.revoked
                else None
            ),
        }


@dataclass(frozen=True)
class KeyList:
    """The public keys of the hub named `hub`, as of `issued_at` (UTC); an older list
    names neither."""

    keys: tuple[PublicKey, ...] = ()
    hub: str | None = None
    issued_at: datetime | None = None

    def find(self, wanted: str) -> PublicKey | None:
        return next((key for key in self.keys if key.key_id == wanted), None)

    def described(self) -> str:
        """Which key list it is, as readers are told: the hub it names and its date."""
        if self.hub is None or self.issued_at is None:
            return (
                "a key list that names no hub and no date (an older one: ask the hub for its "
                "current key list)"
            )
        return f"the key list of {self.hub} as of {utc_text(self.issued_at)}"

    def to_json(self) -> dict[str, Any]:
        named = {} if self.hub is None else {"hub": self.hub}
        dated = {} if self.issued_at is None else {"issued_at": utc_text(self.issued_at)}
        return {
            "kind": KEY_LIST_KIND,
            "version": KEY_LIST_VERSION,
            **named,
            **dated,
            "algorithm": ALGORITHM,
            "key_id": "first 16 hex digits of SHA-256 over the 32 bytes of the public key",
            "keys": [key.to_json() for key in self.keys],
        }


def raw_bytes(public: Ed25519PublicKey) -> bytes:
    """A public key's 32 raw bytes."""
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: Ed25519PublicKey) -> str:
    """A key's id: the first 16 hex digits of SHA-256 over its 32 raw bytes."""
    return hashlib.sha256(raw_bytes(public)).hexdigest()[:16]


def key_list(text: str, source: str) -> KeyList:
    """The key list in `text` (read from `source`, named in errors); raises
    InvalidKeyList saying what is wrong with it."""
    try:
        data: Any = parse_document(text, source)
    except NotVerified as exc:
        raise InvalidKeyList(f"the key list {exc.reason}") from None
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
    keys = tuple(_key(entry, f"{source}, key {i + 1}") for i, entry in enumerate(entries))
    ids = [key.key_id for key in keys]
    twice = next((wanted for wanted in ids if ids.count(wanted) > 1), None)
    if twice is not None:
        raise InvalidKeyList(
            f"the key list {source} holds key {twice} twice: readers could take either "
            "entry; ask the hub for its key list again"
        )
    hub, issued_at = _named(data, source)
    return KeyList(keys, hub, issued_at)


def _named(data: dict[str, Any], source: str) -> tuple[str | None, datetime | None]:
    """The hub a key list names and its date; both or, in an older list, neither."""
    if "hub" not in data and "issued_at" not in data:
        return None, None
    hub = data.get("hub")
    if not printable_name(hub):
        raise InvalidKeyList(
            f"the key list {source} names no hub, or one that is not a name of 1 to "
            f"{MAX_HUB_NAME} printable characters ({shown(hub)})"
        )
    try:
        return hub, parse_utc(data["issued_at"])
    except (KeyError, ValueError) as exc:
        raise InvalidKeyList(
            f"the key list {source} gives no time it was written (issued_at): {exc!r}"
        ) from None


def printable_name(name: object) -> bool:
    """Whether `name` can be a hub's name: 1 to MAX_HUB_NAME printable characters."""
    return isinstance(name, str) and 0 < len(name) <= MAX_HUB_NAME and name.isprintable()


def _key(entry: Any, where: str) -> PublicKey:
    try:
        public = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(entry["public_key"], validate=True)
        )
        revoked = entry.get("revoked")
        key = PublicKey(
            key_id=str(entry["key_id"]),
            public=public,
            valid_from=parse_utc(entry["valid_from"]),
            valid_until=parse_utc(entry["valid_until"]) if entry.get("valid_until") else None,
            revoked=Revocation(parse_utc(revoked["at"]), _reason(revoked)) if revoked else None,
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


def _reason(revoked: Any) -> str:
    reason = revoked["reason"]
    if not isinstance(reason, str) or not reason.isprintable():
        raise ValueError(f"its revocation's reason {shown(reason)} is no printable text")
    return reason


def parse_document(text: str | bytes, source: str) -> dict[str, Any]:
    """A signed document's JSON object; raises NotADocument for what is none. A field
    given twice is refused (NotVerified): a reader taking the first would see another
    value than the signature covers, which takes the last."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise NotVerified(f"{source} gives the field {twice[0]!r} twice")
        return dict(pairs)

    try:
        data: Any = json.loads(text, object_pairs_hook=unique)
    except ValueError as exc:
        raise NotADocument(f"{source} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NotADocument(f"{source} is not a JSON object")
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


def usable_key(keys: KeyList, wanted: object) -> PublicKey:
    """The key of the list with the id `wanted`; raises NotVerified when `wanted` is no
    key id (it is then not shown: it may be text a terminal obeys), when the list has
    no such key, or when it was revoked."""
    if not isinstance(wanted, str) or not KEY_ID.fullmatch(wanted):
        raise NotVerified(
            "its signature names no key id (16 hex digits, 0-9 and a-f): it was changed, "
            "or not made by coldchain-report"
        )
    key = keys.find(wanted)
    if key is None:
        known = ", ".join(k.key_id for k in keys.keys) or "none"
        raise NotVerified(
            f"it was signed with key {wanted}, which the key list does not hold (it holds "
            f"{known}): it is not the hub's, or your key list is old; ask the hub for its "
            "current key list"
        )
    revocation = key.revocation()
    if revocation is not None:
        raise NotVerified(revocation)
    return key


def verify_signature(document: Mapping[str, Any], keys: KeyList) -> PublicKey:
    """The unrevoked key of `keys` whose signature the document carries over its
    contents; raises NotVerified saying why not."""
    block = document.get("signature")
    if not isinstance(block, Mapping) or "value" not in block:
        raise NotVerified("it is not signed: it has no signature")
    if block.get("algorithm") != ALGORITHM:
        raise NotVerified(f"its signature's algorithm {block.get('algorithm')!r} is not Ed25519")
    key = usable_key(keys, block.get("key_id"))
    try:
        value = base64.b64decode(str(block["value"]), validate=True)
    except binascii.Error:
        value = b""
    if len(value) != 64:
        raise NotVerified("its signature's value is not 64 bytes in base64: it was changed")
    if not key.verifies(value, signed_message(document)):
        raise NotVerified(
            f"the signature does not match the contents: the document was changed after key "
            f"{key.key_id} signed it, or that key did not sign it"
        )
    return key


@dataclass(frozen=True)
class Verified:
    """A signed document whose signature and key hold, and true about being preliminary."""

    document: dict[str, Any]
    key_id: str
    issued_at: datetime
    """UTC."""
    end: datetime
    """The end of the period it covers (UTC)."""
    preliminary: bool


def verify(
    document: dict[str, Any],
    keys: KeyList,
    name: str,
    end: Callable[[Mapping[str, Any]], datetime],
    preliminary_ok: bool,
) -> Verified:
    """Check a signed document (a `name`, "delivery certificate" say, whose period
    ends at `end(document)`) against `keys`: its signature by a key not revoked and
    valid when it was issued, and `preliminary` as the rule gives it; a preliminary one
    only where `preliminary_ok`. Raises NotVerified with the reason."""
    key = verify_signature(document, keys)
    try:
        issued = parse_utc(document["issued_at"])
        period_end = end(document)
        stated = document["preliminary"]
    except (KeyError, TypeError, ValueError) as exc:
        raise NotVerified(f"the signed {name} lacks or garbles a field: {exc!r}") from None
    reach_s = _reach_s(document, name)
    refusal = key.refusal(issued)
    if refusal:
        raise NotVerified(refusal)
    if stated is not preliminary(period_end, issued, reach_s):
        raise NotVerified(
            f"it says preliminary is {stated!r}, but it was issued at {utc_text(issued)} for a "
            f"period ending {utc_text(period_end)}: the signer broke the rule"
        )
    if stated and not preliminary_ok:
        raise NotVerified(
            f"preliminary: issued at {utc_text(issued)}, before its period ended at "
            f"{utc_text(period_end)} (and its last reading was known); its numbers may still "
            f"change. It is no final {name}: ask for one made after the end"
        )
    return Verified(document, key.key_id, issued, period_end, stated)


def _reach_s(document: Mapping[str, Any], name: str) -> float:
    """How long a reading holds by the document's conventions: a number in
    (0, MAX_REACH_S]. Anything else would let the signer call a document final that
    was issued before its period ended (a negative reach), or break the arithmetic."""
    conventions = document.get("conventions")
    reach = conventions.get("reading_holds_at_most_s") if isinstance(conventions, dict) else None
    if (
        isinstance(reach, bool)
        or not isinstance(reach, int | float)
        or not math.isfinite(reach)
        or not 0 < reach <= MAX_REACH_S
    ):
        raise NotVerified(
            f"the signed {name}'s conventions give no time a reading holds "
            f"(reading_holds_at_most_s: {shown(reach)}), a number of seconds greater than 0 and "
            f"at most {MAX_REACH_S:.0f}: it cannot tell whether it is final"
        )
    return float(reach)


def certificate_end(document: Mapping[str, Any]) -> datetime:
    """The end of the delivery a certificate covers, the hand-over (UTC)."""
    return parse_utc(document["to"]["utc"])


@dataclass(frozen=True)
class FinalCertificate:
    """A delivery certificate the hub signed, unchanged, and not preliminary."""

    document: dict[str, Any]
    key_id: str
    sha256: str
    """canonical_sha256 of the document."""
    delivery: str | None
    """The delivery note's number it names (`delivery.delivery_note`), if any."""
    ended_at: datetime
    """Hand-over: the end of the delivery it covers (UTC)."""
    issued_at: datetime


def final_certificate(document: dict[str, Any], keys: KeyList) -> FinalCertificate:
    """Check that `document` is a final delivery certificate of a signed version
    signed by an unrevoked key of `keys` valid when it was issued; raises NotVerified
    with the reason."""
    if document.get("kind") != CERTIFICATE_KIND:
        raise NotVerified(
            f"it is not a delivery certificate (kind {document.get('kind')!r}, not "
            f"{CERTIFICATE_KIND!r})"
        )
    version = document.get("version")
    signed = range(CERTIFICATE_SIGNED_SINCE, CERTIFICATE_VERSION + 1)
    if isinstance(version, bool) or not isinstance(version, int) or version not in signed:
        raise NotVerified(
            f"version {version!r} of a delivery certificate is not one accepted here "
            f"(signed certificates are versions {CERTIFICATE_SIGNED_SINCE} to "
            f"{CERTIFICATE_VERSION})"
        )
    verified = verify(document, keys, "delivery certificate", certificate_end, preliminary_ok=False)
    return FinalCertificate(
        document=document,
        key_id=verified.key_id,
        sha256=canonical_sha256(document),
        delivery=_delivery_note(document),
        ended_at=verified.end,
        issued_at=verified.issued_at,
    )


def _delivery_note(document: Mapping[str, Any]) -> str | None:
    delivery = document.get("delivery")
    note = delivery.get("delivery_note") if isinstance(delivery, Mapping) else None
    if not isinstance(delivery, Mapping) or not (note is None or isinstance(note, str)):
        raise NotVerified(
            f"the signed delivery certificate garbles its delivery ({delivery!r:.80}): it "
            "names the delivery file's data, delivery_note among them"
        )
    return note


def preliminary(end: datetime, issued_at: datetime, reach_s: float) -> bool:
    """Whether a document issued at `issued_at` about a period ending at `end` is
    preliminary: its numbers may still change until the last reading of the period
    is known to hold no longer, `reach_s` (the most a reading covers, 1.5 recording
    intervals, seconds) after the end. A preliminary document gets no seal: the
    readings its digest is over are not all stored yet. (The difference of two times,
    unlike a time plus a reach, is never out of range.)"""
    return issued_at - end < timedelta(seconds=reach_s)


def utc_text(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, microseconds only where there are any."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_utc(text: object) -> datetime:
    """An RFC 3339 time with an offset (2025-10-26T08:30:00Z, ...+01:00), in UTC;
    ValueError for anything else: no offset, another ISO 8601 form, out of range."""
    if not isinstance(text, str) or not _RFC3339.fullmatch(text):
        raise ValueError(
            f"time {shown(text)} is not RFC 3339 with an offset, e.g. 2025-10-26T08:30:00Z"
        )
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except OverflowError:
        raise ValueError(f"time {text!r} lies outside the years 1 to 9999 in UTC") from None


def shown(value: object) -> str:
    """Text from a document or key list as a message may hold it: as it is where every
    character is printable, else as a Python literal (escaped), so that no terminal
    obeys it and no line break or bidi control moves what follows."""
    text = value if isinstance(value, str) else repr(value)
    return text if text.isprintable() else repr(text)
