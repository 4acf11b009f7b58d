"""Signed certificates and reports: made by the hub, verified by anyone with its key list.

A document (a certificate's or a report's JSON) is signed with Ed25519 over its
canonical form without the signature's own `value` (`coldchain.signatures`, which
also checks signatures for the alerts service): every field is covered, `issued_at`,
`preliminary` and the signature's `algorithm` and `key_id` included, and the layout
is not, so the file stays readable. Verifying needs only the document and the key
list: no database, no network. `signed_pdf` carries the same signed document inside
the PDF.

The checks, in order: a known kind and a signed version (the kinds are ours); then
those of `coldchain.signatures.verify`: a signature block; a key of the list with
that id, not revoked; the signature; `issued_at` within the key's validity;
`preliminary` as the rule gives it; and a preliminary document only where one is
asked for.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from coldchain import signatures
from coldchain.signatures import (
    ALGORITHM,
    OVER,
    KeyList,
    NotVerified,
    parse_utc,
    shown,
    signed_message,
    utc_text,
)
from coldchain_reports import certificate, report
from coldchain_reports.errors import InvalidInput
from coldchain_reports.keys import SigningKey


@dataclass(frozen=True)
class _Kind:
    name: str
    signed_since: int
    """The first version that is signed."""
    current: int
    """The version made now; every one from `signed_since` up to it is signed."""
    unsigned: str
    """How a document of an earlier version is verified."""
    period: Callable[[Mapping[str, Any]], tuple[datetime, datetime]]

    def end(self, document: Mapping[str, Any]) -> datetime:
        return self.period(document)[1]


_KINDS = {
    certificate.KIND: _Kind(
        "delivery certificate",
        certificate.SIGNED_SINCE,
        certificate.VERSION,
        "verify it against the hub's database: coldchain-report verify --certificate FILE",
        lambda d: (parse_utc(d["from"]["utc"]), signatures.certificate_end(d)),
    ),
    report.KIND: _Kind(
        "compliance report",
        report.SIGNED_SINCE,
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
    key_list: str
    """Which key list holds the key (`KeyList.described`): the hub it names, its date."""

    def summary(self) -> str:
        """What was verified, for a terminal: the document's text escaped (`shown`)."""
        document = self.document
        kind = _KINDS[document["kind"]]
        start, end = kind.period(document)
        return (
            f"{kind.name} of {shown(document.get('sensor'))} from {utc_text(start)} to "
            f"{utc_text(end)}, issued {utc_text(parse_utc(document['issued_at']))}, "
            f"signed with key {self.key_id} of {self.key_list}"
        )


def sign(document: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """The document with its signature, by `key`, over every other field."""
    signature = {"algorithm": ALGORITHM, "key_id": key.key_id, "over": OVER}
    unsigned = {**document, "signature": signature}
    value = key.sign(signed_message(unsigned))
    return {**unsigned, "signature": {**signature, "value": base64.b64encode(value).decode()}}


def parse(text: str | bytes, source: str) -> dict[str, Any]:
    """A certificate's or report's JSON; a field given twice is refused (NotVerified)."""
    try:
        data = signatures.parse_document(text, source)
    except signatures.NotADocument as exc:
        raise InvalidInput(exc.reason) from None
    if data.get("kind") not in _KINDS:
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
    if not isinstance(version, int) or isinstance(version, bool) or version > kind.current:
        raise NotVerified(
            f"version {version!r} of a {kind.name} is unknown to this coldchain-report "
            f"(it knows versions up to {kind.current}); update coldchain-report"
        )
    verified = signatures.verify(document, keys, kind.name, kind.end, preliminary_ok)
    try:
        kind.period(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise NotVerified(f"the signed {kind.name} garbles its period: {exc!r}") from None
    return Verified(document, verified.key_id, verified.preliminary, keys.described())
