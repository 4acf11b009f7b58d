"""Our services on the NATS cluster: ingest workers, alerts instances and simulated
gateways, for the cluster's tests and benchmarks (docs/scaling.md)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import httpx

from coldchain_devstack.servers import InfluxDB, NatsCluster, Process, free_port, service
from coldchain_devstack.stack import SCENARIO, SITE, TEST_INTERVAL_S, gateway_settings, test_fleet


class ClusterStack:
    """Ingest workers and gateways against a `NatsCluster` and one InfluxDB database."""

    def __init__(
        self,
        directory: Path,
        cluster: NatsCluster,
        influxdb: InfluxDB,
        database: str,
        lease_ttl_s: float = 6.0,
        fleet: Path | None = None,
    ) -> None:
        self.directory = directory
        self.cluster = cluster
        self.influxdb = influxdb
        self.database = database
        self.lease_ttl_s = lease_ttl_s
        self.fleet = fleet or test_fleet(directory / "fleet.yaml")
        self.workers: dict[str, Process] = {}
        self.alerts_ports: dict[str, int] = {}
        self.processes: list[Process] = []

    def worker(self, name: str, **settings: str) -> Process:
        """An ingest worker of the cluster, named `name` in the leases."""
        process = service(
            f"ingest-{name}",
            "coldchain-ingest",
            self.directory,
            {
                "COLDCHAIN_INGEST_TRANSPORT": "nats",
                "COLDCHAIN_INGEST_NATS_SERVERS": json.dumps(self.cluster.servers),
                "COLDCHAIN_INGEST_NATS_USER": "ingest",
                "COLDCHAIN_INGEST_NATS_PASSWORD": self.cluster.password("ingest"),
                "COLDCHAIN_INGEST_PARTITIONS": str(self.cluster.partitions),
                "COLDCHAIN_INGEST_WORKER_ID": name,
                "COLDCHAIN_INGEST_LEASE_TTL_S": str(self.lease_ttl_s),
                "COLDCHAIN_INGEST_INFLUX_URL": self.influxdb.url,
                "COLDCHAIN_INGEST_INFLUX_DB": self.database,
                "COLDCHAIN_INGEST_STATE": str(self.directory / f"ingest-{name}.sqlite3"),
                "COLDCHAIN_INGEST_METRICS_PORT": str(free_port()),
                "COLDCHAIN_INGEST_FLEET": str(self.fleet),
            }
            | settings,
        )
        self.workers[name] = process
        self.processes.append(process)
        return process

    def alerts(self, name: str, database_url: str, **settings: str) -> Process:
        """An alerts instance on the cluster, its port in `alerts_ports[name]`; the
        instances share the database at `database_url` (PostgreSQL for several)."""
        port = free_port()
        self.alerts_ports[name] = port
        process = service(
            name,
            "coldchain-alerts",
            self.directory,
            {
                "COLDCHAIN_ALERTS_TRANSPORT": "nats",
                "COLDCHAIN_ALERTS_NATS_SERVERS": json.dumps(self.cluster.servers),
                "COLDCHAIN_ALERTS_NATS_USER": "alerts",
                "COLDCHAIN_ALERTS_NATS_PASSWORD": self.cluster.password("alerts"),
                "COLDCHAIN_ALERTS_PORT": str(port),
                "COLDCHAIN_ALERTS_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "COLDCHAIN_ALERTS_DATABASE_URL": database_url,
                "COLDCHAIN_ALERTS_INFLUX_URL": self.influxdb.url,
                "COLDCHAIN_ALERTS_INFLUX_DB": self.database,
                "COLDCHAIN_ALERTS_FLEET": str(self.fleet),
            }
            | settings,
        )
        self.processes.append(process)
        return process

    def alerts_health(self, name: str) -> dict[str, object] | None:
        """The instance's /healthz answer while it is 200, else None."""
        try:
            url = f"http://127.0.0.1:{self.alerts_ports[name]}/healthz"
            response = httpx.get(url, timeout=1)
        except httpx.HTTPError:
            return None
        health: dict[str, object] = response.json()
        return health if response.status_code == 200 else None

    def gateway(
        self,
        gateway_id: str,
        start: datetime,
        ticks: int,
        speed: float = 600.0,
        scenario: Path = SCENARIO,
        **settings: str,
    ) -> Process:
        """A simulated gateway on the replay clock speaking MQTT 3.1.1 to the cluster's
        nodes, the first one first: `ticks` samples a minute apart."""
        user, password = self.cluster.login(SITE, gateway_id)
        ports = self.cluster.mqtt_ports
        process = service(
            f"gateway-{gateway_id}",
            "coldchain-gateway",
            self.directory,
            gateway_settings(
                gateway_id,
                ports[0],
                self.directory / f"{gateway_id}.sqlite3",
                scenario,
                TEST_INTERVAL_S,
            )
            | {
                "COLDCHAIN_GATEWAY_MQTT_HOST": "127.0.0.1",
                "COLDCHAIN_GATEWAY_MQTT_PROTOCOL": "3.1.1",
                "COLDCHAIN_GATEWAY_MQTT_USERNAME": user,
                "COLDCHAIN_GATEWAY_MQTT_PASSWORD": password,
                "COLDCHAIN_GATEWAY_MQTT_FAILOVER": json.dumps(
                    [f"127.0.0.1:{port}" for port in ports[1:]]
                ),
                "COLDCHAIN_GATEWAY_CLOCK": "replay",
                "COLDCHAIN_GATEWAY_REPLAY_START": start.isoformat(),
                "COLDCHAIN_GATEWAY_SPEED": str(speed),
                "COLDCHAIN_GATEWAY_TICKS": str(ticks),
                "COLDCHAIN_GATEWAY_EXIT_WHEN_DRAINED": "true",
                "COLDCHAIN_GATEWAY_RECONNECT_MAX_S": "1",
                "COLDCHAIN_GATEWAY_REDELIVER_AFTER_S": "3",
            }
            | settings,
        )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
