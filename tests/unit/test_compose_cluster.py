"""compose.cluster.yaml, deploy/nats/nats.conf and deploy/caddy/Caddyfile checked
against the code and against each other, as test_compose.py checks compose.yaml."""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from coldchain_io.nats import INGEST_PUBLISH_DENY, partition_of, telemetry_mapping
from tests.unit.test_compose import SETTINGS, env_names, interpolated

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "compose.cluster.yaml"
NATS_CONF = ROOT / "deploy" / "nats" / "nats.conf"
CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
NODES = ["nats-1", "nats-2", "nats-3"]


@cache
def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = yaml.safe_load(CLUSTER.read_text())["services"]
    return found


def part_of(service: str) -> str | None:
    """gateway-*, ingest-N and influxdb-setup, alerts-N; None for the servers and the proxy."""
    if service.startswith("gateway-"):
        return "gateway"
    if service == "influxdb-setup" or re.fullmatch(r"ingest-\d+", service):
        return "ingest"
    return "alerts" if re.fullmatch(r"alerts-\d+", service) else None


OURS = [name for name in services() if part_of(name)]


def environment(service: str) -> dict[str, str]:
    raw = services()[service].get("environment") or {}
    return {name: str(value) for name, value in raw.items()}


def of_kind(pattern: str) -> list[str]:
    return [name for name in services() if re.fullmatch(pattern, name)]


@pytest.mark.parametrize("service", OURS)
def test_our_services_build_their_part_and_get_only_its_settings(service: str) -> None:
    assert services()[service]["build"]["target"] == part_of(service)
    known = env_names(SETTINGS[part_of(service) or ""])
    unknown = sorted(set(environment(service)) - set(known))
    assert not unknown, f"{service}: not settings of its part: {unknown}"


@pytest.mark.parametrize("service", OURS)
def test_settings_accept_the_values(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("COLDCHAIN_"):
            monkeypatch.delenv(name)
    for name, value in environment(service).items():
        monkeypatch.setenv(name, interpolated(value))
    SETTINGS[part_of(service) or ""](_env_file=None)


def test_header_names_every_variable_the_file_reads() -> None:
    text = CLUSTER.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
    read = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", body))
    missing = sorted(name for name in read if not re.search(rf"\b{name}\b", header))
    assert not missing, f"compose.cluster.yaml's header comment does not name {missing}"


def test_healthy_dependencies_have_a_healthcheck() -> None:
    for service, spec in services().items():
        for dependency, condition in (spec.get("depends_on") or {}).items():
            assert dependency in services(), f"{service} depends on unknown {dependency}"
            if condition.get("condition") == "service_healthy":
                assert services()[dependency].get("healthcheck"), (service, dependency)


def test_three_nodes_each_routed_to_the_other_two() -> None:
    assert of_kind(r"nats-\d+") == NODES
    for node in NODES:
        env = environment(node)
        assert env["NATS_SERVER_NAME"] == node
        routes = {env["NATS_ROUTE_1"], env["NATS_ROUTE_2"]}
        assert routes == {
            f"nats-route://route:${{NATS_ROUTE_PASSWORD}}@{other}:6222"
            for other in NODES
            if other != node
        }
        assert "/etc/nats/nats.conf" in " ".join(services()[node]["volumes"])


def test_the_servers_partition_as_the_workers_count() -> None:
    """The mapping in nats.conf is coldchain_io's for the workers' partition count, and
    each gateway may publish into the partition partition_of computes for it."""
    conf = NATS_CONF.read_text()
    partitions = {environment(w)["COLDCHAIN_INGEST_PARTITIONS"] for w in of_kind(r"ingest-\d+")}
    assert len(partitions) == 1
    count = int(partitions.pop())
    for source, target in telemetry_mapping(count).items():
        assert f'"{source}": "{target}"' in conf
    for gateway in of_kind(r"gateway-.+"):
        env = environment(gateway)
        site, gateway_id = env["COLDCHAIN_GATEWAY_SITE"], env["COLDCHAIN_GATEWAY_ID"]
        user = env["COLDCHAIN_GATEWAY_MQTT_USERNAME"]
        assert user == f"gateway-{site}-{gateway_id}"
        assert f"user: {user}," in conf
        partition = partition_of(site, gateway_id, count)
        assert f'"ingest.{partition}.{site}.{gateway_id}.telemetry"' in conf
        assert env["COLDCHAIN_GATEWAY_MQTT_PROTOCOL"] == "3.1.1"


def test_ingest_may_not_write_the_fleet_stream() -> None:
    """Only the alerts service publishes fleet versions and retirements; user ingest has
    the same denials as the test cluster's (coldchain_devstack.servers.NatsCluster)."""
    conf = NATS_CONF.read_text()
    assert "{ user: ingest, password: $NATS_INGEST_PASSWORD, permissions: {" in conf
    assert f"publish: {{ deny: {json.dumps(INGEST_PUBLISH_DENY)} }}" in conf


def test_workers_have_names_and_state_of_their_own() -> None:
    workers = of_kind(r"ingest-\d+")
    assert len(workers) >= 2
    assert len({environment(w)["COLDCHAIN_INGEST_WORKER_ID"] for w in workers}) == len(workers)
    volumes = [tuple(services()[w]["volumes"]) for w in workers]
    assert len(set(volumes)) == len(workers)


def test_alerts_instances_share_postgres_and_sit_behind_the_proxy() -> None:
    instances = of_kind(r"alerts-\d+")
    assert len(instances) >= 2
    settings = [environment(name) for name in instances]
    assert all(env == settings[0] for env in settings)
    assert settings[0]["COLDCHAIN_ALERTS_TRANSPORT"] == "nats"
    assert "@postgres:5432/" in settings[0]["COLDCHAIN_ALERTS_DATABASE_URL"]
    proxy = services()["alerts-proxy"]
    address = proxy["networks"]["default"]["ipv4_address"]
    assert settings[0]["COLDCHAIN_ALERTS_TRUSTED_PROXIES"] == address
    caddyfile = CADDYFILE.read_text()
    assert f"reverse_proxy {' '.join(f'{name}:8000' for name in instances)} " in caddyfile
    assert "health_uri /healthz" in caddyfile
    assert all("ports" not in services()[name] for name in instances), "only the proxy"
