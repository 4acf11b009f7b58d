"""Configuration of the local Mosquitto and InfluxDB that `make demo` and the tests run.

The same functions write the demo's configuration under ./var and the test
fixtures' under a temporary directory, so both run the servers alike. The
production configuration for compose.yaml lives in deploy/. The demo's broker is
anonymous on loopback; `secured_mosquitto_conf` writes the production broker's
security (the dynamic-security plugin, TLS listener) for the security tests.
`coldchain-demo configure` writes the demo's.
"""

from __future__ import annotations

import getpass
from pathlib import Path

from coldchain.contract import MAX_PAYLOAD_BYTES

#: Mosquitto's dynamic-security plugin, as Debian's mosquitto package installs it.
DYNSEC_PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")

#: The largest MQTT packet a broker of ours takes (`max_packet_size`, also in
#: deploy/mosquitto/mosquitto.conf): a client sending a larger one is disconnected, MQTT 5
#: clients with "Packet too large", before Mosquitto allocates it. Without it Mosquitto
#: takes packets up to MQTT's 256 MiB. The largest valid telemetry is MAX_PAYLOAD_BYTES
#: under a topic of at most 152 bytes. The largest packet of our own is ingest's notice on
#: _invalid: up to 64 KiB of a refused payload, JSON-escaped (a control byte becomes
#: six), with the refused topic (up to 64 KiB) and the reason, about 0.5 MiB at worst.
#: Four times the contract's limit holds both.
MAX_PACKET_BYTES = 4 * MAX_PAYLOAD_BYTES

#: The most heap a broker of ours takes (`memory_limit`, also in deploy/mosquitto/
#: mosquitto.conf). Past it Mosquitto refuses what it cannot allocate: it disconnects
#: the publisher without acknowledging its message (our clients, all MQTT 5, send it
#: again) or the subscriber it cannot send to (its persistent session keeps its QoS 1
#: messages). It is the one bound on messages waiting for a slow subscriber: queue
#: limits (max_queued_messages, max_queued_bytes) would drop QoS 1 messages, and
#: nothing else bounds QoS 0 for an online client (docs/reliability.md).
MEMORY_LIMIT_BYTES = 1024 * 1024 * 1024


def mosquitto_conf(directory: Path, port: int) -> Path:
    """Write a Mosquitto 2 configuration listening on 127.0.0.1:`port`, anonymous.

    It runs as the invoking user (Mosquitto started as root would otherwise switch
    to the `mosquitto` user and fail to write here). Persistence is on and
    per-client queues are unbounded: Mosquitto's default (1000 queued messages)
    silently drops QoS 1 messages for a slow subscriber. Packets are bounded by
    MAX_PACKET_BYTES, the broker's heap by MEMORY_LIMIT_BYTES.
    """
    data = _data_directory(directory)
    conf = data / "mosquitto.conf"
    conf.write_text(_common_options(data) + f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    return conf


def secured_mosquitto_conf(
    directory: Path,
    port: int,
    tls_port: int,
    dynsec_file: Path,
    certfile: Path,
    keyfile: Path,
) -> Path:
    """Write the production broker's security on loopback: `port` plain, `tls_port` TLS.

    Both listeners refuse anonymous clients, take accounts and rights from the
    dynamic-security plugin (its file `dynsec_file`, which the broker rewrites on every
    change), and replace the client id a client sends with its username, so that one
    account cannot take over (or wipe) another account's persistent session.
    """
    data = _data_directory(directory)
    conf = data / "mosquitto-secured.conf"
    security = (
        "per_listener_settings false\n"
        "allow_anonymous false\n"
        f"plugin {DYNSEC_PLUGIN}\n"
        f"plugin_opt_config_file {dynsec_file}\n"
        f"listener {port} 127.0.0.1\n"
        "use_username_as_clientid true\n"
        f"listener {tls_port} 127.0.0.1\n"
        "use_username_as_clientid true\n"
        f"certfile {certfile}\n"
        f"keyfile {keyfile}\n"
    )
    conf.write_text(_common_options(data) + security)
    return conf


def _data_directory(directory: Path) -> Path:
    data = directory / "mosquitto"
    data.mkdir(parents=True, exist_ok=True)
    return data


def _common_options(data: Path) -> str:
    return (
        f"user {getpass.getuser()}\n"
        "persistence true\n"
        f"persistence_location {data}/\n"
        "autosave_interval 5\n"
        "max_queued_messages 0\n"
        "max_queued_bytes 0\n"
        "max_inflight_messages 0\n"
        f"max_packet_size {MAX_PACKET_BYTES}\n"
        f"memory_limit {MEMORY_LIMIT_BYTES}\n"
        f"log_dest file {data}/mosquitto.log\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
    )


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
