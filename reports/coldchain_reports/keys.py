"""The hub's signing keys, as files: one private key that signs, and the list of public
keys to hand out.

A private key is an Ed25519 key in a PEM file (PKCS #8) that only its owner may
read (mode 0600). The public keys go into a **key list**, a JSON file that kitchens
and inspectors receive once and again after every change; its format, key ids and
what a key may sign are the domain's (`coldchain.signatures`). Here: reading and
writing the files, and creating, retiring and revoking keys. Every change writes the
list anew with the hub's name and the time of the change (`issued_at`); a list
without a name (an older one) is named by the first change (`hub`).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from coldchain.signatures import (
    ALGORITHM,
    InvalidKeyList,
    KeyList,
    PublicKey,
    Revocation,
    key_id,
    key_list,
    printable_name,
)
from coldchain_reports.errors import InvalidInput


@dataclass(frozen=True)
class SigningKey:
    """A private key and its id; what `coldchain-report` signs with."""

    key_id: str
    private: Ed25519PrivateKey

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def load_key_list(path: Path) -> KeyList:
    """The key list in `path`; raises InvalidInput saying what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read the key list {path} ({exc.strerror})") from None
    try:
        return key_list(text, str(path))
    except InvalidKeyList as exc:
        raise InvalidInput(str(exc)) from None


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


def create(
    private_path: Path, list_path: Path, valid_from: datetime, hub: str | None = None
) -> PublicKey:
    """A new key: its private half into `private_path` (a new file, mode 0600), its
    public half into the key list `list_path` (created if missing) of the hub named
    `hub` (needed where the list names none yet), signing from `valid_from`."""
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    keys = load_key_list(list_path) if list_path.exists() else KeyList()
    name = _hub(keys, hub, list_path)
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
    _save(list_path, KeyList((*keys.keys, public), name, datetime.now(UTC)))
    return public


def retire(list_path: Path, wanted: str, at: datetime, hub: str | None = None) -> PublicKey:
    """The key `wanted` signs nothing issued at or after `at` (it was replaced)."""
    return _change(list_path, wanted, lambda key: replace(key, valid_until=at), hub)


def revoke(
    list_path: Path, wanted: str, at: datetime, reason: str, hub: str | None = None
) -> PublicKey:
    """The key `wanted` is refused from now on, for every document, with `reason`."""
    if not reason.strip() or not reason.isprintable():
        raise InvalidInput(
            "say why the key is revoked (--reason), in one line of printable text: readers see it"
        )
    return _change(list_path, wanted, lambda key: replace(key, revoked=Revocation(at, reason)), hub)


def _change(
    list_path: Path, wanted: str, change: Callable[[PublicKey], PublicKey], hub: str | None
) -> PublicKey:
    keys = load_key_list(list_path)
    name = _hub(keys, hub, list_path)
    found = keys.find(wanted)
    if found is None:
        known = ", ".join(key.key_id for key in keys.keys) or "none"
        raise InvalidInput(f"{list_path} has no key {wanted}; its keys: {known}")
    changed = change(found)
    kept = tuple(changed if key is found else key for key in keys.keys)
    _save(list_path, KeyList(kept, name, datetime.now(UTC)))
    return changed


def _hub(keys: KeyList, given: str | None, list_path: Path) -> str:
    """The hub the changed list names: its own, or `given` where it names none."""
    if given is not None and not printable_name(given):
        raise InvalidInput("--hub: give the hub's name, 1 to 100 printable characters")
    if keys.hub is None:
        if given is None:
            raise InvalidInput(
                f"{list_path} names no hub yet: give its name with --hub, e.g. "
                '--hub "Food hub Dortmund"; kitchens see it when they verify'
            )
        return given
    if given is not None and given != keys.hub:
        raise InvalidInput(f"{list_path} is the key list of {keys.hub}, not of {given}")
    return keys.hub


def _save(path: Path, keys: KeyList) -> None:
    """Write the list whole or not at all: a reader never sees half of it."""
    text = json.dumps(keys.to_json(), indent=2) + "\n"
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise InvalidInput(f"cannot write the key list {path} ({exc.strerror})") from None
