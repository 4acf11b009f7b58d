"""Accounts of the production broker, in its Mosquitto password file.

    coldchain-broker-users PASSWORD_FILE gateway SITE GATEWAY
    coldchain-broker-users PASSWORD_FILE service ingest|alerts
    coldchain-broker-users PASSWORD_FILE remove USERNAME

`gateway` and `service` add the account, or give an existing one a new password
(that is how a password is rotated), and print the two settings its client needs,
as lines for an env file. A gateway's username is "{site}/{gateway}": the ACL
(deploy/mosquitto/acl) confines it to the topics of that site and gateway.

The password is random, hashed by `mosquitto_passwd` (Debian's mosquitto package)
and never written in plain text outside a private temporary directory, nor put
on a command line. The file keeps its owner and mode. Mosquitto reads it again
on SIGHUP; see docs/security.md.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from coldchain.contract import Id

#: The services with an account, and the prefix of their settings.
SERVICES = {"ingest": "COLDCHAIN_INGEST_", "alerts": "COLDCHAIN_ALERTS_"}
GATEWAY_SETTINGS = "COLDCHAIN_GATEWAY_"

_ID = TypeAdapter(Id)


class AccountError(Exception):
    """A request this command refuses; the message says what to do instead."""


def gateway_username(site: str, gateway: str) -> str:
    """The broker username of a gateway: its site and gateway ids as in the fleet file."""
    for what, value in (("site", site), ("gateway", gateway)):
        try:
            _ID.validate_python(value)
        except ValidationError:
            raise AccountError(
                f"{what} id {value!r} is not an id of the fleet file: use 1 to 64 "
                "lower-case letters, digits and '-'"
            ) from None
    return f"{site}/{gateway}"


def check_username(username: str) -> None:
    """Accept a service's name or a gateway's "{site}/{gateway}", refuse anything else.

    Anything else could reach topics the ACL's patterns do not mean: "+" or "#"
    would be wildcards, "_alerts/x" a gateway publishing under the alert events.
    """
    if username in SERVICES:
        return
    site, slash, gateway = username.partition("/")
    if not slash:
        raise AccountError(
            f"username {username!r} is neither a service ({', '.join(SERVICES)}) "
            "nor a gateway's SITE/GATEWAY"
        )
    gateway_username(site, gateway)


def set_password(password_file: Path, username: str, password: str) -> None:
    """Add the account to `password_file` (created if missing), or replace its password."""
    check_username(username)
    if not password or "\n" in password:
        raise AccountError("a password must be one non-empty line")
    entries = [e for e in _read(password_file) if _username_of(e) != username]
    _write(password_file, [*entries, _hashed(username, password)])


def remove(password_file: Path, username: str) -> None:
    """Delete the account from `password_file`."""
    entries = _read(password_file)
    kept = [e for e in entries if _username_of(e) != username]
    if len(kept) == len(entries):
        raise AccountError(f"{password_file} has no account {username!r}")
    _write(password_file, kept)


def new_password() -> str:
    return secrets.token_urlsafe(24)


def _hashed(username: str, password: str) -> str:
    """The password file line of the account, hashed by mosquitto_passwd."""
    program = shutil.which("mosquitto_passwd")
    if program is None:
        raise AccountError(
            "mosquitto_passwd is not installed: `apt-get install mosquitto` (Debian, Ubuntu)"
        )
    with tempfile.TemporaryDirectory() as private:
        plain = Path(private) / "passwd"
        plain.write_text(f"{username}:{password}\n")
        subprocess.run([program, "-U", str(plain)], check=True, capture_output=True)
        (line,) = plain.read_text().splitlines()
    return line


def _read(password_file: Path) -> list[str]:
    if not password_file.exists():
        return []
    return [line for line in password_file.read_text().splitlines() if line.strip()]


def _username_of(entry: str) -> str:
    return entry.partition(":")[0]


def _write(password_file: Path, entries: list[str]) -> None:
    """Replace the file in one step, with the owner and mode it had (new: 0600)."""
    temporary = password_file.with_name(password_file.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write("".join(f"{entry}\n" for entry in entries))
    if password_file.exists():
        before = password_file.stat()
        temporary.chmod(stat.S_IMODE(before.st_mode))
        if (before.st_uid, before.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.chown(temporary, before.st_uid, before.st_gid)
            except PermissionError:
                temporary.unlink()
                raise AccountError(
                    f"{password_file} belongs to uid {before.st_uid}: run this as root "
                    "(sudo) so that it keeps its owner, or the broker cannot read it"
                ) from None
    temporary.replace(password_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Accounts of the broker's password file.")
    parser.add_argument("password_file", type=Path)
    commands = parser.add_subparsers(dest="command", required=True)
    gateway = commands.add_parser("gateway", help="add a gateway or give it a new password")
    gateway.add_argument("site")
    gateway.add_argument("gateway")
    service = commands.add_parser("service", help="add a service or give it a new password")
    service.add_argument("service", choices=sorted(SERVICES))
    removal = commands.add_parser("remove", help="delete an account")
    removal.add_argument("username")
    args = parser.parse_args(argv)

    try:
        if args.command == "remove":
            remove(args.password_file, args.username)
            print(f"removed {args.username} from {args.password_file}", file=sys.stderr)
        else:
            if args.command == "gateway":
                username = gateway_username(args.site, args.gateway)
                prefix = GATEWAY_SETTINGS
            else:
                username, prefix = args.service, SERVICES[args.service]
            password = new_password()
            set_password(args.password_file, username, password)
            print(f"{prefix}MQTT_USERNAME={username}\n{prefix}MQTT_PASSWORD={password}")
            print(f"set the password of {username} in {args.password_file}", file=sys.stderr)
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("reload the broker: docker compose kill -s HUP mosquitto", file=sys.stderr)
    return 0
