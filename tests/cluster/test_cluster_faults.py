"""The cluster under `kill -9`: the ingest worker that owns the partition where an
excursion is in progress and, at the same moment, the leading one of two alerts
services, then one NATS node, while six simulated gateways publish.

Verdict as in tests/faults: every reading the gateways recorded is stored once
(tests/verdict.py), and van 2's excursion (its chilled compressor fails) gives
exactly the alert events the rule engine gives on the same readings without any
fault: one alert, raised and escalated at the right reading times, no copy. The
alerts services store it as one alert, and the officers get each of its messages
once: one e-mail per message the journal records, none repeated within one round
of escalation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml
from sqlalchemy import select

from coldchain.contract import AlertEvent, AlertState
from coldchain.engine import EngineState, RuleEngine
from coldchain.fleet import Fleet
from coldchain_alerts.db import make_engine, make_sessionmaker
from coldchain_alerts.models import Alert, AuditEntry, RefusedEvent
from coldchain_devstack.clusterstack import ClusterStack
from coldchain_devstack.servers import PostgreSQL, wait_until
from coldchain_devstack.stack import SCENARIO, SITE
from coldchain_io.nats import partition_of
from coldchain_sim import Firmware, Scenario
from tests.alertsapi import OFFICERS, officers_on_call
from tests.cluster.conftest import DEMO_GATEWAYS, PARTITIONS
from tests.cluster.natsclient import alert_events, partition_owner
from tests.fakes import SmtpSink
from tests.verdict import verdict

SENSORS = [
    "cold-room-1.air",
    "cold-room-2.air",
    "freezer-1.air",
    "van-1.chilled",
    "van-1.frozen",
    "van-2.chilled",
    "van-2.frozen",
    "van-3.chilled",
    "van-3.frozen",
]
EXCURSION = "van-2.chilled"


def _expected(
    stack: ClusterStack, start: datetime, ticks: int
) -> list[tuple[str, str, str, datetime]]:
    """(key, state, rule, reading time) of each alert event of van 2's chilled probe that
    is not an update, as the rule engine raises them on the simulated readings."""
    fleet = Fleet.from_data(yaml.safe_load(stack.fleet.read_text()))
    engine = RuleEngine(fleet, EngineState(started_at=start))
    scenario = Scenario.from_yaml(SCENARIO.read_text())
    firmware = Firmware(scenario.gateway("van-2"), seed=scenario.seed)
    events = []
    for k in range(ticks):
        ts = start + timedelta(minutes=k)
        readings, sampled = firmware.tick(ts, 0.0 if k == 0 else 60.0)
        events += engine.observe(readings, sampled).alerts
    return [(e.key, e.state.value, e.rule, e.at) for e in events if _excursion(e)]


def _published(stack: ClusterStack) -> list[tuple[str, str, str, datetime]]:
    return [
        (p.event.key, p.event.state.value, p.event.rule, p.event.at)
        for p in alert_events(stack.cluster)
        if _excursion(p.event)
    ]


def _excursion(event: AlertEvent) -> bool:
    """A raise, escalation or clearing of a temperature alert of van 2's chilled probe (its
    `no_data` alarms follow the wall clock, which the replayed readings are hours behind)."""
    return (
        event.sensor == EXCURSION
        and event.key.startswith("temperature_")
        and event.state is not AlertState.UPDATED
    )


def _stored(stack: ClusterStack) -> int:
    return stack.influxdb.count(stack.database, "SELECT count(temp_c) FROM temperature")


def _last_reading(stack: ClusterStack, sensor: str) -> datetime | None:
    series = stack.influxdb.query(
        stack.database, f"SELECT last(temp_c) FROM temperature WHERE sensor = '{sensor}'"
    )
    return datetime.fromtimestamp(series[0]["values"][0][0] / 1e9, UTC) if series else None


def _alerts_of_the_excursion(database: str) -> list[list[str]]:
    """Each alert of van 2's chilled probe in the alerts database: its journal's actions."""
    engine = make_engine(database)
    try:
        with make_sessionmaker(engine)() as session:
            ids = session.scalars(
                select(Alert.id).where(Alert.condition.like(f"temperature_%/{EXCURSION}"))
            ).all()
            return [
                list(
                    session.scalars(
                        select(AuditEntry.action)
                        .where(AuditEntry.alert_id == alert_id)
                        .order_by(AuditEntry.seq)
                    )
                )
                for alert_id in ids
            ]
    finally:
        engine.dispose()


def _refused(database: str) -> int:
    engine = make_engine(database)
    try:
        with make_sessionmaker(engine)() as session:
            return len(session.scalars(select(RefusedEvent.id)).all())
    finally:
        engine.dispose()


def _told_once_per_round(actions: list[str]) -> bool:
    """No second message of level 1 without the alert getting worse (or reopening) first:
    that is what one instance sends, and what two must not double."""
    told = False
    for action in actions:
        if action in ("alert.severity_raised", "alert.reopened"):
            told = False
        elif action == "alert.notified":
            if told:
                return False
            told = True
    return True


#: Van 2's chilled compartment as the e-mails name it, by the officer's language.
VAN_2_CHILLED = {"en": "Van 2, chilled compartment", "de": "Transporter 2, Kühlfach"}


def _mails_about_the_excursion(smtp: SmtpSink, officer: dict[str, str]) -> int:
    """E-mails to the officer with a line about van 2's chilled compartment being too
    warm (every temperature rule's words say "warm"; its `no_data` alerts do not)."""
    name = VAN_2_CHILLED[officer["language"]]
    return sum(
        officer["email"] in mail.rcpt_tos
        and any(name in line and "warm" in line for line in mail.message.get_content().split("\n"))
        for mail in smtp.mails
    )


def _leading(stack: ClusterStack) -> str | None:
    for name in stack.alerts_ports:
        health = stack.alerts_health(name)
        if health and health["leader"]:
            return name
    return None


def test_kill_9_of_the_excursions_worker_and_of_a_node_loses_and_doubles_nothing(
    cluster_stack: ClusterStack, postgresql: PostgreSQL, smtp: SmtpSink
) -> None:
    stack = cluster_stack
    database = postgresql.create_database()
    officers_on_call(database, SITE)
    mail = {
        "COLDCHAIN_ALERTS_ESCALATION_WINDOW_S": "0",
        "COLDCHAIN_ALERTS_LEADER_LEASE_S": "2",
        "COLDCHAIN_ALERTS_SMTP_HOST": smtp.host,
        "COLDCHAIN_ALERTS_SMTP_PORT": str(smtp.port),
        "COLDCHAIN_ALERTS_SMTP_SECURITY": "none",
        "COLDCHAIN_ALERTS_SMTP_FROM": "alerts@hub.example",
    }
    alerts = {name: stack.alerts(name, database, **mail) for name in ("alerts-a", "alerts-b")}
    for name, process in alerts.items():
        process.start()
        wait_until(lambda name=name: stack.alerts_health(name), 30, f"{name} healthy")
    ticks = 150
    # A fixed time of day: van 2's tour, and so its excursion, follow the replay clock.
    # From yesterday 05:00 UTC the excursion starts at 05:06 and alarms at 05:26 (ten
    # seconds at speed 120, time for the kill between); replayed from after about 05:30,
    # it starts above the absolute limit and alarms at its first reading.
    start = datetime.now(UTC).replace(hour=5, minute=0, second=0, microsecond=0) - timedelta(days=1)
    expected = _expected(stack, start, ticks)
    key, state, _, raised_at = expected[0]
    assert state == "raised", expected
    excursion_start = datetime.fromisoformat(key.rsplit("/", 1)[1])
    workers = {name: stack.worker(name) for name in ("w1", "w2")}
    for worker in workers.values():
        worker.start()
    # No backlog at the start: readings arrive a few at a time, so the kill below falls
    # between the excursion's start and its alarm.
    wait_until(
        lambda: all(partition_owner(stack.cluster, p) for p in range(PARTITIONS)),
        60,
        "the workers to own every partition",
    )
    gateways = [stack.gateway(g, start, ticks, speed=120) for _, g in DEMO_GATEWAYS]
    for gateway in gateways:
        gateway.start()

    # Van 2's compartment is above its limit, the alarm's delay not over yet: the
    # worker judging it dies with the excursion in its rule state only.
    wait_until(
        lambda: (_last_reading(stack, EXCURSION) or start) >= excursion_start,
        60,
        "van 2's excursion under way",
    )
    partition = partition_of(SITE, "van-2", PARTITIONS)
    owner = wait_until(lambda: partition_owner(stack.cluster, partition), 30, "its owner")
    workers[owner].kill()
    leader = wait_until(lambda: _leading(stack), 10, "an alerts instance to lead")
    alerts[leader].kill()
    assert _last_reading(stack, EXCURSION) < raised_at  # type: ignore[operator]
    assert _published(stack) == []

    wait_until(lambda: _published(stack), 60, "van 2's excursion raised by the other worker")
    stack.cluster.kill(0)  # every gateway was connected to it
    stored = _stored(stack)
    wait_until(lambda: _stored(stack) >= stored + 100, 90, "readings through the other nodes")
    stack.cluster.restart(0)
    alerts[leader].start()

    for gateway in gateways:
        assert gateway.wait(timeout=150) == 0, gateway.output()[-3000:]
    journals = wait_until(lambda: _alerts_of_the_excursion(database), 30, "the alert stored")
    assert len(journals) == 1, journals
    assert _told_once_per_round(journals[0]), journals[0]
    notified = journals[0].count("alert.notified")
    for officer in OFFICERS:
        subjects = [(mail.rcpt_tos, mail.message["Subject"]) for mail in smtp.mails]
        assert _mails_about_the_excursion(smtp, officer) == notified, (officer, subjects)
    assert _refused(database) == 0
    assert verdict(stack.influxdb, stack.database, start, ticks, SENSORS) == {
        "stored once": ticks * len(SENSORS),
        "lost": 0,
        "unexpected": 0,
    }
    published = alert_events(stack.cluster)
    ids = [p.msg_id for p in published]
    assert len(ids) == len(set(ids)), "an alert event was stored twice in stream ALERTS"
    assert _published(stack) == expected
    assert len({key for key, *_ in expected}) == 1
