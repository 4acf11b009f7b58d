"""Ingest's MQTT adapter (ingest/coldchain_ingest/broker.py) against a real Mosquitto:
which durable marks it learns from the broker."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from coldchain import topics
from coldchain.contract import DurableMark
from coldchain_devstack.servers import Mosquitto, wait_until
from coldchain_ingest.broker import Broker
from coldchain_ingest.settings import IngestSettings

SITE, GATEWAY = "dortmund-hub", "cold-room-1"


@contextmanager
def _broker(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[Broker]:
    settings = IngestSettings(mqtt_port=mosquitto.port, state=tmp_path / "state.sqlite3")
    broker = Broker(settings)
    broker.start()
    try:
        assert broker.wait_connected(20), "connected"
        yield broker
    finally:
        broker.stop()


def _mark(seq: int) -> bytes:
    return DurableMark(seq=seq, stored_at="2026-12-07T05:00:00Z").model_dump_json().encode()


def test_its_own_marks_come_back_only_retained_after_a_restart(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Every mark ingest publishes used to come back to it at once over its own
    subscription: one more message to read, parse and acknowledge for each gateway and
    batch, to learn what it had just said. It needs the broker's marks only after a
    restart, retained, and those of any other publisher."""
    durable = topics.durable(SITE, GATEWAY)
    with _broker(mosquitto, tmp_path) as broker:
        broker.publish(durable, _mark(5), retain=True).wait_for_publish(10)
        other = topics.durable(SITE, "cold-room-2")
        port = str(mosquitto.port)
        mark = _mark(9)
        subprocess.run(
            ["mosquitto_pub", "-p", port, "-q", "1", "-t", other, "-s"],
            input=mark,
            check=True,
            timeout=30,
        )
        wait_until(lambda: broker.durable_mark(SITE, "cold-room-2") == 9, 20, "another's mark")
        assert broker.durable_mark(SITE, GATEWAY) == 0, "its own mark was sent back to it"
    with _broker(mosquitto, tmp_path) as broker:
        wait_until(lambda: broker.durable_mark(SITE, GATEWAY) == 5, 20, "its retained mark")
