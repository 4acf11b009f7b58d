"""compose.yaml, Dockerfile, Procfile and docs/configuration.md checked against the code.

The settings classes, the parts' [project.scripts] and the repository's files are
the truth; the deployment files must name only what exists there.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, get_args
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from coldchain.contract import MAX_PAYLOAD_BYTES
from coldchain.topics import PREFIX
from coldchain_admin.settings import AdminSettings
from coldchain_alerts.settings import AlertsSettings
from coldchain_devstack import demo
from coldchain_devstack.localstack import (
    DYNSEC_PLUGIN,
    MAX_PACKET_BYTES,
    mosquitto_conf,
    secured_mosquitto_conf,
)
from coldchain_gateway.settings import GatewaySettings
from coldchain_ingest.settings import IngestSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
PROCFILE = ROOT / "Procfile"
MAKEFILE = ROOT / "Makefile"
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"
MOSQUITTO_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
INFLUXDB_ACCOUNTS = ROOT / "deploy" / "influxdb" / "accounts.sh"
GRAFANA_PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"

#: Each deployable part: its folder (and Dockerfile target) and its settings class.
SETTINGS: dict[str, type[BaseSettings]] = {
    "gateway": GatewaySettings,
    "ingest": IngestSettings,
    "alerts": AlertsSettings,
    "admin": AdminSettings,
}
#: Services named otherwise than the part they run.
SERVICE_PARTS = {"backup": "admin"}
#: Every installable folder; a part's local dependencies are found among these.
INSTALLABLE = ["domain", "firmware-sim", "gateway", "ingest", "alerts", "admin", "devstack"]
#: Commands the Procfile may take from the system, and the Debian package with each.
SYSTEM_COMMANDS = {"mosquitto": "mosquitto", "influxd": "influxdb"}
#: What the .venv holds besides the console scripts of our parts.
VENV_TOOLS = {"python", "python3"}
#: Mosquitto options that must be the same in production and in `make demo`/the tests.
SHARED_MOSQUITTO_OPTIONS = [
    "persistence",
    "autosave_interval",
    "max_queued_messages",
    "max_queued_bytes",
    "max_inflight_messages",
    "max_packet_size",
    "memory_limit",
]
#: Security options that production shares with the secured broker of the security tests
#: (the demo's broker is anonymous on loopback).
SECURITY_MOSQUITTO_OPTIONS = [
    "per_listener_settings",
    "allow_anonymous",
    "use_username_as_clientid",
]


# --- compose.yaml ----------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


#: Services that run a command of a part once with InfluxDB's admin account, by name.
ADMIN_STEPS = {"influxdb-setup": "ingest"}


def part_of(service: str) -> str | None:
    """The part a service runs by its name (`ingest`, `alerts`, `gateway-*`, `backup`, an
    admin step), or None."""
    if service.startswith("gateway-"):
        return "gateway"
    if service in SERVICE_PARTS:
        return SERVICE_PARTS[service]
    return ADMIN_STEPS.get(service) or (service if service in SETTINGS else None)


OURS = [name for name in services() if part_of(name)]


def settings_of(service: str) -> type[BaseSettings]:
    return SETTINGS[part_of(service) or ""]


def environment(service: str) -> dict[str, str]:
    """The service's environment as compose passes it (list or mapping form)."""
    raw = services()[service].get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, None) for item in raw)
    return {name: _env_value(value) for name, value in raw.items()}


def _env_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def interpolated(value: str) -> str:
    """The value with ${VAR:-default} replaced by its default, as a fresh checkout sees it."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", value).replace("$$", "$")


def volume_mounts(service: str) -> list[tuple[str, str]]:
    """(source, target) of each volume of the service, short or long syntax."""
    mounts = []
    for volume in services()[service].get("volumes", []):
        if isinstance(volume, dict):
            mounts.append((volume["source"], volume["target"]))
        else:
            source, target = volume.split(":")[:2]
            mounts.append((source, target))
    return mounts


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


# --- the parts: settings and console scripts ---------------------------------------


def env_names(settings: type[BaseSettings]) -> dict[str, FieldInfo]:
    """Environment variable name -> field, as pydantic-settings reads them."""
    prefix = settings.model_config.get("env_prefix", "")
    return {(prefix + name).upper(): info for name, info in settings.model_fields.items()}


#: Every settings class docs/configuration.md documents.
DOCUMENTED: dict[str, type[BaseSettings]] = SETTINGS
ALL_ENV_NAMES = {name for s in DOCUMENTED.values() for name in env_names(s)}


@cache
def pyproject(folder: str) -> dict[str, Any]:
    return tomllib.loads((ROOT / folder / "pyproject.toml").read_text())


def console_scripts(folder: str) -> dict[str, str]:
    scripts: dict[str, str] = pyproject(folder)["project"].get("scripts", {})
    return scripts


ALL_CONSOLE_SCRIPTS = {name for f in INSTALLABLE for name in console_scripts(f)}


def local_folders(folder: str) -> set[str]:
    """The folder and every installable folder it depends on, transitively."""
    by_name = {canonicalize_name(pyproject(f)["project"]["name"]): f for f in INSTALLABLE}
    needed, todo = set(), [folder]
    while todo:
        current = todo.pop()
        needed.add(current)
        for requirement in pyproject(current)["project"].get("dependencies", []):
            dependency = by_name.get(canonicalize_name(Requirement(requirement).name))
            if dependency and dependency not in needed:
                todo.append(dependency)
    return needed


# --- Dockerfile ----------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


@cache
def stages() -> dict[str, Stage]:
    """The Dockerfile's stages by name, each with its (INSTRUCTION, arguments)."""
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for line in _logical_lines(DOCKERFILE.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else words[0]
            current = found[name] = Stage(name, words[0])
        elif current is not None:
            current.instructions.append((keyword, rest))
    return found


def _logical_lines(text: str) -> list[str]:
    lines, pending = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    return lines


def chain(target: str) -> list[Stage]:
    """The stages `target` builds on, first the root, last `target` itself."""
    found = stages()
    result = [found[target]]
    while result[0].base in found:
        result.insert(0, found[result[0].base])
    return result


def _exec_form(arguments: str) -> list[str]:
    if arguments.startswith("["):
        words: list[str] = json.loads(arguments)
        return words
    return shlex.split(arguments)


def image_command(target: str) -> tuple[list[str], list[str]]:
    """ENTRYPOINT and CMD of a container of `target`."""
    entrypoint: list[str] = []
    cmd: list[str] = []
    for stage in chain(target):
        cmd_here = False
        for keyword, arguments in stage.instructions:
            if keyword == "ENTRYPOINT":
                entrypoint = _exec_form(arguments)
                if not cmd_here:
                    cmd = []  # Docker resets an inherited CMD when ENTRYPOINT is set.
            elif keyword == "CMD":
                cmd, cmd_here = _exec_form(arguments), True
    return entrypoint, cmd


def container_command(service: str) -> list[str]:
    """What the service's container runs: the image's command as compose overrides it."""
    spec = services()[service]
    entrypoint, cmd = image_command(build_target(service))
    if "entrypoint" in spec:
        entrypoint, cmd = _words(spec["entrypoint"]), []
    if "command" in spec:
        cmd = _words(spec["command"])
    return entrypoint + cmd


def _words(command: str | list[str] | None) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else list(command)


def copies(target: str) -> list[tuple[list[str], PurePosixPath]]:
    """(sources in the build context, destination in the image) of each COPY from it."""
    found = []
    workdir = PurePosixPath("/")
    for stage in chain(target):
        for keyword, arguments in stage.instructions:
            if keyword == "WORKDIR":
                workdir = workdir / arguments
            elif keyword in ("COPY", "ADD"):
                words = shlex.split(arguments)
                if any(w.startswith("--from") for w in words):
                    continue
                paths = [w for w in words if not w.startswith("--")]
                found.append((paths[:-1], workdir / paths[-1]))
    return found


def workdir_of(target: str) -> PurePosixPath:
    workdir = PurePosixPath("/")
    for stage in chain(target):
        for keyword, arguments in stage.instructions:
            if keyword == "WORKDIR":
                workdir = workdir / arguments
    return workdir


def runs(target: str) -> list[str]:
    return [
        arguments for stage in chain(target) for kw, arguments in stage.instructions if kw == "RUN"
    ]


def build_target(service: str) -> str:
    build = services()[service].get("build")
    assert isinstance(build, dict), f"{service}: build must name a target of the Dockerfile"
    target: str = build["target"]
    assert target in stages(), f"{service}: no stage {target!r} in {DOCKERFILE.name}"
    return target


# --- the environment of our services is their settings -----------------------------


def test_compose_runs_every_part() -> None:
    assert {part_of(name) for name in OURS} == set(SETTINGS)


@pytest.mark.parametrize("service", OURS)
def test_service_builds_the_target_of_its_part(service: str) -> None:
    build = services()[service]["build"]
    assert (ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")).is_file()
    assert build_target(service) == part_of(service)


@pytest.mark.parametrize("service", OURS)
def test_our_services_get_only_their_settings(service: str) -> None:
    known = env_names(settings_of(service))
    unknown = sorted(set(environment(service)) - set(known))
    assert not unknown, f"{service}: not settings of its part: {unknown}; known: {sorted(known)}"


@pytest.mark.parametrize("service", list(services()))
def test_no_unknown_coldchain_variable(service: str) -> None:
    part = part_of(service)
    known = set(env_names(SETTINGS[part])) if part else set()
    variables = {name for name in environment(service) if name.startswith("COLDCHAIN_")}
    assert not variables - known, f"{service}: unknown {sorted(variables - known)}"


@pytest.mark.parametrize("service", OURS)
def test_required_settings_are_set(service: str) -> None:
    required = {n for n, info in env_names(settings_of(service)).items() if info.is_required()}
    missing = sorted(required - set(environment(service)))
    assert not missing, f"{service}: required settings not set: {missing}"


@pytest.mark.parametrize("service", OURS)
def test_settings_accept_the_values(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("COLDCHAIN_"):
            monkeypatch.delenv(name)
    for name, value in environment(service).items():
        monkeypatch.setenv(name, interpolated(value))
    settings_of(service)(_env_file=None)


@pytest.mark.parametrize("service", OURS)
def test_paths_in_settings_exist_in_the_container(service: str) -> None:
    """A path points into a file the image copies from the repo, or into a volume."""
    target = build_target(service)
    fields = env_names(settings_of(service))
    for name, value in environment(service).items():
        if name not in fields or not _is_path(fields[name]):
            continue
        path = workdir_of(target) / value
        copied = [
            ROOT / source / path.relative_to(destination)
            for sources, destination in copies(target)
            for source in sources
            if path.is_relative_to(destination)
        ]
        mounted = [t for _, t in volume_mounts(service) if path.is_relative_to(t)]
        assert mounted or any(p.exists() for p in copied), (
            f"{service}: {name}={value} is neither a file the {target} image copies from "
            f"the repo ({[str(p.relative_to(ROOT)) for p in copied]}) nor on a volume"
        )


def _is_path(info: FieldInfo) -> bool:
    return info.annotation is Path or Path in get_args(info.annotation)


def test_services_find_each_other_by_service_name() -> None:
    hosts = {
        f"{service}: {name}": host
        for service in OURS
        for name, value in environment(service).items()
        if (host := _host_of(name, interpolated(value)))
    }
    strangers = {
        where: host
        for where, host in hosts.items()
        if host not in services() and not _on_a_peers_loopback(where.split(":")[0], host)
    }
    assert hosts
    assert not strangers, f"hosts that are no service of compose.yaml: {strangers}"


def _on_a_peers_loopback(service: str, host: str) -> bool:
    """Loopback of a service that joins another's network namespace is that service."""
    mode = services()[service].get("network_mode", "")
    return host == "127.0.0.1" and mode.removeprefix("service:") in services()


def _host_of(name: str, value: str) -> str | None:
    if name.endswith("_MQTT_HOST"):
        return value
    if name.endswith(("_URL", "_DATABASE_URL")) and "://" in value:
        return urlsplit(value).hostname
    return None


def test_alerts_database_is_the_postgres_service() -> None:
    url = urlsplit(interpolated(environment("alerts")["COLDCHAIN_ALERTS_DATABASE_URL"]))
    postgres = {k: interpolated(v) for k, v in environment(url.hostname or "").items()}
    assert url.scheme == "postgresql+psycopg"
    assert (url.username, url.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_alerts_api_is_published_on_the_port_it_listens_on() -> None:
    alerts = environment("alerts")
    assert alerts["COLDCHAIN_ALERTS_HOST"] == "0.0.0.0", "unreachable from outside its container"
    published = [str(p).rsplit(":", 1)[-1] for p in services()["alerts"].get("ports", [])]
    assert alerts["COLDCHAIN_ALERTS_PORT"] in published


def test_one_influx_database_for_ingest_influxdb_and_grafana() -> None:
    datasources = yaml.safe_load((GRAFANA_PROVISIONING / "datasources/influxdb.yaml").read_text())
    [influx] = [d for d in datasources["datasources"] if d["type"] == "influxdb"]
    ingest = environment("ingest")
    assert influx["jsonData"]["dbName"] == ingest["COLDCHAIN_INGEST_INFLUX_DB"]
    assert environment("influxdb")["INFLUXDB_DB"] == ingest["COLDCHAIN_INGEST_INFLUX_DB"]
    assert influx["url"] == ingest["COLDCHAIN_INGEST_INFLUX_URL"]


def published_ports() -> list[tuple[str, str, str]]:
    """(host address, host port, container port) of every port compose publishes;
    the address is "" for every interface of the host."""
    found = []
    for spec in services().values():
        for port in spec.get("ports", []):
            if isinstance(port, dict):
                address, host = port.get("host_ip", ""), str(port.get("published", ""))
                found.append((address, host, str(port["target"])))
                continue
            *address, host, container = str(port).rsplit(":", 2)
            found.append(("".join(address), host, container))
    return found


def test_only_the_public_ports_are_published_to_every_interface() -> None:
    everywhere = {(host, inside) for address, host, inside in published_ports() if not address}
    assert everywhere == {("8883", "8883"), ("3000", "3000"), ("8000", "8000")}


def test_influxdb_is_published_on_loopback_only() -> None:
    influxdb = [(a, h) for a, h, inside in published_ports() if inside == "8086"]
    assert influxdb == [("127.0.0.1", "8086")], "for coldchain-report on the Docker host"


# --- InfluxDB: authentication on, one account per client ---------------------------


def required_secret(value: str) -> str | None:
    """The variable a value comes from when compose refuses to start without it
    (`${NAME:?message}`), else None."""
    match = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}", value)
    return match.group(1) if match else None


@cache
def influx_accounts() -> dict[str, tuple[str, str]]:
    """Account -> (its password's variable, its right) from deploy/influxdb/accounts.sh."""
    table = re.search(
        r"^coldchain_accounts='\n(.*?)^'", INFLUXDB_ACCOUNTS.read_text(), re.MULTILINE | re.DOTALL
    )
    assert table, f"no table coldchain_accounts in {INFLUXDB_ACCOUNTS}"
    rows = [row.split() for row in table.group(1).splitlines() if row.strip()]
    return {name: (variable, right) for name, variable, right in rows}


def influx_setting(service: str, name: str) -> str | None:
    """The service's setting `{PREFIX}INFLUX_{name}`, or None when unset or empty."""
    prefix = str(settings_of(service).model_config.get("env_prefix", ""))
    return environment(service).get(f"{prefix}INFLUX_{name}") or None


#: Services with an account of their own; the backup service and the admin steps use
#: InfluxDB's admin.
INFLUX_CLIENTS = [
    name
    for name in OURS
    if influx_setting(name, "URL") and name != "backup" and name not in ADMIN_STEPS
]


def test_backup_uses_influxdbs_admin_account() -> None:
    """SHOW DATABASES before a restore, and `influxd restore` creating them, need an admin."""
    influxdb = environment("influxdb")
    assert influx_setting("backup", "USERNAME") == influxdb["INFLUXDB_ADMIN_USER"]
    assert required_secret(influx_setting("backup", "PASSWORD") or "") == "INFLUX_ADMIN_PASSWORD"


def test_influxdb_asks_every_client_for_an_account() -> None:
    influxdb = environment("influxdb")
    assert influxdb["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    assert influxdb["INFLUXDB_ADMIN_USER"]
    assert required_secret(influxdb["INFLUXDB_ADMIN_PASSWORD"]) == "INFLUX_ADMIN_PASSWORD"
    mounts = dict(volume_mounts("influxdb"))
    assert mounts[f"./{INFLUXDB_ACCOUNTS.relative_to(ROOT)}"].startswith(
        "/docker-entrypoint-initdb.d/"
    ), "the image runs the accounts script at its first start"
    for account, (variable, _) in influx_accounts().items():
        assert required_secret(influxdb.get(variable, "")) == variable, (
            f"the influxdb service needs {variable} to make the account {account}"
        )


@pytest.mark.parametrize("service", INFLUX_CLIENTS)
def test_services_use_influxdb_with_their_own_account(service: str) -> None:
    username = influx_setting(service, "USERNAME")
    assert username in influx_accounts(), f"{service}: no InfluxDB account {username!r}"
    variable, right = influx_accounts()[username]
    assert required_secret(influx_setting(service, "PASSWORD") or "") == variable
    assert right == "ALL", f"{service} writes and reads"
    others = [influx_setting(other, "USERNAME") for other in INFLUX_CLIENTS if other != service]
    assert username not in others, f"{service} shares its account"
    prefix = str(settings_of(service).model_config.get("env_prefix", ""))
    creates = f"{prefix}INFLUX_CREATE_DB" in env_names(settings_of(service))
    if creates and username != environment("influxdb")["INFLUXDB_ADMIN_USER"]:
        assert influx_setting(service, "CREATE_DB") == "false", (
            f"{service} would CREATE DATABASE, which only the admin account may"
        )


@pytest.mark.parametrize("step", list(ADMIN_STEPS))
def test_admin_steps_run_as_influxdbs_admin_before_ingest(step: str) -> None:
    influxdb = environment("influxdb")
    assert influx_setting(step, "USERNAME") == influxdb["INFLUXDB_ADMIN_USER"]
    assert required_secret(influx_setting(step, "PASSWORD") or "") == "INFLUX_ADMIN_PASSWORD"
    assert influx_setting(step, "DB") == influx_setting("ingest", "DB")
    assert influx_setting(step, "URL") == influx_setting("ingest", "URL")
    assert services()[step].get("restart") == "no", "a step runs once, not for ever"
    waits = services()["ingest"]["depends_on"][step]
    assert waits == {"condition": "service_completed_successfully"}


def test_grafana_reads_influxdb_with_a_read_only_account() -> None:
    datasources = yaml.safe_load((GRAFANA_PROVISIONING / "datasources/influxdb.yaml").read_text())
    [influx] = [d for d in datasources["datasources"] if d["type"] == "influxdb"]
    variable, right = influx_accounts()[influx["user"]]
    assert right == "READ"
    assert influx["secureJsonData"]["password"] == f"${variable}"
    assert required_secret(environment("grafana")[variable]) == variable


def test_accounts_no_service_writes_with_only_read() -> None:
    used = {influx_setting(service, "USERNAME") for service in INFLUX_CLIENTS}
    readers = {name: right for name, (_, right) in influx_accounts().items() if name not in used}
    assert readers and set(readers.values()) == {"READ"}, readers


def test_header_names_every_variable_compose_reads() -> None:
    text = COMPOSE.read_text()
    header = text[: text.index("\nservices:")]
    read = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text[len(header) :]))
    missing = sorted(name for name in read if not re.search(rf"\b{name}\b", header))
    assert not missing, f"compose.yaml's header comment does not name {missing}"


def test_healthy_dependencies_have_a_healthcheck() -> None:
    for service, spec in services().items():
        for dependency, condition in (spec.get("depends_on") or {}).items():
            assert dependency in services(), f"{service} depends on unknown {dependency}"
            if condition.get("condition") == "service_healthy":
                assert has_healthcheck(dependency), (
                    f"{service} waits for {dependency} to be healthy; it has no healthcheck"
                )


def has_healthcheck(service: str) -> bool:
    healthcheck = services()[service].get("healthcheck") or {}
    test = healthcheck.get("test")
    return bool(test) and test != ["NONE"] and not healthcheck.get("disable", False)


def test_backup_reaches_influxdb_rpc_on_loopback_only() -> None:
    """`influxd backup` talks to InfluxDB's RPC address, which has no login."""
    backup, influxdb = services()["backup"], environment("influxdb")
    assert backup["network_mode"] == "service:influxdb"
    assert influxdb["INFLUXDB_BIND_ADDRESS"] == environment("backup")["COLDCHAIN_ADMIN_INFLUX_RPC"]
    assert influxdb["INFLUXDB_BIND_ADDRESS"].startswith("127.0.0.1:")
    assert not any("8088" in str(port) for port in services()["influxdb"].get("ports", []))


def test_backup_reads_the_other_services_files_read_only() -> None:
    mounts = {target: volume for volume in services()["backup"]["volumes"] for target in
              [volume.split(":")[1]]}  # fmt: skip
    for name in ("INGEST_STATE", "BROKER_ACCOUNTS", "PUBLIC_KEYS"):
        path = PurePosixPath(environment("backup")[f"COLDCHAIN_ADMIN_{name}"])
        assert mounts[str(path.parent)].endswith(":ro"), name
    ingest = dict(volume_mounts("ingest"))["ingest-state"]
    state = PurePosixPath(environment("ingest")["COLDCHAIN_INGEST_STATE"])
    assert state.parent == PurePosixPath(ingest)
    assert (
        dict(volume_mounts("backup"))["ingest-state"] + "/" + state.name
        == (environment("backup")["COLDCHAIN_ADMIN_INGEST_STATE"])
    )


def test_alerts_watch_the_volume_backup_writes() -> None:
    written = dict(volume_mounts("backup"))["backups"]
    read = dict(volume_mounts("alerts"))["backups"]
    assert environment("backup")["COLDCHAIN_ADMIN_BACKUP_ROOT"] == written
    assert environment("alerts")["COLDCHAIN_ALERTS_BACKUP_ROOT"] == read


def test_admin_image_has_the_clients_of_compose_servers() -> None:
    """pg_dump of the server's major version (an older one refuses a newer server) and
    influxd from the very image compose runs as InfluxDB."""
    postgres_major = services()["postgres"]["image"].split(":")[1].split(".")[0]
    args = [a for stage in chain("admin") for kw, a in stage.instructions if kw == "ARG"]
    assert f"POSTGRES_MAJOR={postgres_major}" in args
    assert any("postgresql-client-${POSTGRES_MAJOR}" in run for run in runs("admin"))
    assert stages()["influxd"].base == services()["influxdb"]["image"]
    copied = [a for stage in chain("admin") for kw, a in stage.instructions if kw == "COPY"]
    assert "--from=influxd /usr/bin/influxd /usr/bin/influxd" in copied
    assert "/src/alerts" in " ".join(runs("admin")), "restore runs coldchain-alerts"


@pytest.mark.parametrize("service", list(services()))
def test_healthchecks_read_settings_the_service_sets(service: str) -> None:
    healthcheck = json.dumps(services()[service].get("healthcheck", {}))
    read = set(re.findall(r"\bCOLDCHAIN_[A-Z0-9_]*[A-Z0-9]\b", healthcheck))
    assert read <= set(environment(service)), f"{service}: healthcheck reads unset {read}"


def test_gateways_have_their_own_id_and_outbox() -> None:
    gateways = [name for name in OURS if part_of(name) == "gateway"]
    ids = [environment(name)["COLDCHAIN_GATEWAY_ID"] for name in gateways]
    volumes = [source for name in gateways for source, _ in volume_mounts(name)]
    assert len(set(ids)) == len(ids), f"gateway ids repeat: {ids}"
    assert len(set(volumes)) == len(volumes), f"gateways share a volume: {volumes}"


def test_named_volumes_are_declared() -> None:
    declared = set(compose().get("volumes") or {})
    used = {s for name in services() for s, _ in volume_mounts(name) if not is_bind(s)}
    assert used <= declared, f"undeclared volumes: {sorted(used - declared)}"


# --- every service runs a console script of its part ------------------------------


@pytest.mark.parametrize("service", OURS)
def test_service_runs_a_console_script_of_its_part(service: str) -> None:
    command = container_command(service)
    part = part_of(service) or ""
    scripts = console_scripts(part)
    assert command, f"{service}: runs nothing"
    assert command[0] in scripts, f"{service} runs {command[0]!r}; {part} has {sorted(scripts)}"
    module, _, function = scripts[command[0]].partition(":")
    assert callable(getattr(importlib.import_module(module), function))


@pytest.mark.parametrize("target", list(SETTINGS))
def test_target_installs_its_part_and_local_dependencies(target: str) -> None:
    copied = {source: dest for sources, dest in copies(target) for source in sources}
    for folder in sorted(local_folders(target)):
        assert folder in copied, f"target {target} does not COPY ./{folder}"
        assert any("pip install" in run and str(copied[folder]) in run for run in runs(target)), (
            f"target {target} does not pip install {copied[folder]}"
        )


# --- files the deployment takes from the repo exist -------------------------------


@pytest.mark.parametrize("service", list(services()))
def test_mounted_files_exist(service: str) -> None:
    for source, _ in volume_mounts(service):
        if is_bind(source):
            assert (COMPOSE.parent / source).exists(), f"{service} mounts missing {source}"


def test_dockerfile_copies_exist() -> None:
    for target in stages():
        for sources, _ in copies(target):
            for source in sources:
                assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_no_image_carries_the_local_stack() -> None:
    """devstack/ starts servers on a developer's machine; production runs compose.yaml."""
    for target in stages():
        for sources, _ in copies(target):
            assert "devstack" not in sources, f"Dockerfile stage {target} copies devstack/"
    for part in SETTINGS:
        assert "devstack" not in local_folders(part), f"{part} depends on devstack/"


def test_dashboard_providers_read_each_folder_of_the_mounted_dashboards() -> None:
    """One provider per folder of dashboards/ with JSON in it (de, en: every site; sites/
    {site}/de, en: one site's), each into a Grafana folder of its own."""
    provider = yaml.safe_load((GRAFANA_PROVISIONING / "dashboards/coldchain.yaml").read_text())
    mounted = dict(volume_mounts("grafana"))["./dashboards"]
    boards = ROOT / "dashboards"
    held = {path.parent.relative_to(boards).as_posix() for path in boards.glob("**/*.json")}
    assert {"de", "en"} < held
    providers = provider["providers"]
    assert {p["options"]["path"] for p in providers} == {f"{mounted}/{path}" for path in held}
    folders = len(held)
    assert (
        len({p["folder"] for p in providers}) == len({p["folderUid"] for p in providers}) == folders
    )


@pytest.mark.parametrize("kind", ["datasources", "dashboards"])
def test_grafana_provisioning_is_mounted(kind: str) -> None:
    mounts = dict(volume_mounts("grafana"))
    assert mounts[f"./deploy/grafana/provisioning/{kind}"] == f"/etc/grafana/provisioning/{kind}"


def test_mosquitto_configured_like_the_local_broker(tmp_path: Path) -> None:
    production = _conf_options(MOSQUITTO_CONF)
    local = _conf_options(mosquitto_conf(tmp_path, 1883))
    secured = _conf_options(_secured_conf(tmp_path))
    for option in SHARED_MOSQUITTO_OPTIONS:
        assert production.get(option) == local.get(option) == secured.get(option), option
    assert dict(volume_mounts("mosquitto"))["./deploy/mosquitto"] == "/mosquitto/config"


def test_mosquitto_packet_limit_is_sized_from_the_contract() -> None:
    assert int(_conf_options(MOSQUITTO_CONF)["max_packet_size"]) == MAX_PACKET_BYTES
    longest_id = "x" * 64
    topic = f"{PREFIX}/{longest_id}/{longest_id}/telemetry"
    # PUBLISH at QoS 1: fixed header (at most 5 bytes), topic with its length, packet id,
    # MQTT 5 properties (a few bytes; our gateways send none), payload.
    largest_telemetry = 5 + 2 + len(topic) + 2 + 64 + MAX_PAYLOAD_BYTES
    assert largest_telemetry <= MAX_PACKET_BYTES <= 4 * MAX_PAYLOAD_BYTES


def test_mosquitto_secured_like_the_broker_of_the_security_tests(tmp_path: Path) -> None:
    production = _conf_options(MOSQUITTO_CONF)
    secured = _conf_options(_secured_conf(tmp_path))
    for option in SECURITY_MOSQUITTO_OPTIONS:
        assert production.get(option) == secured.get(option), option
    assert production["allow_anonymous"] == "false"
    assert "password_file" not in production and "acl_file" not in production
    # The same plugin: the image keeps it in /usr/lib, Debian's package in its arch folder.
    assert PurePosixPath(production["plugin"]).name == DYNSEC_PLUGIN.name
    assert secured["plugin"] == str(DYNSEC_PLUGIN)
    assert secured["plugin_opt_config_file"] == str(tmp_path / "dynamic-security.json")


def test_mosquitto_writes_its_accounts_into_a_folder_of_their_own() -> None:
    """The plugin writes its file on every change, through a new file in the same folder."""
    config_file = PurePosixPath(_conf_options(MOSQUITTO_CONF)["plugin_opt_config_file"])
    mounts = {target: source for source, target in volume_mounts("mosquitto")}
    source = mounts[str(config_file.parent)]
    assert source == "./deploy/mosquitto/dynsec"
    volume = next(v for v in services()["mosquitto"]["volumes"] if v.startswith(source))
    assert not volume.endswith(":ro")


def _secured_conf(directory: Path) -> Path:
    return secured_mosquitto_conf(
        directory,
        1883,
        8883,
        directory / "dynamic-security.json",
        directory / "crt",
        directory / "key",
    )


def _conf_options(path: Path) -> dict[str, str]:
    options = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition(" ")
            options[key] = value.strip()
    return options


# --- the Procfile names only what exists ------------------------------------------


def procfile() -> dict[str, list[str]]:
    entries = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = shlex.split(command)
    return entries


def program(words: list[str]) -> list[str]:
    """The program and its arguments, past `exec`, `env` and VAR=value."""
    rest = list(words)
    while rest and (rest[0] in ("exec", "env") or re.match(r"^[A-Za-z_]\w*=", rest[0])):
        rest.pop(0)
    return rest


@pytest.mark.parametrize("entry", list(procfile()))
def test_procfile_names_only_what_exists(entry: str) -> None:
    command = program(procfile()[entry])
    assert command, f"Procfile {entry}: no command"
    name = command[0]
    if name.startswith(".venv/bin/"):
        _check_venv_command(command, f"Procfile {entry}")
    else:
        package = SYSTEM_COMMANDS.get(name)
        assert package, f"Procfile {entry}: {name} is no script of ours nor a known system command"
        apt = re.search(r"^APT_PACKAGES\s*:?=(.*)$", MAKEFILE.read_text(), re.MULTILINE)
        assert apt and package in apt.group(1).split(), f"`make` does not install {package}"


def _check_venv_command(command: list[str], where: str) -> None:
    tool = PurePosixPath(command[0]).name
    assert tool in ALL_CONSOLE_SCRIPTS | VENV_TOOLS, f"{where}: no console script {tool}"
    if tool in VENV_TOOLS and len(command) > 1 and command[1].endswith(".py"):
        assert (ROOT / command[1]).is_file(), f"{where}: {command[1]} missing"


DEMO_ENVIRONMENTS = {
    "ingest": demo.ingest_environment,
    "alerts": demo.alerts_environment,
    "gateway": lambda ports: demo.gateway_environment(ports, "van-1"),
}


@pytest.mark.parametrize("part", list(DEMO_ENVIRONMENTS))
def test_the_demo_sets_only_settings_of_the_part_it_runs(part: str) -> None:
    variables = set(DEMO_ENVIRONMENTS[part](demo.Ports.from_environment()))
    unknown = variables - set(env_names(SETTINGS[part]))
    assert not unknown, f"coldchain-demo runs {part} with unknown {unknown}"


# --- docs/configuration.md lists every setting with its default ---------------------


def documented_rows() -> dict[str, list[str]]:
    """Variable -> cells of its row in the tables of docs/configuration.md."""
    rows = {}
    for line in CONFIGURATION_DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"`COLDCHAIN_[A-Z0-9_]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def documented_default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    default = info.get_default(call_default_factory=True)
    if default is None:
        return "unset"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


@pytest.mark.parametrize("part", list(DOCUMENTED))
def test_configuration_doc_names_every_setting(part: str) -> None:
    text = CONFIGURATION_DOC.read_text()
    missing = [n for n in env_names(DOCUMENTED[part]) if not re.search(rf"\b{n}\b", text)]
    assert not missing, f"docs/configuration.md lacks {missing}"


@pytest.mark.parametrize("part", list(DOCUMENTED))
def test_configuration_doc_gives_every_default(part: str) -> None:
    rows = documented_rows()
    for name, info in env_names(DOCUMENTED[part]).items():
        assert name in rows, f"docs/configuration.md has no table row for {name}"
        assert rows[name][0] == documented_default(info), f"default of {name}"


def test_configuration_doc_names_no_unknown_setting() -> None:
    named = set(re.findall(r"\bCOLDCHAIN_[A-Z0-9_]*[A-Z0-9]\b", CONFIGURATION_DOC.read_text()))
    assert not named - ALL_ENV_NAMES, f"docs/configuration.md: unknown {named - ALL_ENV_NAMES}"
