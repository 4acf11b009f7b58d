"""Configuration of the local Mosquitto and InfluxDB that `make demo` and the tests run.

The same functions write the demo's configuration under ./var and the test
fixtures' under a temporary directory, so both run the servers alike. The
production configuration for compose.yaml lives in deploy/.

    python scripts/localstack.py VAR_DIR MQTT_PORT INFLUX_PORT
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path


def mosquitto_conf(directory: Path, port: int) -> Path:
    """Write a Mosquitto 2 configuration listening on 127.0.0.1:`port`.

    It runs as the invoking user (Mosquitto started as root would otherwise switch
    to the `mosquitto` user and fail to write here). Persistence is on and
    per-client queues are unbounded: Mosquitto's default (1000 queued messages)
    silently drops QoS 1 messages for a slow subscriber.
    """
    data = directory / "mosquitto"
    data.mkdir(parents=True, exist_ok=True)
    conf = data / "mosquitto.conf"
    conf.write_text(
        f"user {getpass.getuser()}\n"
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {data}/\n"
        "autosave_interval 5\n"
        "max_queued_messages 0\n"
        "max_queued_bytes 0\n"
        "max_inflight_messages 0\n"
        f"log_dest file {data}/mosquitto.log\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
    )
    return conf


def influxdb_conf(directory: Path, http_port: int, rpc_port: int) -> Path:
    """Write an InfluxDB 1.x configuration with its data under `directory`/influxdb."""
    data = directory / "influxdb"
    data.mkdir(parents=True, exist_ok=True)
    conf = data / "influxdb.conf"
    conf.write_text(
        "reporting-disabled = true\n"
        f'bind-address = "127.0.0.1:{rpc_port}"\n'
        f'[meta]\n  dir = "{data}/meta"\n  logging-enabled = false\n'
        f'[data]\n  dir = "{data}/data"\n  wal-dir = "{data}/wal"\n'
        '  wal-fsync-delay = "0s"\n  query-log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
        f'[http]\n  bind-address = "127.0.0.1:{http_port}"\n  log-enabled = false\n'
        '[logging]\n  suppress-logo = true\n  level = "warn"\n'
    )
    return conf


def main(argv: list[str]) -> None:
    directory, mqtt_port, influx_port = Path(argv[0]).resolve(), int(argv[1]), int(argv[2])
    mosquitto_conf(directory, mqtt_port)
    influxdb_conf(directory, influx_port, influx_port + 2)


if __name__ == "__main__":
    main(sys.argv[1:])
