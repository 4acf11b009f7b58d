"""Real servers and our own services as processes, for the tests and the benchmarks.

Mosquitto and InfluxDB run from Debian's packages with the configuration that
`make demo` uses (`coldchain_devstack.localstack`), on free ports in temporary
directories. `SecuredMosquitto` adds the production broker's security
(the dynamic-security plugin, TLS with a certificate authority openssl makes for the
test), `LockedInfluxDB` production InfluxDB's (authentication, the accounts of
deploy/influxdb/accounts.sh). Our services run through their console commands,
exactly as deployed, with their settings in the environment.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from coldchain_devstack import BIN, REPO, localstack
from coldchain_io.nats import (
    INGEST_PUBLISH_DENY,
    TELEMETRY_PREFIX,
    gateway_user,
    partition_of,
    telemetry_mapping,
)

#: What the influxdb image runs at its first start to make our clients' accounts.
INFLUXDB_ACCOUNTS = REPO / "deploy" / "influxdb" / "accounts.sh"


#: Where `free_port` marks the ports it has handed out, for every process on the machine.
_PORT_MARKS = Path(tempfile.gettempdir()) / "coldchain-test-ports"
#: A mark older than this is stale: its server has long bound the port or never will.
_PORT_MARK_TTL_S = 900.0


def _ephemeral_range() -> range:
    """The ports the kernel gives to outgoing connections and to `bind(0)`."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return range(32768, 61000)
    return range(int(low), int(high) + 1)


def free_port() -> int:
    """A loopback port that no other test process is handed and no client is likely on.

    The server that will use the port binds it only seconds later, in another process.
    A port from the kernel's ephemeral range can be taken in between by any outgoing
    connection (a test's HTTP client, a broker's bridge), so the port comes from
    below that range. Test processes running side by side (`make --jobs`, pytest-xdist)
    draw at random and mark each port they hand out with a file made exclusively,
    so two of them never get the same port.
    """
    ephemeral = _ephemeral_range()
    candidates = max(range(10000, ephemeral.start), range(ephemeral.stop, 65536), key=len)
    if len(candidates) < 5000:
        candidates = range(10000, 65536)
    _PORT_MARKS.mkdir(exist_ok=True)
    for _ in range(200):
        port = random.choice(candidates)
        mark = _PORT_MARKS / str(port)
        try:
            mark.touch(exist_ok=False)
        except FileExistsError:
            try:
                if time.time() - mark.stat().st_mtime > _PORT_MARK_TTL_S:
                    mark.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port found in {candidates} after 200 tries")


def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def executable(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise RuntimeError(f"{name} is not installed; `make test` installs it")
    return found


class Process:
    """One child process with its output in a log file."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=REPO
            )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not end within `timeout`."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, as in a crash or a power cut."""
        assert self.popen is not None
        self.popen.kill()
        self.popen.wait()

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class Mosquitto(Process):
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        conf = self._write_conf(directory)
        super().__init__(
            "mosquitto",
            [executable("mosquitto"), "-c", str(conf)],
            directory / "mosquitto-stdout.log",
            dict(os.environ),
        )

    def _write_conf(self, directory: Path) -> Path:
        return localstack.mosquitto_conf(directory, self.port)

    def start(self) -> None:
        super().start()
        wait_until(lambda: accepts(self.port), 10, f"mosquitto on port {self.port}")


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class CertificateAuthority:
    """A certificate authority made by openssl for one test, and the broker's certificate."""

    certificate: Path
    server_certificate: Path
    server_key: Path


def certificate_authority(directory: Path) -> CertificateAuthority:
    """Make a CA in `directory` and a server certificate for 127.0.0.1 and localhost.

    Both valid for a day, with P-256 keys (quick to make); the extensions are those a
    strict verifier asks for (CA flag and key usage, key identifiers, server usage).
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_ext = directory / "ca.ext"
    ca_ext.write_text(
        "basicConstraints = critical, CA:TRUE\n"
        "keyUsage = critical, keyCertSign, cRLSign\n"
        "subjectKeyIdentifier = hash\n"
    )
    server_ext = directory / "server.ext"
    server_ext.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n"
    )
    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    _openssl(directory, f"req -new {key} -keyout ca.key -out ca.csr", "/CN=coldchain test CA")
    _openssl(directory, "x509 -req -in ca.csr -signkey ca.key -days 1 -extfile ca.ext -out ca.crt")
    _openssl(directory, f"req -new {key} -keyout server.key -out server.csr", "/CN=localhost")
    _openssl(
        directory,
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 1 "
        "-extfile server.ext -out server.crt",
    )
    return CertificateAuthority(
        directory / "ca.crt", directory / "server.crt", directory / "server.key"
    )


def _openssl(directory: Path, command: str, subject: str | None = None) -> None:
    argv = [executable("openssl"), *command.split()]
    if subject is not None:
        argv += ["-subj", subject]
    subprocess.run(argv, cwd=directory, check=True, capture_output=True)


class SecuredMosquitto(Mosquitto):
    """Mosquitto with the production broker's security (`localstack.secured_mosquitto_conf`).

    Accounts and rights from the dynamic-security plugin's file `dynsec_file`
    (written by `coldchain_devstack.broker_users`, then by the broker), anonymous
    refused; plain MQTT on `port`, TLS with the certificate of `authority` on `tls_port`.
    """

    def __init__(self, directory: Path, dynsec_file: Path, authority: CertificateAuthority) -> None:
        self.tls_port = free_port()
        self.dynsec_file = dynsec_file
        self.authority = authority
        super().__init__(directory)

    def _write_conf(self, directory: Path) -> Path:
        return localstack.secured_mosquitto_conf(
            directory,
            self.port,
            self.tls_port,
            self.dynsec_file,
            self.authority.server_certificate,
            self.authority.server_key,
        )

    def start(self) -> None:
        super().start()
        wait_until(lambda: accepts(self.tls_port), 10, f"mosquitto on port {self.tls_port}")


class InfluxDB(Process):
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        #: The RPC address `influxd backup` and `restore` use (loopback, no login).
        self.rpc = f"127.0.0.1:{free_port()}"
        conf = localstack.influxdb_conf(directory, self.port, int(self.rpc.rsplit(":", 1)[1]))
        super().__init__(
            "influxd",
            [executable("influxd"), "-config", str(conf)],
            directory / "influxd.log",
            dict(os.environ),
        )
        self.url = f"http://127.0.0.1:{self.port}"
        # One client for every call, also from several threads: httpx.post() builds a
        # client, and its TLS context costs about 40 ms of CPU (the bench polls 10 times
        # a second).
        self._http = httpx.Client(base_url=self.url, timeout=10)

    def start(self) -> None:
        super().start()
        wait_until(self._ping, 30, f"influxd on port {self.port}")

    def _ping(self) -> bool:
        try:
            return self._http.get("/ping", timeout=0.5).status_code == 204
        except httpx.HTTPError:
            return False

    def query(self, database: str, influxql: str) -> list[dict[str, Any]]:
        response = self._http.post("/query", data={"db": database, "q": influxql, "epoch": "ns"})
        response.raise_for_status()
        result = response.json()["results"][0]
        assert "error" not in result, result
        series: list[dict[str, Any]] = result.get("series", [])
        return series

    def write(self, database: str, line: str) -> None:
        response = self._http.post("/write", params={"db": database}, content=line)
        assert response.status_code == 204, response.text

    def count(self, database: str, influxql: str) -> int:
        series = self.query(database, influxql)
        return int(series[0]["values"][0][1]) if series else 0


class LockedInfluxDB(InfluxDB):
    """InfluxDB configured as compose.yaml configures its `influxdb` service.

    `environment` is that service's environment with its secrets filled in: influxd
    takes its INFLUXDB_* configuration from it, as in the image (authentication on).
    With `first_start`, `start` then does what the image does at the first start of an
    empty volume: the admin account and the database from INFLUXDB_ADMIN_USER/_PASSWORD
    and INFLUXDB_DB, then deploy/influxdb/accounts.sh run with bash. `query`, `write`
    and `count` act as the admin; `accounts` runs the script, as an operator does.
    """

    def __init__(
        self, directory: Path, environment: dict[str, str], first_start: bool = True
    ) -> None:
        super().__init__(directory)
        self.environment = environment
        self.env.update(environment)
        self.database = environment["INFLUXDB_DB"]
        self.first_start = first_start
        self._admin = (environment["INFLUXDB_ADMIN_USER"], environment["INFLUXDB_ADMIN_PASSWORD"])

    def start(self) -> None:
        super().start()
        if not self.first_start:
            self._http.auth = httpx.BasicAuth(*self._admin)
            return
        user, password = self._admin
        # The image's own first statement, made anonymously: InfluxDB lets a client
        # create the first admin account, and nothing else, while there is none.
        created = self._http.post(
            "/query",
            data={"q": f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"},
        )
        assert created.status_code == 200 and "error" not in created.text, created.text
        self._http.auth = httpx.BasicAuth(user, password)
        self.query("", f'CREATE DATABASE "{self.database}"')
        self.accounts()

    def accounts(self, **changes: str) -> str:
        """Run deploy/influxdb/accounts.sh with the environment and `changes`; its output."""
        done = subprocess.run(
            ["bash", str(INFLUXDB_ACCOUNTS)],
            env=os.environ | self.environment | changes | {"INFLUXDB_INIT_PORT": str(self.port)},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


class PostgreSQL(Process):
    """A PostgreSQL server from Debian's package, in its own data directory, trusting
    connections on loopback. PostgreSQL refuses to run as root, so as root the
    server runs as the `postgres` user the package creates, in a directory it owns.

    Tests run it without fsync; `durable` keeps PostgreSQL's default, for
    measurements (bench/).
    """

    USER = "coldchain"

    def __init__(self, durable: bool = False) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="coldchain-pg-"))
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        data = self.directory / "data"
        self._run("initdb", "-D", str(data), "-U", self.USER, "--auth=trust", "-E", "UTF8")
        super().__init__(
            "postgres",
            self._argv(
                "postgres",
                "-D",
                str(data),
                "-p",
                str(self.port),
                "-k",
                str(self.directory),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"fsync={'on' if durable else 'off'}",
            ),
            self.directory / "postgres.log",
            dict(os.environ),
        )

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        super().start()
        wait_until(lambda: accepts(self.port), 30, f"postgres on port {self.port}")
        wait_until(self._ready, 30, "postgres to accept connections")

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        self._psql("postgres", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, timeout: float = 15.0) -> int | None:
        code = super().stop(timeout)
        shutil.rmtree(self.directory, ignore_errors=True)
        return code

    def _ready(self) -> bool:
        try:
            self._psql("postgres", "SELECT 1")
        except subprocess.CalledProcessError:
            return False
        return True

    def _psql(self, database: str, sql: str) -> None:
        subprocess.run(
            [
                executable("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.USER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
        )

    def _argv(self, program: str, *args: str) -> list[str]:
        binary = _postgres_binary(program)
        if self._as_postgres:
            return [executable("runuser"), "-u", "postgres", "--", binary, *args]
        return [binary, *args]

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(self._argv(program, *args), check=True, capture_output=True)


def _postgres_binary(program: str) -> str:
    """Debian keeps initdb and postgres under /usr/lib/postgresql/<version>/bin."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{program}"),
        key=lambda path: int(path.parent.parent.name),
    )
    if not versions:
        raise RuntimeError(f"{program} is not installed; `make test` installs postgresql")
    return str(versions[-1])


def service(name: str, command: str, directory: Path, settings: dict[str, str]) -> Process:
    """One of our services, run by its console command with `settings` in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
    env.update(settings)
    return Process(name, [str(BIN / command)], directory / f"{name}.log", env)


#: The NATS account our clients share, and its services' users.
NATS_ACCOUNT = "COLDCHAIN"
NATS_SERVICES = ("ingest", "alerts")


class NatsNode(Process):
    """One node of a `NatsCluster`: client, cluster, MQTT and monitoring listeners on
    loopback, JetStream's file store in its own directory."""

    def __init__(self, name: str, directory: Path, config: Path, port: int, mqtt_port: int) -> None:
        super().__init__(
            name,
            [executable("nats-server"), "-c", str(config)],
            directory / f"{name}.log",
            dict(os.environ),
        )
        self.port = port
        self.mqtt_port = mqtt_port
        self.url = f"nats://127.0.0.1:{port}"

    def start(self) -> None:
        super().start()
        wait_until(lambda: accepts(self.port), 20, f"{self.name} on port {self.port}")
        wait_until(lambda: accepts(self.mqtt_port), 20, f"{self.name} MQTT on {self.mqtt_port}")


class NatsCluster:
    """Three nats-server processes forming one cluster with JetStream, as in production.

    Every listener asks for a login: the routes between the nodes their own account,
    clients a user of account NATS_ACCOUNT, which has the subject mapping that
    partitions gateways' telemetry and status (coldchain_io.nats.telemetry_mapping):
    one user per service of NATS_SERVICES, and one per gateway of `gateways` (site,
    gateway) that may only publish its own telemetry and status and receive its own
    durable marks (`login`), through any node's MQTT listener (`mqtt_ports`).
    Monitoring listens on loopback only. `kill` and `restart`
    act on one node; `wait_ready` polls until every node's JetStream is up with a
    meta leader.
    """

    def __init__(
        self,
        directory: Path,
        partitions: int,
        gateways: Sequence[tuple[str, str]] = (),
        nodes: int = 3,
    ) -> None:
        self.directory = directory
        self.partitions = partitions
        self.gateways = list(gateways)
        self._passwords = {
            user: uuid.uuid4().hex
            for user in [*NATS_SERVICES, *(gateway_user(s, g) for s, g in self.gateways)]
        }
        self._route_password = uuid.uuid4().hex
        self._system_password = uuid.uuid4().hex
        ports = [(free_port(), free_port(), free_port(), free_port()) for _ in range(nodes)]
        self._monitor = [f"http://127.0.0.1:{p[3]}" for p in ports]
        self.nodes = [
            NatsNode(
                f"nats-{i}",
                directory,
                self._write_conf(i, ports),
                port=ports[i][0],
                mqtt_port=ports[i][2],
            )
            for i in range(nodes)
        ]

    @property
    def servers(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def mqtt_ports(self) -> list[int]:
        return [node.mqtt_port for node in self.nodes]

    def password(self, service: str) -> str:
        """The password of user `service` (ingest, alerts)."""
        return self._passwords[service]

    def login(self, site: str, gateway: str) -> tuple[str, str]:
        """User and password of a gateway of `gateways`."""
        user = gateway_user(site, gateway)
        return user, self._passwords[user]

    def _users(self) -> str:
        users = [
            f'      {{ user: {user}, password: "{self._passwords[user]}"{_rights(user)} }}'
            for user in NATS_SERVICES
        ]
        for site, gateway in self.gateways:
            user, password = self.login(site, gateway)
            partition = partition_of(site, gateway, self.partitions)
            own = f"coldchain.v1.{site}.{gateway}"
            mapped = f"{TELEMETRY_PREFIX}.{partition}.{site}.{gateway}"
            publish = [
                f"{own}.telemetry",
                f"{own}.status",
                f"{mapped}.telemetry",
                f"{mapped}.status",
            ]
            users.append(
                f'      {{ user: {user}, password: "{password}", permissions: {{ '
                f"publish: {json.dumps(publish)}, subscribe: {json.dumps([f'{own}.durable'])} }} }}"
            )
        return "\n".join(users)

    def _write_conf(self, index: int, ports: list[tuple[int, int, int, int]]) -> Path:
        client, cluster, mqtt, monitor = ports[index]
        routes = ", ".join(
            f'"nats-route://route:{self._route_password}@127.0.0.1:{other[1]}"'
            for i, other in enumerate(ports)
            if i != index
        )
        mappings = "\n".join(
            f'      "{source}": "{target}"'
            for source, target in telemetry_mapping(self.partitions).items()
        )
        store = self.directory / f"jetstream-{index}"
        conf = self.directory / f"nats-{index}.conf"
        conf.write_text(
            f"""server_name: nats-{index}
listen: 127.0.0.1:{client}
http: 127.0.0.1:{monitor}
jetstream {{
  store_dir: "{store}"
  max_memory_store: 64MB
  max_file_store: 1GB
}}
cluster {{
  name: coldchain
  listen: 127.0.0.1:{cluster}
  authorization {{ user: route, password: "{self._route_password}", timeout: 2 }}
  routes: [{routes}]
}}
mqtt {{
  listen: 127.0.0.1:{mqtt}
  stream_replicas: {min(3, len(ports))}
}}
system_account: SYS
accounts {{
  SYS {{ users: [{{ user: system, password: "{self._system_password}" }}] }}
  {NATS_ACCOUNT} {{
    jetstream: enabled
    mappings: {{
{mappings}
    }}
    users: [
{self._users()}
    ]
  }}
}}
"""
        )
        return conf

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        self.wait_ready()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill(self, index: int) -> None:
        """SIGKILL one node, as a machine that loses power."""
        self.nodes[index].kill()

    def restart(self, index: int) -> None:
        self.nodes[index].start()
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        """Every running node's JetStream is up and the cluster has a meta leader."""
        for url, node in zip(self._monitor, self.nodes, strict=True):
            if node.running:
                wait_until(partial(self._jetstream_ready, url), timeout, f"{node.name} ready")

    def _jetstream_ready(self, monitor: str) -> bool:
        try:
            response = httpx.get(f"{monitor}/healthz?js-enabled-only=true", timeout=1)
            meta = httpx.get(f"{monitor}/jsz", timeout=1).json().get("meta_cluster", {})
        except (httpx.HTTPError, ValueError):
            return False
        return response.status_code == 200 and bool(meta.get("leader"))


def _rights(service: str) -> str:
    """A service's permissions in the account: ingest may not write stream FLEET."""
    if service != "ingest":
        return ""
    return f", permissions: {{ publish: {{ deny: {json.dumps(INGEST_PUBLISH_DENY)} }} }}"
