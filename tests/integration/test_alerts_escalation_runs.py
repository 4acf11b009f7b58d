"""Escalation runs in one process: at once when due, by the persistent job when later.

The escalator runs here in the test's process against a real database (SQLite
and PostgreSQL), a real APScheduler with the SQLAlchemy job store, and a real
SMTP server on loopback; the notifier in between is the service's own, wrapped
to hold a message back at the moment a test needs to act.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from coldchain_alerts import escalation, lifecycle, listing, people, policies
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_alerts.models import Alert
from coldchain_alerts.notify import Notifier
from coldchain_alerts.notify.notice import Delivery, Notice, Recipient
from coldchain_alerts.settings import AlertsSettings
from coldchain_devstack.servers import wait_until
from tests.fakes import SmtpSink
from tests.integration.test_alerts_escalation import raised

SITE = "dortmund-hub"
#: How long a message waits for a second one of the same site to start beside it. Such
#: a second message must never come, so a passing test always waits this long once.
OVERLAP_S = 1.0
#: Deadline for anything a test waits for.
DEADLINE_S = 20.0


class Held:
    """The service's notifier, holding each message back until `release` (or a deadline)."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.entered = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self.sending = 0
        self.most_at_once = 0

    def send(self, notice: Notice, recipient: Recipient) -> list[Delivery]:
        with self._lock:
            self.sending += 1
            self.most_at_once = max(self.most_at_once, self.sending)
        self.entered.set()
        try:
            self.release.wait(DEADLINE_S)
            return self.notifier.send(notice, recipient)
        finally:
            with self._lock:
                self.sending -= 1


class Overlap:
    """The service's notifier; a message waits up to OVERLAP_S for a second one beside it."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._both = threading.Barrier(2)
        self.overlapped = False

    def send(self, notice: Notice, recipient: Recipient) -> list[Delivery]:
        try:
            self._both.wait(OVERLAP_S)
            self.overlapped = True
        except threading.BrokenBarrierError:
            pass
        return self.notifier.send(notice, recipient)


@dataclass
class Scene:
    sessions: sessionmaker[Session]
    writes: sessionmaker[Session]
    scheduler: BackgroundScheduler
    notifier: Notifier
    made: list[escalation.Escalator] = field(default_factory=list)

    def escalator(self, sender: escalation.Sender, window_s: float = 0) -> escalation.Escalator:
        made = escalation.Escalator(
            self.sessions,
            self.writes,
            sender,
            self.scheduler,
            timedelta(seconds=window_s),
            lambda alert_id: f"https://alerts.example.org/alerts/{alert_id}",
            {},
        )
        escalation.install(made)
        self.made.append(made)
        return made

    def store(self, sensor: str) -> Alert:
        event = raised(sensor)
        with self.writes.begin() as session:
            (applied,) = lifecycle.apply_events(session, [event])
            return applied.alert

    def levels(self) -> list[int]:
        with self.sessions() as session:
            return list(session.scalars(select(Alert.escalation_level).order_by(Alert.id)))

    def timeline(self, alert_id: int) -> list[str]:
        with self.sessions() as session:
            return [step.action for step in listing.timeline(session, alert_id)]

    def job_at(self) -> datetime | None:
        job = self.scheduler.get_job(f"escalate:{SITE}")
        return None if job is None else job.next_run_time


@pytest.fixture
def scene(database_url: str, smtp: SmtpSink) -> Iterator[Scene]:
    migrate(database_url)
    engine = make_engine(database_url)
    writes = make_sessionmaker(engine, writes=True)
    with writes.begin() as session:
        anna = people.save_contact(
            session, "tests", {"name": "Anna", "email": "anna@example.org", "active": True}
        )
        policies.set_policy(session, "tests", SITE, 900, None, [[anna.id]])
    scheduler = BackgroundScheduler(
        timezone=UTC, jobstores={"default": SQLAlchemyJobStore(engine=engine)}
    )
    scheduler.start()
    settings = AlertsSettings(
        _env_file=None,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_security="none",
        smtp_from="coldchain@example.org",
    )
    with Notifier.from_settings(settings) as notifier:
        made = Scene(make_sessionmaker(engine), writes, scheduler, notifier)
        yield made
        for escalator in made.made:
            escalator.close()  # before the scheduler's shutdown, as the service does
    scheduler.shutdown(wait=True)
    escalation.install(None)
    engine.dispose()


def test_an_immediate_run_and_the_persistent_job_never_both_send_a_level(
    scene: Scene, smtp: SmtpSink
) -> None:
    sender = Overlap(scene.notifier)
    escalator = scene.escalator(sender)
    alert = scene.store("cold-room-1.air")

    job = threading.Thread(target=escalation.run_site, args=[SITE])  # the job's entry point
    job.start()
    escalator.wake(SITE, datetime.now(UTC))
    job.join(DEADLINE_S)
    escalator.close()

    assert not sender.overlapped, "two runs of one site sent at the same time"
    assert len(smtp.messages) == 1
    assert scene.levels() == [1]
    assert scene.timeline(alert.id) == ["opened", "notified"]


def test_an_alert_stored_while_its_site_is_being_told_gets_its_own_run(
    scene: Scene, smtp: SmtpSink
) -> None:
    sender = Held(scene.notifier)
    escalator = scene.escalator(sender)
    first = scene.store("cold-room-1.air")
    escalator.wake(SITE, datetime.now(UTC))
    assert sender.entered.wait(DEADLINE_S), "the first run did not send"

    second = scene.store("cold-room-1.floor")
    escalator.wake(SITE, datetime.now(UTC))  # while the first run is still sending
    sender.release.set()
    escalator.close()

    told = [message.get_content() for message in smtp.wait_for(2)]
    assert f"/alerts/{first.id}" in told[0] and f"/alerts/{second.id}" not in told[0]
    assert f"/alerts/{second.id}" in told[1] and f"/alerts/{first.id}" not in told[1]
    assert len(smtp.messages) == 2
    assert sender.most_at_once == 1
    assert scene.levels() == [1, 1]


def test_a_site_is_told_by_its_own_policy_and_other_sites_by_the_default_one(
    scene: Scene, smtp: SmtpSink
) -> None:
    with scene.writes.begin() as session:
        duty = people.save_contact(
            session, "tests", {"name": "On duty", "email": "duty@example.org", "active": True}
        )
        policies.set_policy(session, "tests", escalation.DEFAULT_SITE, 900, None, [[duty.id]])
    escalator = scene.escalator(scene.notifier)
    scene.store("cold-room-1.air")
    with scene.writes.begin() as session:
        event = raised("van-7.chilled").model_copy(update={"site": "farm-7"})
        lifecycle.apply_events(session, [event])

    assert len(escalator.run(SITE)) == 1
    assert len(escalator.run("farm-7")) == 1
    assert [message["To"] for message in smtp.wait_for(2)] == [
        "Anna <anna@example.org>",
        "On duty <duty@example.org>",
    ]


def test_a_run_due_later_is_the_persistent_job_and_a_flood_waits_for_it(
    scene: Scene, smtp: SmtpSink
) -> None:
    sender = Held(scene.notifier)
    sender.release.set()
    escalator = scene.escalator(sender, window_s=600)
    due = []
    for n in range(3):
        alert = scene.store(f"cold-room-1.probe-{n}")
        due.append(alert.escalation_since + escalator.window)
        escalator.wake(SITE, due[-1])
    escalator.close()

    job_at = scene.job_at()
    assert job_at is not None and abs(job_at - due[0]) < timedelta(milliseconds=1)
    assert not sender.entered.is_set() and smtp.messages == []
    assert scene.levels() == [0, 0, 0]


def test_what_a_stopping_service_left_untold_is_told_after_the_next_start(
    scene: Scene, smtp: SmtpSink
) -> None:
    stopping = scene.escalator(scene.notifier)
    stopping.close()
    alert = scene.store("cold-room-1.air")
    stopping.wake(SITE, datetime.now(UTC))  # the last event, while the service stops
    assert scene.job_at() is None and smtp.messages == []

    started = scene.escalator(scene.notifier)
    started.sweep()  # as the service does at its start
    (mail,) = smtp.wait_for(1, timeout=DEADLINE_S)
    assert f"/alerts/{alert.id}" in mail.get_content()
    wait_until(lambda: scene.levels() == [1], DEADLINE_S, "the message to be recorded")


def test_an_alert_whose_time_cannot_be_shown_locally_does_not_keep_its_site_untold(
    scene: Scene, smtp: SmtpSink
) -> None:
    """Its condition began in the last minutes of year 9999 UTC: later than any local
    time east of UTC. The message of the site still goes out, with both alerts."""
    scene.store("cold-room-1.air")
    event = raised("cold-room-2.air")
    end_of_time = datetime(9999, 12, 31, 23, 30, tzinfo=UTC)
    with scene.writes.begin() as session:
        lifecycle.apply_events(
            session, [event.model_copy(update={"started_at": end_of_time, "at": end_of_time})]
        )
    scene.escalator(scene.notifier).run(SITE)
    (message,) = smtp.wait_for(1)
    text = message.get_content()
    assert "Kühlraum 1" in text or "cold-room-1" in text
    assert "31.12.9999 23:30 UTC" in text
    assert scene.levels() == [1, 1]


def test_a_site_whose_policy_cannot_be_planned_does_not_stop_the_sweep_of_the_others(
    scene: Scene, smtp: SmtpSink, database_url: str
) -> None:
    """`policy set --ack-timeout-s` takes any number: one beyond what a time can hold
    makes that site's plan fail; the sweep still wakes every other site."""
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's integer column refuses such a timeout")
    with scene.writes.begin() as session:
        bernd = people.save_contact(
            session, "tests", {"name": "Bernd", "email": "bernd@example.org", "active": True}
        )
        policies.set_policy(session, "tests", "other-hub", 10**14, None, [[bernd.id]])
        lifecycle.apply_events(
            session, [raised("van-1.chilled").model_copy(update={"site": "other-hub"})]
        )
    scene.store("cold-room-1.air")
    scene.escalator(scene.notifier).sweep()
    (message,) = smtp.wait_for(1)
    assert message["To"] == "Anna <anna@example.org>"


def test_a_wake_due_now_does_not_wait_for_a_run_reading_its_sites_job(
    scene: Scene, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run ends by reading and moving its site's persistent job (queries of the job
    store); the next stored alert's wake, due now, only queues a run and must not wait
    for that."""
    escalator = scene.escalator(scene.notifier)
    entered, release = threading.Event(), threading.Event()
    get_job = scene.scheduler.get_job

    def held(job_id: str, jobstore: str | None = None) -> object:
        entered.set()
        release.wait(2 * DEADLINE_S)
        return get_job(job_id, jobstore)

    monkeypatch.setattr(scene.scheduler, "get_job", held)
    scene.store("cold-room-1.air")
    running = threading.Thread(target=escalator.run, args=(SITE,))
    running.start()
    try:
        assert entered.wait(DEADLINE_S), "the run to read its site's job"
        waking = threading.Thread(target=escalator.wake, args=("farm-7", datetime.now(UTC)))
        waking.start()
        waking.join(DEADLINE_S)
        assert not waking.is_alive(), "the wake waited for the other site's job"
    finally:
        release.set()
        running.join()
    smtp.wait_for(1, timeout=DEADLINE_S)
