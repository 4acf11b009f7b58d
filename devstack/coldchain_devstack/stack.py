"""Our services against one broker and one InfluxDB, with the settings `make demo` uses.

The settings functions are the one place that says how a service is pointed at the
local servers: `coldchain-demo` runs the services with them, `Stack` (the test
fixtures, the benchmarks) with them and what a test changes on top.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import yaml

from coldchain_devstack import REPO
from coldchain_devstack.servers import InfluxDB, Mosquitto, Process, free_port, service, wait_until

DEMO_FLEET = REPO / "fleet" / "dortmund-hub.yaml"
SCENARIO = REPO / "firmware-sim" / "scenarios" / "dortmund-hub.yaml"
SITE = "dortmund-hub"
#: The demo's gateways sample every 5 s on the wall clock, with the thermal physics
#: running 60 times faster, so that the scenario's compressor failure shows within a minute.
DEMO_INTERVAL_S = 5.0
DEMO_SPEED = 60.0
#: Delay of the test fleet: realistic, so door openings at tour stops do not alarm.
TEST_DELAY_S = 900
#: The gateways of the tests sample once a minute on the replay clock.
TEST_INTERVAL_S = 60


def ingest_settings(
    mqtt_port: int, influx_url: str, metrics_port: int, fleet: Path
) -> dict[str, str]:
    return {
        "COLDCHAIN_INGEST_MQTT_PORT": str(mqtt_port),
        "COLDCHAIN_INGEST_INFLUX_URL": influx_url,
        "COLDCHAIN_INGEST_METRICS_PORT": str(metrics_port),
        "COLDCHAIN_INGEST_FLEET": str(fleet),
    }


def alerts_settings(
    mqtt_port: int, port: int, database_url: str, influx_url: str, fleet: Path
) -> dict[str, str]:
    return {
        "COLDCHAIN_ALERTS_MQTT_PORT": str(mqtt_port),
        "COLDCHAIN_ALERTS_PORT": str(port),
        "COLDCHAIN_ALERTS_DATABASE_URL": database_url,
        "COLDCHAIN_ALERTS_INFLUX_URL": influx_url,
        "COLDCHAIN_ALERTS_FLEET": str(fleet),
        "COLDCHAIN_ALERTS_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }


def gateway_settings(
    gateway_id: str, mqtt_port: int, outbox: Path, scenario: Path, interval_s: float
) -> dict[str, str]:
    """A simulated gateway of the site, its outbox at `outbox`."""
    return {
        "COLDCHAIN_GATEWAY_SITE": SITE,
        "COLDCHAIN_GATEWAY_ID": gateway_id,
        "COLDCHAIN_GATEWAY_MQTT_PORT": str(mqtt_port),
        "COLDCHAIN_GATEWAY_OUTBOX": str(outbox),
        "COLDCHAIN_GATEWAY_SIM_SCENARIO": str(scenario),
        "COLDCHAIN_GATEWAY_INTERVAL_S": str(interval_s),
    }


def demo_gateway_settings(
    gateway_id: str,
    mqtt_port: int,
    outbox: Path,
    scenario: Path = SCENARIO,
    interval_s: float = DEMO_INTERVAL_S,
) -> dict[str, str]:
    """A gateway as the demo runs it: the wall clock, physics DEMO_SPEED times faster."""
    return gateway_settings(gateway_id, mqtt_port, outbox, scenario, interval_s) | {
        "COLDCHAIN_GATEWAY_CLOCK": "live",
        "COLDCHAIN_GATEWAY_SPEED": str(DEMO_SPEED),
    }


def test_fleet(path: Path) -> Path:
    """The demo fleet with the tests' delay and interval, written to `path`."""
    fleet = yaml.safe_load(DEMO_FLEET.read_text())
    for site in fleet["sites"]:
        for asset in site["assets"]:
            asset["limits"] = {"delay_s": TEST_DELAY_S}
        for gateway in site["gateways"]:
            for sensor in gateway["sensors"]:
                sensor["interval_s"] = TEST_INTERVAL_S
    path.write_text(yaml.safe_dump(fleet))
    return path


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
        self.fleet = test_fleet(directory / "fleet.yaml")
        self.metrics_port = free_port()
        self.alerts_port = free_port()

    def ingest(self, **settings: str) -> Process:
        """The ingest service; `start_ingest` also waits until it serves."""
        return self._add(
            service(
                "ingest",
                "coldchain-ingest",
                self.directory,
                ingest_settings(
                    self.mosquitto.port, self.influxdb.url, self.metrics_port, self.fleet
                )
                | {
                    "COLDCHAIN_INGEST_INFLUX_DB": self.database,
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
        """The alerts service, its database in `alerts_database`."""
        return self._add(
            service(
                "alerts",
                "coldchain-alerts",
                self.directory,
                alerts_settings(
                    self.mosquitto.port,
                    self.alerts_port,
                    self.alerts_database,
                    self.influxdb.url,
                    self.fleet,
                )
                | {"COLDCHAIN_ALERTS_INFLUX_DB": self.database}
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
        outbox = self.directory / f"{gateway_id}.sqlite3"
        return self._add(
            service(
                f"gateway-{gateway_id}",
                "coldchain-gateway",
                self.directory,
                gateway_settings(gateway_id, self.mosquitto.port, outbox, scenario, TEST_INTERVAL_S)
                | {
                    "COLDCHAIN_GATEWAY_CLOCK": "replay",
                    "COLDCHAIN_GATEWAY_REPLAY_START": start.isoformat(),
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
