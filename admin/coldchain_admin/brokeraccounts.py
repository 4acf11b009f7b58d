"""The broker's accounts: the dynamic-security plugin's JSON file, copied whole.

Mosquitto keeps every account and right in memory and writes the whole file on each
change into a new file that it then renames over the old one, so the path names either
the old file or the new one, never a half-written one: a plain copy is consistent.
A restore replaces the file only while it holds no more than the accounts made at the
first start (the services'): a file with gateways' accounts belongs to a running hub.
Mosquitto reads the file at its start and writes its own state over it later, so the
broker is stopped while its file is restored.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path

from coldchain_admin.errors import BackupFailed, RestoreFailed, TargetNotEmpty
from coldchain_io import dynsec

#: The accounts `coldchain-broker-users service` makes before the first start.
INITIAL = frozenset({dynsec.ADMIN, dynsec.INGEST, dynsec.ALERTS})
SETTING = "COLDCHAIN_ADMIN_BROKER_ACCOUNTS"
#: Copies tried while an older broker rewrites the file in place (it takes milliseconds).
ATTEMPTS = 5
PAUSE_S = 0.2


def backup(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupFailed(f"the broker's accounts {source} do not exist ({SETTING})")
    target.parent.mkdir(parents=True, exist_ok=True)
    problem = ""
    for _ in range(ATTEMPTS):
        try:
            shutil.copyfile(source, target)
        except OSError as exc:
            raise BackupFailed(
                f"the broker's accounts {source} cannot be read: {exc}; the admin must be "
                "able to read the file the broker writes (its owner, or root)"
            ) from None
        try:
            json.loads(target.read_bytes())
            return
        except ValueError as exc:
            problem = str(exc)
        time.sleep(PAUSE_S)
    raise BackupFailed(
        f"the broker's accounts {source} are not whole JSON in {ATTEMPTS} copies ({problem}): "
        "is it the plugin's file?"
    )


def refuse_if_in_use(target: Path) -> None:
    """Refuse a file that holds accounts beyond the initial ones, or cannot be read."""
    if not target.exists():
        return
    try:
        clients = json.loads(target.read_text(encoding="utf-8")).get("clients", [])
        usernames = {client["username"] for client in clients}
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, TypeError, KeyError) as exc:
        raise TargetNotEmpty(
            f"{target} cannot be read as the broker's accounts ({exc}): move it away first"
        ) from None
    beyond = sorted(usernames - INITIAL)
    if beyond:
        raise TargetNotEmpty(
            f"{target} already holds accounts beyond the services' ({', '.join(beyond[:5])}): "
            "restore into a broker set up afresh, or move the file away first"
        )


def restore(source: Path, target: Path) -> None:
    """Replace `target` in one step, with the owner and mode it had (new: 0600)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.restoring")
    try:
        shutil.copyfile(source, partial)
        partial.chmod(0o600)
        if target.exists():
            before = target.stat()
            partial.chmod(stat.S_IMODE(before.st_mode))
            os.chown(partial, before.st_uid, before.st_gid)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise RestoreFailed(
            f"the broker's accounts could not be written to {target}: {exc}"
        ) from None
