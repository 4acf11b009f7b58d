"""A signed PDF: the signed document inside, and a signature over every byte of the file.

The PDF's document information dictionary holds three entries of ours, written
by reportlab with the rest of the file:

    /ColdchainKey (KEY_ID)
    /ColdchainRecord (BASE64)          the signed JSON document (`signing`), UTF-8, base64
    /ColdchainSignature <128 HEX>      Ed25519 over the file without these 128 hex digits

The file is written with 128 zeros in place of the signature; the signature is then
taken over every byte of the file but those 128 and put in their place, as PDF
signatures cover a byte range. One changed byte anywhere (a printed number, the
plot, the embedded document) breaks it, and so does a second set of entries added
by an incremental update: a signed PDF holds each entry once. Readers that know
nothing of it show the PDF as before; a viewer lists the entries as custom
document properties. Everything is ASCII and found by searching the bytes, so
the static page (docs/verify/index.html) reads it with a few lines of JavaScript.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from reportlab.pdfbase.pdfdoc import PDFInfo  # type: ignore[import-untyped]

from coldchain.signatures import KeyList, NotVerified, usable_key
from coldchain_reports import signing
from coldchain_reports.errors import InvalidInput
from coldchain_reports.keys import SigningKey

KEY = b"/ColdchainKey ("
RECORD = b"/ColdchainRecord ("
SIGNATURE = b"/ColdchainSignature <"
PLACEHOLDER = b"0" * 128
_KEY_ID = re.compile(rb"[0-9a-f]{16}")
_HEX128 = re.compile(rb"[0-9a-f]{128}")


class Info(PDFInfo):  # type: ignore[misc]
    """reportlab's document information with the signed document and room for the
    file's signature; give it to the canvas as `canvas._doc.info`."""

    def __init__(self, document: dict[str, Any], key_id: str) -> None:
        super().__init__()
        self.key_id = key_id
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        self._ours = (
            KEY
            + key_id.encode("ascii")
            + b") "
            + RECORD
            + base64.b64encode(text.encode("utf-8"))
            + b")\n"
            + SIGNATURE
            + PLACEHOLDER
            + b">"
        )

    def format(self, document: Any) -> bytes:
        formatted: bytes = super().format(document)
        head, closing, tail = formatted.rpartition(b">>")
        return head + self._ours + b"\n" + closing + tail


def sign(pdf: bytes, key: SigningKey) -> bytes:
    """The PDF, written with `Info`, with its signature in the place kept for it."""
    start = _only(pdf, SIGNATURE, "signature")
    if pdf[start : start + 128] != PLACEHOLDER:
        raise InvalidInput("the PDF was not written to be signed: its signature has no room")
    signature = key.sign(pdf[:start] + pdf[start + 128 :])
    return pdf[:start] + signature.hex().encode("ascii") + pdf[start + 128 :]


def verify(pdf: bytes, keys: KeyList, preliminary_ok: bool) -> signing.Verified:
    """Check a signed PDF: its bytes, then the document inside (signing.verify)."""
    if not pdf.startswith(b"%PDF-"):
        raise InvalidInput("not a PDF")
    if SIGNATURE not in pdf:
        raise NotVerified(
            "this PDF carries no signature: it was made before coldchain-report signed its "
            "PDFs, or not by coldchain-report; verify the seal it prints against the hub's "
            "database with coldchain-report verify --seal"
        )
    key_id = _value(pdf, KEY, rb")", "key")
    start = _only(pdf, SIGNATURE, "signature")
    if not _KEY_ID.fullmatch(key_id) or not _HEX128.fullmatch(pdf[start : start + 128]):
        raise NotVerified("its signature entries are garbled: the PDF was changed")
    key = usable_key(keys, key_id.decode("ascii"))
    value = bytes.fromhex(pdf[start : start + 128].decode("ascii"))
    if not key.verifies(value, pdf[:start] + pdf[start + 128 :]):
        raise NotVerified(
            f"the signature does not match the file: the PDF was changed after key "
            f"{key.key_id} signed it, or that key did not sign it"
        )
    try:
        text = base64.b64decode(_value(pdf, RECORD, rb")", "document"), validate=True)
    except binascii.Error:
        raise NotVerified("the document inside the PDF is not base64") from None
    document = signing.parse(text, "the document inside the PDF")
    verified = signing.verify(document, keys, preliminary_ok)
    if verified.key_id != key.key_id:
        raise NotVerified("the PDF and the document inside it were signed with different keys")
    return verified


def _only(pdf: bytes, entry: bytes, name: str) -> int:
    """Where the one value of `entry` starts; a signed PDF holds each entry once."""
    count = pdf.count(entry)
    if count != 1:
        raise NotVerified(
            f"the PDF holds {count} {name} entries, a signed one exactly 1: "
            "it was changed after it was signed"
        )
    return pdf.index(entry) + len(entry)


def _value(pdf: bytes, entry: bytes, end: bytes, name: str) -> bytes:
    start = _only(pdf, entry, name)
    stop = pdf.find(end, start)
    if stop < 0:
        raise NotVerified(f"the PDF's {name} entry is cut off: it was changed")
    return pdf[start:stop]
