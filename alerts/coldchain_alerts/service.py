"""The alerts service's parts, wired together: database, consumer, scheduler, escalation.

`AlertsService` owns what runs in the background; the FastAPI app (main.py) and
its routes reach it through `app.state.service`. Background jobs:

- `escalate:{site}`: persistent (SQLAlchemy job store), one per site, at the next
  due time of its escalation; what is due at once runs on the escalator's own
  worker threads instead, without a job (escalation.py);
- `outbox`: every 2 s, copies queued points to InfluxDB (outbox.py);
- `audit-verify`: checks the audit-log chain and records the verdict in InfluxDB;
- `partner-webhooks`: every 2 s, and at once when a certificate is stored, sends the
  partner webhooks that are due (partner_webhook.py);
- `fleet`: every 2 s, publishes fleet versions not published yet (registry.py);
- `sweep`: at start and every minute, makes sure every site with open alerts has
  its run: at once when something is due (also what a crash left untold), else its job;
- `calibration-check`: at start and every `calibration_check_interval_s`, raises or
  clears the maintenance alert of a probe whose calibration does not verify it
  (calibration.py);
- `backup-check`: with a backup root, at start and every `backup_check_interval_s`,
  raises or clears the maintenance alert of a missing backup (backups.py).

Only the leader among the instances on one database runs them (leadership.py):
its scheduler starts when it is elected, pauses when it is deposed, and each job
checks at its start that this instance still leads. Every instance serves the
pages and the API and stores alert events.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_RUNNING, STATE_STOPPED
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from coldchain import measurements, topics
from coldchain.auditchain import Verdict
from coldchain.contract import AlertEvent, RetiredGateways
from coldchain.fleet import Fleet
from coldchain.languages import Language
from coldchain_alerts import (
    audit,
    backups,
    calibration,
    escalation,
    gateways,
    leadership,
    lifecycle,
    outbox,
    registry,
)
from coldchain_alerts.api.routes.metrics import AlertsMetrics
from coldchain_alerts.consumer import AlertConsumer, Consumer, Refused
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate, writing
from coldchain_alerts.influx import Influx, InfluxError, InfluxUnavailable
from coldchain_alerts.jetstream import JetStreamConsumer
from coldchain_alerts.models import RefusedEvent
from coldchain_alerts.notify import Notifier
from coldchain_alerts.notify.notice import Delivery
from coldchain_alerts.partner_webhook import PartnerWebhooks
from coldchain_alerts.settings import AlertsSettings
from coldchain_io import fleetfile
from coldchain_io.lineprotocol import point

log = logging.getLogger(__name__)

#: Points written to InfluxDB per request when catching up.
OUTBOX_BATCH = 5000
#: The job sending partner webhooks.
PARTNER_WEBHOOKS = "partner-webhooks"
#: Most of a refused event's payload that is kept.
MAX_KEPT_BYTES = 64 * 1024
#: The jobs that look at once when this instance becomes the leader.
_AT_ELECTION = ("sweep", "calibration-check", "backup-check")


class AlertsService:
    def __init__(self, settings: AlertsSettings) -> None:
        self.settings = settings
        # A writing transaction idle for a lease holds no lock past the leadership of
        # a hung instance (leadership.py): the next leader must not wait on them.
        self.engine = make_engine(settings.database_url, writes_idle_s=settings.leader_lease_s)
        self.sessions = make_sessionmaker(self.engine)
        self.writes = make_sessionmaker(self.engine, writes=True)
        self.metrics = AlertsMetrics()
        self.fleet = _load_fleet(settings.fleet)
        #: Each asset's name per language, from the fleet file (none without one).
        self.asset_names = _asset_names(self.fleet)
        #: Each site's name, from the fleet file (none without one).
        self.site_names = _site_names(self.fleet)
        self.influx = settings.influx(Influx) if settings.influx_url else None
        self.secret_key = (
            settings.secret_key.get_secret_value()
            if settings.secret_key
            else secrets.token_urlsafe(32)
        )
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={
                "default": SQLAlchemyJobStore(engine=self._jobs_engine()),
                "memory": MemoryJobStore(),
            },
        )
        self.escalator = escalation.Escalator(
            self.sessions,
            self.writes,
            Notifier.from_settings(settings),
            self.scheduler,
            timedelta(seconds=settings.escalation_window_s),
            self.link,
            self.asset_names,
            self._count_delivery,
            self.site_names,
            lambda: self.leadership.leading,
        )
        self.leadership = leadership.for_database(
            settings.database_url,
            settings.leader_lease_s,
            self._elected,
            self._deposed,
            self._woken,
        )
        #: Guards the scheduler's start, pause and resume against the service's stop.
        self._leading_lock = threading.Lock()
        self._stopped = False
        transport = JetStreamConsumer if settings.transport == "nats" else AlertConsumer
        self.consumer: Consumer = transport(
            settings, self.handle_events, self.refuse_event, self._fleet_resubscribed
        )
        #: The highest fleet version published since the consumer last subscribed.
        self._fleet_published = 0
        #: The list of retired gateways published since then; None: not yet.
        self._retired_published: RetiredGateways | None = None
        self._fleet_lock = threading.Lock()
        self.partner_webhooks = PartnerWebhooks(settings, self.sessions, self.writes, _now)

    def _jobs_engine(self) -> Engine:
        """The persistent jobs' engine: on PostgreSQL their transactions lock job rows,
        so they are writing ones (make_engine); SQLite's one instance needs no limit."""
        if self.engine.dialect.name == "postgresql":
            return writing(self.engine)
        return self.engine

    def link(self, alert_id: int) -> str:
        return f"{self.settings.public_url.rstrip('/')}/alerts/{alert_id}"

    def start(self) -> None:
        if self.settings.migrate_on_start:
            migrate(self.settings.database_url)
        if not self.settings.secret_key:
            log.warning(
                "COLDCHAIN_ALERTS_SECRET_KEY is not set: a random key signs sessions, "
                "so everyone logs in again after a restart"
            )
        escalation.install(self.escalator)
        self.scheduler.add_job(
            self._as_leader(self.flush_outbox),
            "interval",
            seconds=2,
            id="outbox",
            jobstore="memory",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            self._as_leader(self.publish_fleet),
            "interval",
            seconds=2,
            id="fleet",
            jobstore="memory",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            self._as_leader(self.record_audit_verdict),
            "interval",
            seconds=self.settings.audit_verify_interval_s,
            next_run_time=datetime.now(UTC) + timedelta(seconds=5),
            id="audit-verify",
            jobstore="memory",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            self._as_leader(self.partner_webhooks.run),
            "interval",
            seconds=2,
            id=PARTNER_WEBHOOKS,
            jobstore="memory",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            self._as_leader(self.escalator.sweep),
            "interval",
            minutes=1,
            id="sweep",
            jobstore="memory",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.add_job(
            self._as_leader(self.check_calibration),
            "interval",
            seconds=self.settings.calibration_check_interval_s,
            id="calibration-check",
            jobstore="memory",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
        )
        if self.settings.backup_root is not None:
            self.scheduler.add_job(
                self._as_leader(self.check_backups),
                "interval",
                seconds=self.settings.backup_check_interval_s,
                id="backup-check",
                jobstore="memory",
                next_run_time=datetime.now(UTC),
                max_instances=1,
                coalesce=True,
            )
        self.leadership.start()
        self.consumer.start()

    def _as_leader(self, job: Callable[[], object]) -> Callable[[], None]:
        """`job`, run only while this instance leads (a deposed one may not have
        paused its scheduler yet)."""

        def run() -> None:
            if self.leadership.leading:
                job()

        return run

    def _elected(self) -> None:
        with self._leading_lock:
            if self._stopped:
                return
            self.metrics.leader.set(1)
            # Due now, not missed: the scheduler skips a run later than a second.
            for job in _AT_ELECTION:
                if self.scheduler.get_job(job, "memory") is not None:
                    self.scheduler.modify_job(job, "memory", next_run_time=_now())
            if self.scheduler.state == STATE_STOPPED:
                self.scheduler.start()
            else:
                self.scheduler.resume()

    def _deposed(self) -> None:
        with self._leading_lock:
            self.metrics.leader.set(0)
            if self.scheduler.state == STATE_RUNNING:
                self.scheduler.pause()

    def _woken(self, site: str, at: datetime) -> None:
        """Another instance stored events of `site` whose run is due at `at`."""
        try:
            self.escalator.wake(site, at)
        except SQLAlchemyError:
            log.exception("could not schedule escalation of site %s; the sweep does", site)

    def publish_fleet(self) -> None:
        """Publish, retained, every fleet version not published since the broker last
        took our subscription (after a reconnect: all of them, as the broker may have
        lost its retained messages). Versions imported by the CLI are found here too."""
        with self._fleet_lock:
            with self.sessions() as session:
                rows = [
                    row for row in registry.versions(session) if row.number > self._fleet_published
                ]
            for row in rows:
                payload = registry.message(row).model_dump_json().encode()
                if not self.consumer.publish_retained(topics.fleet(row.number), payload):
                    return
                self._fleet_published = row.number
            self._publish_retired()

    def _publish_retired(self) -> None:
        """Publish, retained, the gateways retired so far when the list changed (retired by
        the API or the CLI), or after a reconnect: ingest refuses what they took after."""
        with self.sessions() as session:
            retired = gateways.retired(session)
        if retired == self._retired_published:
            return
        if self.consumer.publish_retained(topics.RETIRED, retired.model_dump_json().encode()):
            self._retired_published = retired

    def _fleet_resubscribed(self) -> None:
        self._fleet_published = 0
        self._retired_published = None

    def stop(self) -> None:
        self.consumer.stop()
        with self._leading_lock:
            self._stopped = True
        self.escalator.close()
        if self.scheduler.state != STATE_STOPPED:
            self.scheduler.shutdown(wait=True)
        escalation.install(None)
        # Only now, with nothing running here any more, may another instance lead.
        self.leadership.stop()
        self.close()

    def wake_partner_webhooks(self) -> None:
        """Send due partner webhooks now, not at the job's next run."""
        if self.scheduler.running:
            self.scheduler.modify_job(PARTNER_WEBHOOKS, "memory", next_run_time=_now())

    def close(self) -> None:
        """Let go of InfluxDB, partners' webhooks and the database (what `stop` ends with)."""
        self.partner_webhooks.close()
        if self.influx is not None:
            self.influx.close()
        self.engine.dispose()

    def handle_events(self, events: Sequence[AlertEvent]) -> None:
        """Store alert events in one transaction (the consumer acknowledges them after
        this returns), then wake escalation once for each site that must be told: here
        if this instance leads, else the leader (Leadership.wake).

        Raises Refused when the database refuses the events for what it holds (a
        constraint, a value it cannot store): retrying would never succeed.
        """
        due: dict[str, datetime] = {}
        try:
            with self.writes.begin() as session:
                for applied in lifecycle.apply_events(session, events):
                    if applied.needs_telling:
                        site, since = applied.alert.site, applied.alert.escalation_since
                        due[site] = min(due.get(site, since), since)
                for site, since in due.items():
                    self.leadership.wake(session, site, since + self.escalator.window)
        except (IntegrityError, DataError) as exc:
            keys = ", ".join(event.key for event in events)
            raise Refused(f"the database refused event {keys}: {exc.orig}") from exc
        self.metrics.events.inc(len(events))
        for site, since in due.items():
            self.escalator.wake(site, since + self.escalator.window)

    def check_backups(self) -> list[AlertEvent]:
        """Raise or clear the sites' maintenance alert of a missing backup; the events."""
        if self.settings.backup_root is None or self.fleet is None:
            return []
        return backups.check(
            self.settings.backup_root,
            timedelta(hours=self.settings.backup_max_age_h),
            [site.id for site in self.fleet.sites],
            self.sessions,
            self.handle_events,
            _now(),
        )

    def check_calibration(self) -> list[AlertEvent]:
        """Raise or clear the probes' maintenance alert of a calibration that does not
        verify them; the events."""
        return calibration.check(self.sessions, self.fleet, self.handle_events, _now())

    def wake_calibration_check(self) -> None:
        """Look at the register now, not at the job's next run (after an entry)."""
        if self.scheduler.running:
            self.scheduler.modify_job("calibration-check", "memory", next_run_time=_now())

    def refuse_event(self, topic: str, payload: bytes, reason: str) -> None:
        """Keep an event that cannot be stored, with the reason, and count it."""
        text = payload[:MAX_KEPT_BYTES].decode("utf-8", errors="replace")
        with self.writes.begin() as session:
            session.add(
                RefusedEvent(
                    received_at=datetime.now(UTC), topic=topic, payload=text, reason=reason
                )
            )
            audit.append(
                session,
                actor=audit.SYSTEM,
                action="event.refused",
                subject=f"topic:{topic[:200]}",
                detail={"reason": reason[:2000], "payload_bytes": len(payload)},
            )
        self.metrics.refused.inc()

    def flush_outbox(self) -> int:
        """Copy queued points to InfluxDB; returns how many were written.

        Points InfluxDB refuses are set aside as dead letters (outbox.py), so that
        they never hold up the points behind them; while InfluxDB is unavailable,
        every point waits.
        """
        if self.influx is None:
            return 0
        written = 0
        while True:
            with self.sessions() as session:
                rows = outbox.oldest(session, OUTBOX_BATCH)
            if not rows:
                return written
            try:
                refused = self.influx.write_isolating([row.line for row in rows])
            except InfluxUnavailable as exc:
                log.warning("alert actions wait for InfluxDB: %s", exc)
                return written
            with self.writes.begin() as session:
                set_aside = outbox.set_aside(
                    session, {rows[i].id: reason for i, reason in refused.items()}, _now()
                )
                outbox.remove(session, [row.id for row in rows])
            for letter in set_aside:
                log.error(
                    "InfluxDB refused point %d, set aside in influx_dead_letter "
                    "(coldchain-alerts dead-letters list, replay): %s; the point: %s",
                    letter.id,
                    letter.reason,
                    letter.line,
                )
            self.metrics.influx_refused.inc(len(set_aside))
            written += len(rows) - len(refused)

    def replay_refused(
        self, actor: str, ids: Collection[int] = ()
    ) -> tuple[list[int], dict[int, str]]:
        """Write the dead letters with these ids (all when none) to InfluxDB again.

        Returns the ids InfluxDB stored (forgotten) and those it refused again (kept,
        with the new reason). Raises InfluxUnavailable, and changes nothing, when
        InfluxDB cannot take them now; InfluxError when it is not configured.
        """
        if self.influx is None:
            raise InfluxError("InfluxDB is not configured (COLDCHAIN_ALERTS_INFLUX_URL)")
        with self.sessions() as session:
            letters = outbox.dead_letters(session, ids)
        by_index = self.influx.write_isolating([letter.line for letter in letters])
        refused = {letters[i].id: reason for i, reason in by_index.items()}
        stored = [letter.id for letter in letters if letter.id not in refused]
        with self.writes.begin() as session:
            outbox.settle(session, stored, refused, _now())
            audit.append(
                session,
                actor=actor,
                action="influx.replayed",
                subject="influx_dead_letter",
                detail={"stored": stored, "refused_again": sorted(refused)},
            )
        return stored, refused

    def verify_audit(self) -> audit.Check:
        """Check the audit-log chain and its head, and against InfluxDB's copy when
        InfluxDB is configured: a copy that cannot be read is a failed check."""
        if self.influx is None:
            return audit.check(self.sessions, None)
        try:
            self.flush_outbox()
        except SQLAlchemyError as exc:
            return audit.unreadable_database(exc)
        influx = self.influx
        return audit.check(
            self.sessions, influx.audit_copy, lambda: influx.kept_since(datetime.now(UTC))
        )

    def record_audit_verdict(self) -> Verdict:
        verdict = self.verify_audit().verdict
        if not verdict.ok:
            log.error("the audit log is not verified intact: %s", verdict.problem)
        with self.writes.begin() as session:
            outbox.queue(
                session,
                point(
                    measurements.AUDIT_VERIFY,
                    {},
                    {
                        "ok": verdict.ok,
                        "entries": verdict.entries,
                        "first_bad_seq": verdict.first_bad_seq or 0,
                        "problem": verdict.problem,
                    },
                    datetime.now(UTC),
                ),
            )
        self.metrics.audit_ok.set(1 if verdict.ok else 0)
        return verdict

    def _count_delivery(self, delivery: Delivery) -> None:
        outcome = "sent" if delivery.ok else "failed"
        self.metrics.notifications.labels(channel=delivery.channel, outcome=outcome).inc()
        if not delivery.ok:
            log.error("%s to %s failed: %s", delivery.channel, delivery.address, delivery.error)


def _now() -> datetime:
    return datetime.now(UTC)


def _asset_names(fleet: Fleet | None) -> Mapping[str, Mapping[Language, str]]:
    if fleet is None:
        return {}
    return {
        asset.id: {"de": asset.name.de, "en": asset.name.en}
        for site in fleet.sites
        for asset in site.assets
    }


def _site_names(fleet: Fleet | None) -> Mapping[str, str]:
    return {} if fleet is None else {site.id: site.name for site in fleet.sites}


def _load_fleet(path: Path | None) -> Fleet | None:
    return fleetfile.load(path) if path is not None else None
