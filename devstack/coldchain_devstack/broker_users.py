"""Accounts of the production broker, in the dynamic-security plugin's file.

    coldchain-broker-users CONFIG_FILE gateway SITE GATEWAY
    coldchain-broker-users CONFIG_FILE service ingest|alerts|broker-admin
    coldchain-broker-users CONFIG_FILE remove USERNAME
    coldchain-broker-users CONFIG_FILE migrate PASSWORD_FILE

CONFIG_FILE is the JSON file Mosquitto's dynamic-security plugin reads at start
(`plugin_opt_config_file`). Edit it only while the broker is stopped: the running
broker keeps the accounts in memory and writes the file on every change it makes,
so once it runs, gateways are registered through the alerts service
(`coldchain-alerts gateway enroll`), which sends the plugin commands.

`gateway` and `service` add the account with its role (`coldchain_io.dynsec`), or
give an existing one a new password, and print the two settings its client needs,
as lines for an env file. `migrate` copies the accounts of a Mosquitto password
file, each keeping its password (the hashes are alike), with the rights the old
ACL file gave. The password is random and hashed here; the file keeps its owner
and mode. docs/security.md says when to run what.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import stat
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from coldchain.contract import Id
from coldchain_io import dynsec

#: The services with an account, and the prefix of their settings. The broker's admin
#: account is the alerts service's, for registering gateways.
SERVICES = {
    dynsec.INGEST: "COLDCHAIN_INGEST_MQTT_",
    dynsec.ALERTS: "COLDCHAIN_ALERTS_MQTT_",
    dynsec.ADMIN: "COLDCHAIN_ALERTS_DYNSEC_",
}
GATEWAY_SETTINGS = "COLDCHAIN_GATEWAY_MQTT_"
#: PBKDF2 rounds of a password hash: what Mosquitto 2 itself uses (mosquitto_passwd, the plugin).
ITERATIONS = 101

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

    Anything else could reach topics a gateway's role does not mean: "+" or "#"
    would be wildcards in its rights, "_alerts/x" a gateway publishing alert events.
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


def set_password(config_file: Path, username: str, password: str) -> None:
    """Add the account to `config_file` (created if missing), or replace its password.

    The account gets its role (`coldchain_io.dynsec`), which the file gets too.
    """
    check_username(username)
    if not password or "\n" in password:
        raise AccountError("a password must be one non-empty line")
    config = _read(config_file)
    _put_client(config, username, _hashed(password))
    _write(config_file, config)


def remove(config_file: Path, username: str) -> None:
    """Delete the account from `config_file`, and a gateway's own role with it."""
    config = _read(config_file)
    kept = [c for c in config["clients"] if c["username"] != username]
    if len(kept) == len(config["clients"]):
        raise AccountError(f"{config_file} has no account {username!r}")
    config["clients"] = kept
    if "/" in username:
        role = f"gateway/{username}"
        config["roles"] = [r for r in config["roles"] if r["rolename"] != role]
    _write(config_file, config)


def migrate(password_file: Path, config_file: Path) -> list[str]:
    """Copy the accounts of a Mosquitto password file into `config_file`, with their rights.

    Mosquitto 2's password file and the plugin hash alike (PBKDF2-SHA512, `$7$` lines),
    so every account keeps its password: no client needs a new one. Returns the
    usernames copied.
    """
    config = _read(config_file)
    copied = []
    for line in password_file.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        username, _, hashed = line.partition(":")
        check_username(username)
        iterations, salt, digest = _hash_fields(username, hashed)
        _put_client(
            config,
            username,
            {"password": digest, "salt": salt, "iterations": iterations},
        )
        copied.append(username)
    _write(config_file, config)
    return copied


def new_password() -> str:
    return secrets.token_urlsafe(24)


def _role_of(username: str) -> dynsec.Role:
    if username == dynsec.ADMIN:
        return dynsec.admin_role()
    if username == dynsec.INGEST:
        return dynsec.ingest_role()
    if username == dynsec.ALERTS:
        return dynsec.alerts_role()
    site, _, gateway = username.partition("/")
    return dynsec.gateway_role(site, gateway)


def _put_client(config: dict[str, Any], username: str, secret: dict[str, Any]) -> None:
    role = _role_of(username).as_json()
    config["roles"] = [r for r in config["roles"] if r["rolename"] != role["rolename"]]
    config["roles"].append(role)
    client = {"username": username, **secret, "roles": [{"rolename": role["rolename"]}]}
    config["clients"] = [c for c in config["clients"] if c["username"] != username]
    config["clients"].append(client)


def _hashed(password: str) -> dict[str, Any]:
    """The password as the plugin keeps it: PBKDF2-SHA512 with a random salt."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS, 64)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": ITERATIONS,
    }


def _hash_fields(username: str, hashed: str) -> tuple[int, str, str]:
    fields = hashed.split("$")
    if len(fields) != 5 or fields[1] != "7" or not fields[2].isdigit():
        raise AccountError(
            f"the password of {username!r} is not hashed with PBKDF2-SHA512 ($7$, what "
            "mosquitto_passwd of Mosquitto 2 writes): give it a new password with "
            "`coldchain-broker-users CONFIG_FILE gateway|service ...` instead"
        )
    return int(fields[2]), fields[3], fields[4]


def _read(config_file: Path) -> dict[str, Any]:
    if not config_file.exists():
        return {"clients": [], "roles": [], "defaultACLAccess": dict(dynsec.DEFAULT_ACL_ACCESS)}
    config: dict[str, Any] = json.loads(config_file.read_text())
    config.setdefault("clients", [])
    config.setdefault("roles", [])
    return config


def _write(config_file: Path, config: dict[str, Any]) -> None:
    """Replace the file in one step, with the owner and mode it had (new: 0600)."""
    temporary = config_file.with_name(config_file.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(config, out, indent=2)
    if config_file.exists():
        before = config_file.stat()
        temporary.chmod(stat.S_IMODE(before.st_mode))
        if (before.st_uid, before.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.chown(temporary, before.st_uid, before.st_gid)
            except PermissionError:
                temporary.unlink()
                raise AccountError(
                    f"{config_file} belongs to uid {before.st_uid}: run this as root "
                    "(sudo) so that it keeps its owner, or the broker cannot read it"
                ) from None
    temporary.replace(config_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Accounts of the broker's dynamic security.")
    parser.add_argument("config_file", type=Path)
    commands = parser.add_subparsers(dest="command", required=True)
    gateway = commands.add_parser("gateway", help="add a gateway or give it a new password")
    gateway.add_argument("site")
    gateway.add_argument("gateway")
    service = commands.add_parser("service", help="add a service or give it a new password")
    service.add_argument("service", choices=sorted(SERVICES))
    removal = commands.add_parser("remove", help="delete an account")
    removal.add_argument("username")
    migration = commands.add_parser("migrate", help="copy the accounts of a password file")
    migration.add_argument("password_file", type=Path)
    args = parser.parse_args(argv)

    try:
        if args.command == "remove":
            remove(args.config_file, args.username)
            print(f"removed {args.username} from {args.config_file}", file=sys.stderr)
        elif args.command == "migrate":
            for username in migrate(args.password_file, args.config_file):
                print(f"copied {username} with its password", file=sys.stderr)
        else:
            if args.command == "gateway":
                username = gateway_username(args.site, args.gateway)
                prefix = GATEWAY_SETTINGS
            else:
                username, prefix = args.service, SERVICES[args.service]
            password = new_password()
            set_password(args.config_file, username, password)
            print(f"{prefix}USERNAME={username}\n{prefix}PASSWORD={password}")
            print(f"set the password of {username} in {args.config_file}", file=sys.stderr)
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("start the broker (or restart it: it reads the file only at start)", file=sys.stderr)
    return 0
