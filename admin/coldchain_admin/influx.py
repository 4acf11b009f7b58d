"""InfluxDB 1.x: its portable backup format, through `influxd backup` and `restore`.

The portable format carries each database with its retention policies (and the
continuous queries of the meta store), shard by shard. `influxd` talks to the server's
RPC address, which has no login: it must stay on loopback. The HTTP API tells the
server's version and which databases exist.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx

from coldchain_admin.errors import BackupFailed, RestoreFailed, TargetNotEmpty
from coldchain_admin.settings import AdminSettings

#: `influxd backup` of a week of readings for 500 probes takes seconds; a stuck RPC
#: connection must not hold a scheduled backup for ever.
TIMEOUT_S = 3600


def _http(settings: AdminSettings) -> httpx.Client:
    auth = None
    if settings.influx_username and settings.influx_password:
        auth = httpx.BasicAuth(
            settings.influx_username, settings.influx_password.get_secret_value()
        )
    return httpx.Client(base_url=settings.influx_url, auth=auth, timeout=30)


def version(settings: AdminSettings) -> str:
    """The server's version, from the header of its answer to /ping."""
    try:
        with _http(settings) as http:
            response = http.get("/ping")
    except httpx.HTTPError as exc:
        raise BackupFailed(f"InfluxDB at {settings.influx_url} does not answer: {exc}") from None
    found = response.headers.get("X-Influxdb-Version")
    if response.status_code != 204 or not found:
        raise BackupFailed(
            f"{settings.influx_url}/ping answered {response.status_code} without a version: "
            "is COLDCHAIN_ADMIN_INFLUX_URL an InfluxDB 1.x?"
        )
    return str(found)


def databases(settings: AdminSettings) -> set[str]:
    """The databases the server holds."""
    try:
        with _http(settings) as http:
            response = http.post("/query", data={"q": "SHOW DATABASES"})
    except httpx.HTTPError as exc:
        raise RestoreFailed(f"InfluxDB at {settings.influx_url} does not answer: {exc}") from None
    if response.status_code != 200:
        raise RestoreFailed(
            f"InfluxDB refused SHOW DATABASES ({response.status_code}): "
            "COLDCHAIN_ADMIN_INFLUX_USERNAME and _PASSWORD must be an admin account"
        )
    series = response.json()["results"][0].get("series", [])
    return {row[0] for row in series[0].get("values", [])} if series else set()


def backup(settings: AdminSettings, directory: Path) -> None:
    """Back up each database of the settings into `directory`/<database>/."""
    for database in settings.influx_databases:
        target = directory / database
        target.mkdir(parents=True)
        _influxd(
            ["backup", "-portable", "-host", settings.influx_rpc, "-db", database, str(target)],
            BackupFailed,
            f"InfluxDB database {database}",
        )


def refuse_if_present(settings: AdminSettings, names: list[str]) -> None:
    present = sorted(databases(settings) & set(names))
    if present:
        raise TargetNotEmpty(
            f"InfluxDB at {settings.influx_url} already has database {', '.join(present)}: "
            "restore onto a fresh server (or DROP DATABASE after making sure it is not needed)"
        )


def restore(settings: AdminSettings, directory: Path, names: list[str]) -> None:
    """Restore each database from `directory`/<database>/, retention policies included."""
    for database in names:
        _influxd(
            [
                "restore",
                "-portable",
                "-host",
                settings.influx_rpc,
                "-db",
                database,
                str(directory / database),
            ],
            RestoreFailed,
            f"InfluxDB database {database}",
        )


def _influxd(args: list[str], error: type[Exception], what: str) -> None:
    influxd = shutil.which("influxd") or shutil.which("influxd", path="/usr/sbin:/usr/bin")
    if influxd is None:
        raise error("influxd is not installed here; it makes and restores InfluxDB's backups")
    try:
        done = subprocess.run(
            [influxd, *args], capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise error(f"influxd {args[0]} of {what} took longer than {TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise error(
            f"influxd {args[0]} of {what} failed: {lines[-1] if lines else done.returncode}"
        )
