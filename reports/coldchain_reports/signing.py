"""Signed certificates and reports: made by the hub, verified by anyone with its key list.

A document (a certificate's or a report's JSON) is signed with Ed25519 over its
**canonical form**, RFC 8785 (JSON Canonicalization Scheme), without the
signature's own `value`: every field is covered, `issued_at`, `preliminary` and
the signature's `algorithm` and `key_id` included, and the layout (indentation,
order of fields) is not, so the file stays readable. Verifying needs only the
document and the key list: no database, no network. `signed_pdf` carries the
same signed document inside the PDF.

The checks, in order: a known kind and a signed version; a signature block; a key
of the list with that id, not revoked; the signature; `issued_at` within the key's
validity; `preliminary` as the rule (`seal.preliminary`) gives it; and a
preliminary document only where one is asked for.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature

from coldchain_reports import certificate, report
from coldchain_reports.errors import InvalidInput, NotVerified
from coldchain_reports.keys import ALGORITHM, KeyList, PublicKey, SigningKey
from coldchain_reports.seal import parse_utc, preliminary, utc_text

OVER = "RFC 8785 canonical JSON of this document without signature.value, as UTF-8"


@dataclass(frozen=True)
class _Kind:
    name: str
    signed_since: int
    """The first version that is signed; the current one."""
    unsigned: str
    """How a document of an earlier version is verified."""
    period: Callable[[Mapping[str, Any]], tuple[datetime, datetime]]


_KINDS = {
    certificate.KIND: _Kind(
        "delivery certificate",
        certificate.VERSION,
        "verify it against the hub's database: coldchain-report verify --certificate FILE",
        lambda d: (parse_utc(d["from"]["utc"]), parse_utc(d["to"]["utc"])),
    ),
    report.KIND: _Kind(
        "compliance report",
        report.VERSION,
        "verify its seal against the hub's database: coldchain-report verify --seal SEAL",
        lambda d: (parse_utc(d["from"]), parse_utc(d["to"])),
    ),
}


@dataclass(frozen=True)
class Verified:
    """A document whose signature and key hold; what `verify` says about it."""

    document: dict[str, Any]
    key_id: str
    preliminary: bool

    def summary(self) -> str:
        document = self.document
        kind = _KINDS[document["kind"]]
        start, end = kind.period(document)
        return (
            f"{kind.name} of {document['sensor']} from {utc_text(start)} to {utc_text(end)}, "
            f"issued {document['issued_at']}, signed with key {self.key_id}"
        )


def sign(document: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """The document with its signature, by `key`, over every other field."""
    signature = {"algorithm": ALGORITHM, "key_id": key.key_id, "over": OVER}
    unsigned = {**document, "signature": signature}
    value = key.sign(signed_message(unsigned))
    return {**unsigned, "signature": {**signature, "value": base64.b64encode(value).decode()}}


def signed_message(document: Mapping[str, Any]) -> bytes:
    """The bytes a document's signature is over: its canonical JSON without the
    signature's value."""
    block = document.get("signature")
    if not isinstance(block, Mapping):
        raise NotVerified("it is not signed: it has no signature")
    unsigned = {**document, "signature": {k: v for k, v in block.items() if k != "value"}}
    try:
        return rfc8785.dumps(unsigned)
    except rfc8785.CanonicalizationError as exc:
        raise NotVerified(f"it holds a value no signed document holds: {exc}") from None


def parse(text: str | bytes, source: str) -> dict[str, Any]:
    """A document's JSON. A field given twice is refused: readers that take the first
    would see another value than the signature covers, which takes the last."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise NotVerified(f"{source} gives the field {twice[0]!r} twice")
        return dict(pairs)

    try:
        data: Any = json.loads(text, object_pairs_hook=unique)
    except ValueError as exc:
        raise InvalidInput(f"{source} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") not in _KINDS:
        raise InvalidInput(
            f"{source} is neither a delivery certificate nor a compliance report of coldchain"
        )
    return data


def signed_version(document: Mapping[str, Any]) -> bool:
    """Whether the document claims a version that is signed: any but an older one. The
    database check of such a certificate checks its signature too, as the readings do
    not tell when it was issued."""
    kind = _KINDS.get(document.get("kind"))  # type: ignore[arg-type]
    version = document.get("version")
    return not (kind and isinstance(version, int) and version < kind.signed_since)


def verify(document: dict[str, Any], keys: KeyList, preliminary_ok: bool) -> Verified:
    """Check a certificate's or report's JSON against the key list; raises NotVerified
    with the reason, or InvalidInput for what is no coldchain document."""
    kind = _KINDS.get(document.get("kind"))  # type: ignore[arg-type]
    if kind is None:
        raise InvalidInput("neither a delivery certificate nor a compliance report of coldchain")
    version = document.get("version")
    if isinstance(version, int) and version < kind.signed_since:
        raise NotVerified(
            f"version {version} of a {kind.name} is not signed ({kind.name}s are signed "
            f"from version {kind.signed_since} on); {kind.unsigned}"
        )
    if version != kind.signed_since:
        raise NotVerified(
            f"version {version!r} of a {kind.name} is unknown to this coldchain-report "
            f"(it knows {kind.signed_since}); update coldchain-report"
        )
    key, value = _key_and_value(document, keys)
    try:
        key.public.verify(value, signed_message(document))
    except InvalidSignature:
        raise NotVerified(
            f"the signature does not match the contents: the document was changed after key "
            f"{key.key_id} signed it, or that key did not sign it"
        ) from None
    return _judged(document, kind, key, preliminary_ok)


def usable_key(keys: KeyList, key_id: object) -> PublicKey:
    """The key of the list with `key_id`; raises NotVerified when there is none or it
    was revoked."""
    key = keys.find(str(key_id))
    if key is None:
        known = ", ".join(k.key_id for k in keys.keys) or "none"
        raise NotVerified(
            f"it was signed with key {key_id}, which the key list does not hold (it holds "
            f"{known}): it is not the hub's, or your key list is old; ask the hub for its "
            "current key list"
        )
    revocation = key.revocation()
    if revocation is not None:
        raise NotVerified(revocation)
    return key


def _key_and_value(document: Mapping[str, Any], keys: KeyList) -> tuple[PublicKey, bytes]:
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
    return key, value


def _judged(
    document: dict[str, Any], kind: _Kind, key: PublicKey, preliminary_ok: bool
) -> Verified:
    """The signed document judged by its key's validity and whether it is final."""
    try:
        issued = parse_utc(str(document["issued_at"]))
        _, end = kind.period(document)
        reach_s = float(document["conventions"]["reading_holds_at_most_s"])
        stated = document["preliminary"]
    except (KeyError, TypeError, ValueError) as exc:
        raise NotVerified(f"the signed {kind.name} lacks or garbles a field: {exc!r}") from None
    refusal = key.refusal(issued)
    if refusal:
        raise NotVerified(refusal)
    if stated is not preliminary(end, issued, reach_s):
        raise NotVerified(
            f"it says preliminary is {stated!r}, but it was issued at {utc_text(issued)} for a "
            f"period ending {utc_text(end)}: the signer broke the rule"
        )
    if stated and not preliminary_ok:
        raise NotVerified(
            f"preliminary: issued at {utc_text(issued)}, before its period ended at "
            f"{utc_text(end)} (and its last reading was known); its numbers may still "
            f"change. It is no final {kind.name}: ask for one made after the end"
        )
    return Verified(document, key.key_id, stated)
