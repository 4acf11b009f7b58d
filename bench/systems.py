"""The systems under test, each started as its own process against one broker and database.

`Ours` is `coldchain-ingest` with its default batching and the bench fleet; the
alerts service runs beside it only where a run asks for it. `MinimalLoop` is
bench/peers/minimal_loop.py. `NodeRed` is Node-RED 4 with
bench/peers/node-red/flow.json, installed by `npm ci` in that folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.observe import MailSink
from bench.workload import Fleet
from coldchain_alerts import people, policies
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_devstack import REPO
from coldchain_devstack.servers import InfluxDB, Mosquitto, Process, free_port, service, wait_until

NODE_RED_DIR = REPO / "bench" / "peers" / "node-red"
NODE_RED_JS = NODE_RED_DIR / "node_modules" / "node-red" / "red.js"


@dataclass
class Setup:
    """Where one run happens: its directory, broker, database and fleet files."""

    directory: Path
    mosquitto: Mosquitto
    influxdb: InfluxDB
    database: str
    fleet: Fleet
    fleet_file: Path
    limits_file: Path
    #: The alerts service's database (SQLAlchemy URL); None runs no alerts service.
    alerts_url: str | None = None
    processes: list[Process] = field(default_factory=list)


class System:
    name = ""
    #: Whether the system publishes durable marks (only ours does).
    marks = False

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.process: Process | None = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        for process in reversed(self.setup.processes):
            process.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None and self.process.popen is not None
        return self.process.popen.pid

    def _launch(self, process: Process) -> Process:
        self.setup.processes.append(process)
        process.start()
        return process


class Ours(System):
    name = "coldchain ingest"
    marks = True
    #: Where the alerts service's e-mail arrives, in runs with alerts.
    mail: MailSink | None = None

    def start(self) -> None:
        setup = self.setup
        metrics_port = free_port()
        self.process = self._launch(
            service(
                "ingest",
                "coldchain-ingest",
                setup.directory,
                {
                    "COLDCHAIN_INGEST_MQTT_PORT": str(setup.mosquitto.port),
                    "COLDCHAIN_INGEST_INFLUX_URL": setup.influxdb.url,
                    "COLDCHAIN_INGEST_INFLUX_DB": setup.database,
                    "COLDCHAIN_INGEST_FLEET": str(setup.fleet_file),
                    "COLDCHAIN_INGEST_METRICS_PORT": str(metrics_port),
                    "COLDCHAIN_INGEST_STATE": str(setup.directory / "ingest-state.sqlite3"),
                },
            )
        )
        wait_until(lambda: _healthy(metrics_port), 30, "ingest to be connected")
        if setup.alerts_url:
            alerts_port = free_port()
            self.mail = MailSink()
            _tell_by_email(setup.alerts_url)
            self._launch(
                service(
                    "alerts",
                    "coldchain-alerts",
                    setup.directory,
                    {
                        "COLDCHAIN_ALERTS_MQTT_PORT": str(setup.mosquitto.port),
                        "COLDCHAIN_ALERTS_PORT": str(alerts_port),
                        "COLDCHAIN_ALERTS_DATABASE_URL": setup.alerts_url,
                        "COLDCHAIN_ALERTS_INFLUX_URL": setup.influxdb.url,
                        "COLDCHAIN_ALERTS_INFLUX_DB": setup.database,
                        # The mechanism's latency: production waits 30 s to group a flood.
                        "COLDCHAIN_ALERTS_ESCALATION_WINDOW_S": "0",
                        "COLDCHAIN_ALERTS_SMTP_HOST": "127.0.0.1",
                        "COLDCHAIN_ALERTS_SMTP_PORT": str(self.mail.port),
                        "COLDCHAIN_ALERTS_SMTP_SECURITY": "none",
                        "COLDCHAIN_ALERTS_SMTP_FROM": "bench@example.org",
                    },
                )
            )
            wait_until(lambda: _answers(f"http://127.0.0.1:{alerts_port}/healthz"), 30, "alerts")

    def stop(self) -> None:
        super().stop()
        if self.mail is not None:
            self.mail.stop()


def _tell_by_email(database_url: str) -> None:
    """One contact, told by e-mail about every site's alerts, in the alerts database."""
    migrate(database_url)
    engine = make_engine(database_url)
    with make_sessionmaker(engine).begin() as session:
        contact = people.save_contact(
            session, "bench", {"name": "bench", "email": "bench@example.org", "active": True}
        )
        policies.set_policy(session, "bench", "*", 900, None, [[contact.id]])
    engine.dispose()


class MinimalLoop(System):
    name = "minimal loop"

    def start(self) -> None:
        setup = self.setup
        argv = [
            sys.executable,
            str(REPO / "bench" / "peers" / "minimal_loop.py"),
            "--mqtt-port",
            str(setup.mosquitto.port),
            "--influx-url",
            setup.influxdb.url,
            "--db",
            setup.database,
            "--limits",
            str(setup.limits_file),
        ]
        log = setup.directory / "minimal-loop.log"
        self.process = self._launch(Process("minimal-loop", argv, log, dict(os.environ)))
        wait_until(lambda: "subscribed" in self.process.output(), 30, "the loop to subscribe")


class NodeRed(System):
    name = "Node-RED"

    @staticmethod
    def installed() -> bool:
        return NODE_RED_JS.exists() and shutil.which("node") is not None

    def start(self) -> None:
        setup = self.setup
        user_dir = setup.directory / "node-red"
        user_dir.mkdir(exist_ok=True)
        shutil.copy(NODE_RED_DIR / "flow.json", user_dir / "flow.json")
        port = free_port()
        env = dict(os.environ) | {
            "COLDCHAIN_BENCH_MQTT_PORT": str(setup.mosquitto.port),
            "COLDCHAIN_BENCH_INFLUX_PORT": str(setup.influxdb.port),
            "COLDCHAIN_BENCH_DB": setup.database,
            "COLDCHAIN_BENCH_LIMITS": str(setup.limits_file),
            "COLDCHAIN_BENCH_NODE_RED_PORT": str(port),
        }
        argv = [
            _node(),
            str(NODE_RED_JS),
            "--settings",
            str(NODE_RED_DIR / "settings.js"),
            "--userDir",
            str(user_dir),
            "flow.json",
        ]
        self.process = self._launch(
            Process("node-red", argv, setup.directory / "node-red.log", env)
        )
        wait_until(
            lambda: "Connected to broker" in self.process.output() if self.process else False,
            60,
            "Node-RED to connect to the broker",
        )


def _node() -> str:
    found = shutil.which("node")
    if found is None:
        raise RuntimeError("node is not installed; `make bench` needs Node.js 18 or newer")
    return found


def _healthy(port: int) -> bool:
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and json.loads(answer.text).get("broker") is True


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


SYSTEMS: dict[str, type[System]] = {"ours": Ours, "loop": MinimalLoop, "node-red": NodeRed}
