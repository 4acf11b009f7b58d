"""A gateway on the NATS cluster: MQTT 3.1.1, and on to another node when its node dies,
with the same outbox and durable-mark contract as on Mosquitto."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from coldchain_devstack.servers import NatsCluster, Process, service, wait_until
from coldchain_devstack.stack import SCENARIO, TEST_INTERVAL_S, gateway_settings
from tests.cluster.natsclient import Marker


@pytest.fixture
def marker(nats_cluster: NatsCluster) -> Iterator[Marker]:
    started = Marker(nats_cluster)
    started.start()
    yield started
    started.stop()


def _gateway(
    cluster: NatsCluster, directory: Path, start: datetime, ticks: int, **settings: str
) -> Process:
    user, password = cluster.login("dortmund-hub", "van-1")
    others = [f'"127.0.0.1:{port}"' for port in cluster.mqtt_ports[1:]]
    return service(
        "gateway-van-1",
        "coldchain-gateway",
        directory,
        gateway_settings(
            "van-1", cluster.mqtt_ports[0], directory / "van-1.sqlite3", SCENARIO, TEST_INTERVAL_S
        )
        | {
            "COLDCHAIN_GATEWAY_MQTT_HOST": "127.0.0.1",
            "COLDCHAIN_GATEWAY_MQTT_USERNAME": user,
            "COLDCHAIN_GATEWAY_MQTT_PASSWORD": password,
            "COLDCHAIN_GATEWAY_MQTT_FAILOVER": f"[{', '.join(others)}]",
            "COLDCHAIN_GATEWAY_CLOCK": "replay",
            "COLDCHAIN_GATEWAY_REPLAY_START": start.isoformat(),
            "COLDCHAIN_GATEWAY_SPEED": "600",
            "COLDCHAIN_GATEWAY_TICKS": str(ticks),
            "COLDCHAIN_GATEWAY_EXIT_WHEN_DRAINED": "true",
            "COLDCHAIN_GATEWAY_RECONNECT_MAX_S": "1",
            "COLDCHAIN_GATEWAY_REDELIVER_AFTER_S": "2",
        }
        | settings,
    )


def test_mqtt_5_is_refused_and_the_gateway_says_why(
    nats_cluster: NatsCluster, marker: Marker, tmp_path: Path
) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    gateway = _gateway(nats_cluster, tmp_path, start, 5, COLDCHAIN_GATEWAY_MQTT_PROTOCOL="5")
    gateway.start()
    try:
        wait_until(lambda: "refused" in gateway.output(), 30, "the refusal in the log")
    finally:
        gateway.stop()
    assert "van-1" not in marker.readings


def test_a_gateway_fails_over_when_its_node_dies_and_loses_nothing(
    nats_cluster: NatsCluster, marker: Marker, tmp_path: Path
) -> None:
    ticks = 120
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    gateway = _gateway(
        nats_cluster, tmp_path, start, ticks, COLDCHAIN_GATEWAY_MQTT_PROTOCOL="3.1.1"
    )
    gateway.start()
    try:
        wait_until(lambda: len(marker.readings.get("van-1", ())) >= 40, 60, "readings via node 0")
        nats_cluster.kill(0)
        assert gateway.wait(timeout=120) == 0, gateway.output()[-3000:]
    finally:
        gateway.stop()
        nats_cluster.restart(0)

    times = {start + timedelta(minutes=k) for k in range(ticks)}
    seen = {datetime.fromisoformat(ts) for ts in marker.readings["van-1"]}
    assert times <= seen, sorted(times - seen)[:5]
    assert "trying broker" in gateway.output()
