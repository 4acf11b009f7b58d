"""The hub's signing keys: one private key that signs, and the list of public keys to hand out.

A private key is an Ed25519 key in a PEM file (PKCS #8) that only its owner may
read (mode 0600). The public keys go into a **key list**, a JSON file
(`kind` `coldchain.public-keys`) that kitchens and inspectors receive once and
again after every change: for each key its id, the public key, the time from
which it signs, the time after which it no longer does (set when it is
replaced), and its revocation with a reason. A key's id is the first 16 hex
digits of the SHA-256 of its 32 raw public-key bytes, so an id names one key
and nobody can give another key the same id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from coldchain_reports.errors import InvalidInput
from coldchain_reports.seal import parse_utc, utc_text

KIND = "coldchain.public-keys"
VERSION = 1
ALGORITHM = "Ed25519"


def key_id(public: Ed25519PublicKey) -> str:
    """The key's id: the first 16 hex digits of SHA-256 over its raw 32 bytes."""
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


@dataclass(frozen=True)
class SigningKey:
    """A private key and its id; what `coldchain-report` signs with."""

    key_id: str
    private: Ed25519PrivateKey

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


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
            "public_key": base64.b64encode(_raw(self.public)).decode("ascii"),
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
    keys: tuple[PublicKey, ...] = ()

    def find(self, wanted: str) -> PublicKey | None:
        return next((key for key in self.keys if key.key_id == wanted), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": KIND,
            "version": VERSION,
            "algorithm": ALGORITHM,
            "key_id": "first 16 hex digits of SHA-256 over the 32 bytes of the public key",
            "keys": [key.to_json() for key in self.keys],
        }


def load_key_list(path: Path) -> KeyList:
    """The key list in `path`; raises InvalidInput saying what is wrong with it."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read the key list {path} ({exc.strerror})") from None
    except ValueError as exc:
        raise InvalidInput(f"the key list {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise InvalidInput(
            f"{path} is not a key list (kind {KIND!r}); give the hub's public key list, "
            "as `coldchain-report key create` writes it"
        )
    if data.get("version") != VERSION:
        raise InvalidInput(f"the key list {path} has version {data.get('version')!r}, not 1")
    entries = data.get("keys")
    if not isinstance(entries, list):
        raise InvalidInput(f"the key list {path} has no list of keys")
    return KeyList(tuple(_entry(entry, index, path) for index, entry in enumerate(entries)))


def _entry(entry: Any, index: int, path: Path) -> PublicKey:
    where = f"{path}, key {index + 1}"
    try:
        raw = base64.b64decode(entry["public_key"], validate=True)
        public = Ed25519PublicKey.from_public_bytes(raw)
        revoked = entry.get("revoked")
        key = PublicKey(
            key_id=str(entry["key_id"]),
            public=public,
            valid_from=parse_utc(str(entry["valid_from"])),
            valid_until=parse_utc(entry["valid_until"]) if entry.get("valid_until") else None,
            revoked=(
                Revocation(parse_utc(str(revoked["at"])), str(revoked["reason"]))
                if revoked
                else None
            ),
        )
    except (KeyError, TypeError, ValueError, binascii.Error, AttributeError) as exc:
        raise InvalidInput(f"{where} is not a key: {exc!r}") from None
    if entry.get("algorithm") != ALGORITHM:
        raise InvalidInput(f"{where}: algorithm {entry.get('algorithm')!r} is not {ALGORITHM}")
    if key.key_id != key_id(public):
        raise InvalidInput(
            f"{where}: its id {key.key_id} is not that of its public key ({key_id(public)}); "
            "the list was edited: ask the hub for its key list again"
        )
    return key


def load_signing_key(path: Path) -> SigningKey:
    """The private key in `path` (PEM, PKCS #8); raises InvalidInput when it cannot be
    read, is no Ed25519 key, or others than its owner may read it."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the signing key {path} ({exc.strerror}); create one with "
            "`coldchain-report key create` and set COLDCHAIN_REPORT_SIGNING_KEY"
        ) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(
            f"the signing key {path} may be read by others (mode {stat.S_IMODE(mode):04o}); "
            f"only its owner may: chmod 600 {path}"
        )
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidInput(f"{path} is not a private key without a passphrase: {exc}") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise InvalidInput(f"{path} is not an {ALGORITHM} key")
    return SigningKey(key_id(private.public_key()), private)


def create(private_path: Path, list_path: Path, valid_from: datetime) -> PublicKey:
    """A new key: its private half into `private_path` (a new file, mode 0600), its
    public half into the key list `list_path` (created if missing), signing from
    `valid_from`."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    keys = load_key_list(list_path) if list_path.exists() else KeyList()
    try:
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(
            f"{private_path} exists; a key is never overwritten: choose another file"
        ) from None
    except OSError as exc:
        raise InvalidInput(f"cannot create {private_path} ({exc.strerror})") from None
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    public = PublicKey(key_id(private.public_key()), private.public_key(), valid_from)
    _save(list_path, KeyList((*keys.keys, public)))
    return public


def retire(list_path: Path, wanted: str, at: datetime) -> PublicKey:
    """The key `wanted` signs nothing issued at or after `at` (it was replaced)."""
    return _change(list_path, wanted, lambda key: replace(key, valid_until=at))


def revoke(list_path: Path, wanted: str, at: datetime, reason: str) -> PublicKey:
    """The key `wanted` is refused from now on, for every document, with `reason`."""
    if not reason.strip():
        raise InvalidInput("say why the key is revoked (--reason): readers see it")
    return _change(list_path, wanted, lambda key: replace(key, revoked=Revocation(at, reason)))


def _change(list_path: Path, wanted: str, change: Callable[[PublicKey], PublicKey]) -> PublicKey:
    keys = load_key_list(list_path)
    found = keys.find(wanted)
    if found is None:
        known = ", ".join(key.key_id for key in keys.keys) or "none"
        raise InvalidInput(f"{list_path} has no key {wanted}; its keys: {known}")
    changed = change(found)
    _save(list_path, KeyList(tuple(changed if key is found else key for key in keys.keys)))
    return changed


def _save(path: Path, keys: KeyList) -> None:
    """Write the list whole or not at all: a reader never sees half of it."""
    text = json.dumps(keys.to_json(), indent=2) + "\n"
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise InvalidInput(f"cannot write the key list {path} ({exc.strerror})") from None


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
