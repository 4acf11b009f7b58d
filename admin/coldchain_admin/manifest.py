"""The manifest: what a backup holds, every file's size and SHA-256, and the versions.

`manifest.json` is written last, so a backup without one is incomplete. `check` reads
it and every file it names before a restore touches anything: a file missing, of
another size or checksum, a file the manifest does not name, or a manifest of another
format refuses the backup.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from coldchain import backups
from coldchain_admin.errors import BackupRefused

NAME = backups.MANIFEST
FORMAT = backups.FORMAT
#: Raised when what a backup holds or how it is laid out changes; restore refuses others.
FORMAT_VERSION = 2
#: The versions this coldchain-admin restores: version 1 lacks the broker's accounts.
READABLE_VERSIONS = (1, 2)
_CHUNK = 1 << 20


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="Relative to the backup directory, with /.")
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class InfluxPart(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(description="The InfluxDB server's version (X-Influxdb-Version).")
    databases: list[str]


class SqlPart(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dialect: Literal["sqlite", "postgresql"]
    server_version: str
    alembic_revision: str | None = Field(description="The schema's revision when backed up.")
    file: str


class StatePart(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="What the file is, e.g. ingest-state.")
    file: str


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["coldchain-backup"]
    format_version: int
    made_by: str = Field(description="coldchain-admin and its version.")
    started_at: datetime
    finished_at: datetime
    took_s: float
    influxdb: InfluxPart
    sql: SqlPart
    state_files: list[StatePart]
    public_keys: str | None = Field(description="The key list's file, or None.")
    broker_accounts: str | None = Field(
        default=None, description="The broker's dynamic-security file, or None."
    )
    files: list[FileEntry]


def digest(path: Path) -> FileEntry:
    """The entry of a file under a backup directory: its size and SHA-256."""
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return FileEntry(path="", bytes=size, sha256=sha.hexdigest())


def entries(directory: Path) -> list[FileEntry]:
    """Every file under `directory` but the manifest, by path."""
    found = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        if relative != NAME:
            found.append(digest(path).model_copy(update={"path": relative}))
    return found


def write(directory: Path, manifest: Manifest) -> None:
    """Write the manifest, durably and last: until it is there, the backup is incomplete."""
    partial = directory / f".{NAME}.partial"
    with partial.open("w", encoding="utf-8") as stream:
        stream.write(manifest.model_dump_json(indent=2) + "\n")
        stream.flush()
        os.fsync(stream.fileno())
    partial.replace(directory / NAME)


def check(directory: Path) -> Manifest:
    """The backup's manifest, once every file it names is there unchanged.

    Raises BackupRefused naming the first problem.
    """
    if not directory.is_dir():
        raise BackupRefused(f"{directory} is not a directory")
    path = directory / NAME
    if not path.is_file():
        raise BackupRefused(
            f"{directory} has no {NAME}: the backup is incomplete (it was interrupted, "
            "or this is not a coldchain backup)"
        )
    manifest = _read(path)
    named = {entry.path: entry for entry in manifest.files}
    for entry in manifest.files:
        _check_entry(directory, entry)
    unnamed = [e.path for e in entries(directory) if e.path not in named]
    if unnamed:
        raise BackupRefused(
            f"{', '.join(unnamed)} is in the backup but not in its manifest: "
            "someone added or renamed files"
        )
    parts = [manifest.sql.file, *(s.file for s in manifest.state_files)]
    parts += [p for p in (manifest.public_keys, manifest.broker_accounts) if p is not None]
    for part in parts:
        if part not in named:
            raise BackupRefused(f"the manifest names {part} as a part but lists no such file")
    return manifest


def _read(path: Path) -> Manifest:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupRefused(f"{NAME} cannot be read: {exc}; the backup is incomplete") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BackupRefused(f"{NAME} is not the manifest of a coldchain backup")
    version = raw.get("format_version")
    if version not in READABLE_VERSIONS:
        raise BackupRefused(
            f"the manifest is of format version {version!r}; this coldchain-admin restores "
            f"versions {', '.join(map(str, READABLE_VERSIONS))}: use the coldchain-admin "
            "that made the backup"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BackupRefused(f"{NAME} is damaged: {where}: {first['msg']}") from None


def _check_entry(directory: Path, entry: FileEntry) -> None:
    path = directory / entry.path
    if ".." in Path(entry.path).parts or Path(entry.path).is_absolute():
        raise BackupRefused(f"the manifest names {entry.path}, outside the backup")
    if not path.is_file():
        raise BackupRefused(f"{entry.path} is missing: the backup is incomplete")
    found = digest(path)
    if found.bytes != entry.bytes:
        raise BackupRefused(
            f"{entry.path} has {found.bytes} bytes, the manifest says {entry.bytes}: "
            "the file was cut short or changed"
        )
    if found.sha256 != entry.sha256:
        raise BackupRefused(
            f"{entry.path} does not match its SHA-256 in the manifest: the file is corrupted"
        )
