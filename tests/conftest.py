"""Fixtures: real Mosquitto and InfluxDB on free ports, and our services as processes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from alertsapi import AlertsApi, token_for
from servers import REPO, InfluxDB, Mosquitto, PostgreSQL, Process, free_port, service, wait_until

DEMO_FLEET = REPO / "fleet" / "dortmund-hub.yaml"
SCENARIO = REPO / "firmware-sim" / "scenarios" / "dortmund-hub.yaml"
SITE = "dortmund-hub"
#: Delay of the test fleet: realistic, so door openings at tour stops do not alarm.
TEST_DELAY_S = 900
#: The gateways of the tests sample once a minute on the replay clock.
TEST_INTERVAL_S = 60


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    server = InfluxDB(tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    server = PostgreSQL()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database for the alerts service: each test runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/alerts.sqlite3"
    server: PostgreSQL = request.getfixturevalue("postgresql")
    return server.create_database()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


class Stack:
    """Our services against one broker and one fresh InfluxDB database."""

    def __init__(
        self, directory: Path, mosquitto: Mosquitto, influxdb: InfluxDB, database: str
    ) -> None:
        self.directory = directory
        self.mosquitto = mosquitto
        self.influxdb = influxdb
        self.database = database
        self.processes: list[Process] = []
        self.fleet = directory / "fleet.yaml"
        fleet = yaml.safe_load(DEMO_FLEET.read_text())
        for site in fleet["sites"]:
            for asset in site["assets"]:
                asset["limits"] = {"delay_s": TEST_DELAY_S}
            for gateway in site["gateways"]:
                for sensor in gateway["sensors"]:
                    sensor["interval_s"] = TEST_INTERVAL_S
        self.fleet.write_text(yaml.safe_dump(fleet))
        self.metrics_port = free_port()
        self.alerts_port = free_port()

    def ingest(self, **settings: str) -> Process:
        """The ingest service; `start_ingest` also waits until it serves."""
        return self._add(
            service(
                "ingest",
                "coldchain-ingest",
                self.directory,
                {
                    "COLDCHAIN_INGEST_MQTT_PORT": str(self.mosquitto.port),
                    "COLDCHAIN_INGEST_INFLUX_URL": self.influxdb.url,
                    "COLDCHAIN_INGEST_INFLUX_DB": self.database,
                    "COLDCHAIN_INGEST_FLEET": str(self.fleet),
                    "COLDCHAIN_INGEST_METRICS_PORT": str(self.metrics_port),
                    "COLDCHAIN_INGEST_STATE": str(self.directory / "ingest-state.sqlite3"),
                }
                | settings,
            )
        )

    def start_ingest(self, **settings: str) -> Process:
        ingest = self.ingest(**settings)
        ingest.start()
        wait_until(lambda: self.metrics() is not None, 30, "ingest to serve /metrics")
        return ingest

    def metrics(self) -> dict[str, float] | None:
        """Ingest's Prometheus samples by name, or None while it does not answer."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1).text
        except httpx.HTTPError:
            return None
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples

    def alerts(self, **settings: str) -> Process:
        """The alerts service; `alerts_api` talks to it with an admin's token."""
        return self._add(
            service(
                "alerts",
                "coldchain-alerts",
                self.directory,
                {
                    "COLDCHAIN_ALERTS_MQTT_PORT": str(self.mosquitto.port),
                    "COLDCHAIN_ALERTS_PORT": str(self.alerts_port),
                    "COLDCHAIN_ALERTS_DATABASE_URL": self.alerts_database,
                    "COLDCHAIN_ALERTS_INFLUX_URL": self.influxdb.url,
                    "COLDCHAIN_ALERTS_INFLUX_DB": self.database,
                    "COLDCHAIN_ALERTS_FLEET": str(self.fleet),
                    "COLDCHAIN_ALERTS_PUBLIC_URL": f"http://127.0.0.1:{self.alerts_port}",
                }
                | settings,
            )
        )

    def alerts_healthy(self) -> bool:
        """The alerts service answers /healthz with 200: its database is there and the
        broker confirmed its subscription to alert events."""
        try:
            url = f"http://127.0.0.1:{self.alerts_port}/healthz"
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    @property
    def alerts_database(self) -> str:
        return f"sqlite:///{self.directory}/alerts.sqlite3"

    @cached_property
    def alerts_api(self) -> AlertsApi:
        return AlertsApi(f"http://127.0.0.1:{self.alerts_port}", token_for(self.alerts_database))

    def gateway(
        self,
        gateway_id: str,
        start: datetime,
        ticks: int,
        speed: float = 3000.0,
        scenario: Path = SCENARIO,
        **settings: str,
    ) -> Process:
        """A simulated gateway on the replay clock: `ticks` samples a minute apart."""
        return self._add(
            service(
                f"gateway-{gateway_id}",
                "coldchain-gateway",
                self.directory,
                {
                    "COLDCHAIN_GATEWAY_SITE": SITE,
                    "COLDCHAIN_GATEWAY_ID": gateway_id,
                    "COLDCHAIN_GATEWAY_MQTT_PORT": str(self.mosquitto.port),
                    "COLDCHAIN_GATEWAY_OUTBOX": str(self.directory / f"{gateway_id}.sqlite3"),
                    "COLDCHAIN_GATEWAY_SIM_SCENARIO": str(scenario),
                    "COLDCHAIN_GATEWAY_CLOCK": "replay",
                    "COLDCHAIN_GATEWAY_REPLAY_START": start.isoformat(),
                    "COLDCHAIN_GATEWAY_INTERVAL_S": str(TEST_INTERVAL_S),
                    "COLDCHAIN_GATEWAY_SPEED": str(speed),
                    "COLDCHAIN_GATEWAY_TICKS": str(ticks),
                    "COLDCHAIN_GATEWAY_EXIT_WHEN_DRAINED": "true",
                    "COLDCHAIN_GATEWAY_RECONNECT_MAX_S": "2",
                }
                | settings,
            )
        )

    def _add(self, process: Process) -> Process:
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB
) -> Iterator[Stack]:
    services = Stack(tmp_path, mosquitto, influxdb, f"test_{uuid.uuid4().hex[:12]}")
    yield services
    services.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for process in [*services.processes, mosquitto]:
            print(f"----- {process.name} ({process.log}) -----\n{process.output()[-6000:]}")
