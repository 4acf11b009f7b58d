"""`make cluster-demo`: the Dortmund hub on the cluster of compose.cluster.yaml, on this
machine.

Three NATS nodes with JetStream, two ingest workers sharing the partitions, two alerts
services on one PostgreSQL database (one leads escalation), InfluxDB, the mail catcher
and the six simulated gateways speaking MQTT 3.1.1 to the nodes. The servers are the
tests' (`coldchain_devstack.servers`) on free ports in ./var/cluster, fresh at every
start; the alerts services listen on ALERTS_PORT and ALERTS_PORT + 1. There is no proxy
in front of them here (compose.cluster.yaml has Caddy): open either. Kill any one node,
worker or alerts service (`kill -9`, the pids are printed) and watch the rest carry on.
Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import httpx

from coldchain_devstack import BIN
from coldchain_devstack.demo import ALERTS_DEMO_SETTINGS, VAR, Ports
from coldchain_devstack.servers import (
    InfluxDB,
    NatsCluster,
    PostgreSQL,
    Process,
    free_port,
    service,
    wait_until,
)
from coldchain_devstack.stack import DEMO_FLEET, SITE, demo_gateway_settings

GATEWAYS = ["cold-room-1", "cold-room-2", "freezer-1", "van-1", "van-2", "van-3"]
PARTITIONS = 12
WORKERS = ["ingest-1", "ingest-2"]
ALERTS = ["alerts-1", "alerts-2"]


class ClusterDemo:
    """The servers and our services of the cluster demo, started and stopped in turn."""

    def __init__(self, ports: Ports, directory: Path) -> None:
        self.ports = ports
        self.directory = directory
        self.cluster = NatsCluster(directory / "nats", PARTITIONS, [(SITE, g) for g in GATEWAYS])
        self.influxdb = InfluxDB(directory / "influxdb")
        self.postgres = PostgreSQL()
        self.processes: list[Process] = []

    def start(self) -> None:
        self.cluster.start()
        self.influxdb.start()
        self.postgres.start()
        database = self.postgres.create_database()
        # The people, contacts and policy of `make demo`; imported here only, as it
        # loads the alerts service's code.
        from coldchain_devstack import demo_alerts

        keep = self.directory / "alerts"
        demo_alerts.set_up(database, keep, DEMO_FLEET)
        secret_key = (keep / "secret-key").read_text()
        self._run(self._mail())
        for worker in WORKERS:
            self._run(self._worker(worker))
        for number, name in enumerate(ALERTS):
            self._run(self._alerts(name, self.ports.alerts + number, database, secret_key))
        for gateway in GATEWAYS:
            self._run(self._gateway(gateway))

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.postgres.stop()
        self.influxdb.stop()
        self.cluster.stop()

    def banner(self) -> str:
        pids = "\n".join(
            f"  {p.name:<22} pid {p.popen.pid}" for p in self.processes if p.popen is not None
        )
        nodes = "\n".join(
            f"  {node.name:<22} pid {node.popen.pid}, MQTT {node.mqtt_port}"
            for node in self.cluster.nodes
            if node.popen is not None
        )
        first, second = self.ports.alerts, self.ports.alerts + 1
        return f"""
coldchain cluster demo: the Dortmund hub on three NATS nodes, two ingest workers and two
alerts services (one leads escalation; /healthz says which).

  alerts        http://127.0.0.1:{first}/alerts and http://127.0.0.1:{second}/alerts
                log in as hygiene / kuehlkette-demo (no proxy here: either serves)
  e-mail        var/mail/*.eml, caught on 127.0.0.1:{self.ports.mail}
  InfluxDB      influx -port {self.influxdb.port} -database coldchain
  logs          {self.directory}/*.log

Kill any one of these with `kill -9 PID`; the others carry on:
{nodes}
{pids}

Ctrl-C stops everything.
"""

    def _run(self, process: Process) -> None:
        self.processes.append(process)
        process.start()

    def _mail(self) -> Process:
        env = dict(os.environ) | {"MAIL_PORT": str(self.ports.mail)}
        return Process("mail", [str(BIN / "coldchain-demo"), "mail"], self._log("mail"), env)

    def _nats(self, prefix: str, user: str) -> dict[str, str]:
        return {
            f"{prefix}_TRANSPORT": "nats",
            f"{prefix}_NATS_SERVERS": json.dumps(self.cluster.servers),
            f"{prefix}_NATS_USER": user,
            f"{prefix}_NATS_PASSWORD": self.cluster.password(user),
        }

    def _worker(self, name: str) -> Process:
        settings = self._nats("COLDCHAIN_INGEST", "ingest") | {
            "COLDCHAIN_INGEST_PARTITIONS": str(PARTITIONS),
            "COLDCHAIN_INGEST_WORKER_ID": name,
            "COLDCHAIN_INGEST_INFLUX_URL": self.influxdb.url,
            "COLDCHAIN_INGEST_STATE": str(self.directory / f"{name}.sqlite3"),
            "COLDCHAIN_INGEST_METRICS_PORT": str(free_port()),
            "COLDCHAIN_INGEST_FLEET": str(DEMO_FLEET),
        }
        return service(name, "coldchain-ingest", self.directory, settings)

    def _alerts(self, name: str, port: int, database: str, secret_key: str) -> Process:
        settings = self._nats("COLDCHAIN_ALERTS", "alerts") | ALERTS_DEMO_SETTINGS
        settings |= {
            "COLDCHAIN_ALERTS_PORT": str(port),
            "COLDCHAIN_ALERTS_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "COLDCHAIN_ALERTS_DATABASE_URL": database,
            "COLDCHAIN_ALERTS_INFLUX_URL": self.influxdb.url,
            "COLDCHAIN_ALERTS_FLEET": str(DEMO_FLEET),
            "COLDCHAIN_ALERTS_SECRET_KEY": secret_key,
            "COLDCHAIN_ALERTS_SMTP_PORT": str(self.ports.mail),
        }
        return service(name, "coldchain-alerts", self.directory, settings)

    def _gateway(self, gateway_id: str) -> Process:
        user, password = self.cluster.login(SITE, gateway_id)
        first, *others = self.cluster.mqtt_ports
        outbox = self.directory / "gateways" / f"{gateway_id}.sqlite3"
        settings = demo_gateway_settings(gateway_id, first, outbox) | {
            "COLDCHAIN_GATEWAY_MQTT_HOST": "127.0.0.1",
            "COLDCHAIN_GATEWAY_MQTT_PROTOCOL": "3.1.1",
            "COLDCHAIN_GATEWAY_MQTT_USERNAME": user,
            "COLDCHAIN_GATEWAY_MQTT_PASSWORD": password,
            "COLDCHAIN_GATEWAY_MQTT_FAILOVER": json.dumps([f"127.0.0.1:{p}" for p in others]),
        }
        return service(f"gateway-{gateway_id}", "coldchain-gateway", self.directory, settings)

    def _log(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def alerts_answer(self) -> bool:
        urls = [f"http://127.0.0.1:{self.ports.alerts + n}/healthz" for n in range(len(ALERTS))]
        try:
            return all(httpx.get(url, timeout=1).status_code == 200 for url in urls)
        except httpx.HTTPError:
            return False


def run(ports: Ports) -> int:
    directory = (VAR / "cluster").resolve()
    shutil.rmtree(directory, ignore_errors=True)
    for part in ("gateways", "nats", "influxdb"):
        (directory / part).mkdir(parents=True)
    demo = ClusterDemo(ports, directory)
    try:
        demo.start()
        wait_until(demo.alerts_answer, 60, "both alerts services to answer")
        print(demo.banner(), flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("stopping the cluster demo", flush=True)
    finally:
        demo.stop()
    return 0
