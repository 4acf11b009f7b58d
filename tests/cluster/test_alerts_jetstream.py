"""Alert events from JetStream: two alerts services share one durable consumer on a real
three-node cluster and one PostgreSQL database; one of them is killed with -9 while the
events stream in. Every event is stored once: one alert per condition, none left
unacknowledged in the stream; the one message that is no event is kept as refused.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts.db import make_engine, make_sessionmaker
from coldchain_alerts.jetstream import DURABLE
from coldchain_alerts.models import Alert, Occurrence, RefusedEvent
from coldchain_devstack.clusterstack import ClusterStack
from coldchain_devstack.servers import NatsCluster, PostgreSQL, Process, wait_until
from coldchain_io import nats as nats_io
from tests.cluster.natsclient import settings as nats_settings

#: Events in all; the first instance is killed once KILL_AFTER of them are stored.
EVENTS = 60
KILL_AFTER = 20
SITE = "hub"


def _event(n: int) -> AlertEvent:
    started = datetime.now(UTC) - timedelta(hours=1) + timedelta(seconds=n)
    return AlertEvent(
        id=f"event-{n}",
        key=f"over_max/gw-{n}.probe/{started.isoformat()}",
        state=AlertState.RAISED,
        rule="over_max",
        severity=Severity.CRITICAL,
        site=SITE,
        sensor=f"gw-{n}.probe",
        gateway=f"gw-{n}",
        started_at=started,
        at=started,
        value_c=9.0,
        peak_c=9.0,
        limit_c=6.0,
    )


@pytest.fixture
def database(postgresql: PostgreSQL) -> str:
    return postgresql.create_database()


def _started(stack: ClusterStack, name: str, database: str) -> Process:
    process = stack.alerts(name, database, COLDCHAIN_ALERTS_ESCALATION_WINDOW_S="0")
    process.start()
    wait_until(lambda: stack.alerts_health(name), 30, f"{name} to pull from JetStream")
    return process


async def _publish(cluster: NatsCluster, events: list[AlertEvent], pace_s: float = 0) -> None:
    """As ingest publishes: on the site's subject, the event id as Nats-Msg-Id, each
    acknowledged by JetStream; `pace_s` apart."""
    nc = await nats_io.connect(nats_settings(cluster), "test-ingest")
    try:
        js = nc.jetstream()
        await nats_io.ensure_streams(js, nats_settings(cluster))
        for event in events:
            await js.publish(
                nats_io.subject_of(topics.alerts(event.site)),
                event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": event.id or ""},
            )
            await asyncio.sleep(pace_s)
    finally:
        await nc.close()


async def _publish_raw(cluster: NatsCluster, payload: bytes) -> None:
    nc = await nats_io.connect(nats_settings(cluster), "test-intruder")
    try:
        await nc.jetstream().publish(nats_io.subject_of(topics.alerts(SITE)), payload)
    finally:
        await nc.close()


async def _unacknowledged(cluster: NatsCluster) -> int:
    nc = await nats_io.connect(nats_settings(cluster), "test-check")
    try:
        info = await nc.jetstream().consumer_info(nats_io.ALERTS_STREAM, DURABLE)
        return info.num_pending + info.num_ack_pending
    finally:
        await nc.close()


def _counts(database: str) -> tuple[int, int, int]:
    """Alerts, occurrences and refused events in the database."""
    engine = make_engine(database)
    try:
        with make_sessionmaker(engine)() as session:
            return (
                session.scalar(select(func.count()).select_from(Alert)) or 0,
                session.scalar(select(func.count()).select_from(Occurrence)) or 0,
                session.scalar(select(func.count()).select_from(RefusedEvent)) or 0,
            )
    finally:
        engine.dispose()


def test_events_are_stored_once_across_two_instances_while_one_is_killed(
    cluster_stack: ClusterStack, database: str
) -> None:
    nats_cluster = cluster_stack.cluster
    a = _started(cluster_stack, "alerts-a", database)
    _started(cluster_stack, "alerts-b", database)
    events = [_event(n) for n in range(EVENTS)]

    # Both pull while events stream in; one is killed in the middle of the stream.
    streaming = threading.Thread(
        target=lambda: asyncio.run(_publish(nats_cluster, events, pace_s=0.02))
    )
    streaming.start()
    wait_until(lambda: _counts(database)[1] >= KILL_AFTER, 30, f"{KILL_AFTER} events stored")
    a.kill()
    streaming.join()
    # Ingest publishes again what it has no acknowledgement for: the same ids (dropped by
    # JetStream) and, after its duplicate window, new copies that reach the database.
    again = [event.model_copy(update={"id": f"again-{event.id}"}) for event in events[:10]]
    asyncio.run(_publish(nats_cluster, events[:10] + again))
    # Something that is no alert event: kept as refused, acknowledged, blocking nothing.
    asyncio.run(_publish_raw(nats_cluster, b'{"v": 1, "key": "half an event"}'))
    a.start()

    wait_until(lambda: _counts(database)[1] >= EVENTS, 60, "every event stored")
    wait_until(lambda: asyncio.run(_unacknowledged(nats_cluster)) == 0, 60, "every event acked")
    assert _counts(database) == (EVENTS, EVENTS, 1)
