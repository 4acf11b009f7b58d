"""Escalation at run time: tell the contacts of a site's policy, level by level.

The decisions are `coldchain.escalation`'s; this module loads the alerts and the
policy, sends the notices, and records what was sent. What was already told is
in each alert's progress columns, committed with the record of the message, so
a run never repeats what an earlier one recorded.

When a run is due:
- now (a new alert with no flood window, a level whose time has come at the
  sweep): at once, on a worker thread of this process. Nothing is written
  between the event and the message; a crash before the record is made up by
  the sweep at the next start (`AlertsService`), which finds the alert untold.
- later (the flood window, the next level, a reminder): one persistent
  APScheduler job per site (`escalate:{site}`, a date trigger at the next due
  time), so a restart neither forgets a pending escalation nor repeats one.

Runs of one site never overlap, whichever way they started: each holds the
site's lock from reading to recording, so the second reads what the first
recorded and sends nothing twice.

A run reads in one short transaction, sends without holding the database, then
records in a second transaction. An alert acknowledged while its message was on
the way keeps the record of the message but is not escalated further.

Of several instances on one database only the leader escalates (leadership.py):
elsewhere `wake`, `sweep` and runs do nothing, and a run checks again before it
sends. A leader that dies between sending and recording leaves the alert untold
in the database, so its successor sends that one message again: at least once,
never lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Row, select
from sqlalchemy.orm import Session, joinedload, sessionmaker

from coldchain.alerting import SEVERITY_RANK, Status
from coldchain.contract import Severity
from coldchain.engine import LEVEL_RANK
from coldchain.escalation import Plan, Policy, Progress, Reason, Step, plan, told
from coldchain.languages import Language
from coldchain_alerts import lifecycle
from coldchain_alerts.models import Alert, Contact, EscalationPolicy, PolicyLevel
from coldchain_alerts.notify.notice import AlertLine, Delivery, Notice, Recipient

log = logging.getLogger(__name__)

#: The policy for sites without their own.
DEFAULT_SITE = "*"
#: The journal's name for each reason.
_ACTIONS = {Reason.NEW: "notified", Reason.ESCALATION: "escalated", Reason.REMINDER: "reminded"}
#: Sites whose immediate runs may send at the same time (each site's runs take turns).
WORKERS = 4


class Sender(Protocol):
    def send(self, notice: Notice, recipient: Recipient) -> list[Delivery]: ...


@dataclass(frozen=True)
class Sent:
    """One notice and what became of it at each contact of its level."""

    level: int
    reason: Reason
    steps: tuple[Step, ...]
    deliveries: tuple[tuple[str, Delivery], ...]
    """(contact name, delivery) for every channel of every contact."""

    @property
    def got_through(self) -> bool:
        return any(delivery.ok for _, delivery in self.deliveries)


@dataclass(frozen=True)
class _Pass:
    """One pass of a run: what it sent, and the plan and progresses it read."""

    sent: list[Sent]
    plan: Plan
    progresses: list[Progress]
    policy: Policy | None
    """None when the site has no policy (and nothing was sent)."""


class Escalator:
    """Runs a site's escalation: at once when due now, else by its persistent job."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        writes: sessionmaker[Session],
        sender: Sender,
        scheduler: BaseScheduler,
        window: timedelta,
        link: Callable[[int], str],
        asset_names: Mapping[str, Mapping[Language, str]],
        on_sent: Callable[[Delivery], None] = lambda delivery: None,
        site_names: Mapping[str, str] | None = None,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self._sessions = sessions
        self._writes = writes
        self._sender = sender
        self._scheduler = scheduler
        self.window = window
        self._link = link
        self._asset_names = asset_names
        self._site_names = site_names or {}
        self._on_sent = on_sent
        #: Whether this instance may escalate now (it leads).
        self._leading = leading
        #: Guards the immediate runs' bookkeeping below, and `_closed`.
        self._lock = threading.Lock()
        #: Guards the persistent jobs. Reading or moving one queries the job store, which
        #: a wake due now (it takes `_lock` only) does not wait for; taken before `_lock`.
        self._jobs = threading.Lock()
        self._site_locks: dict[str, threading.Lock] = {}
        #: Sites with an immediate run queued or running.
        self._soon: set[str] = set()
        #: Sites woken again after their running immediate run began: it runs once more.
        self._again: set[str] = set()
        self._workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="escalate")
        self._closed = False

    # --- scheduling --------------------------------------------------------------

    def wake(self, site: str, at: datetime) -> None:
        """Make sure the site's run happens no later than `at` (UTC).

        Due now: an immediate run on a worker thread. Later: the persistent job.
        Once closed, or while another instance leads, nothing: what is due is in
        the database, and the leader's sweep wakes it.
        """
        if at <= datetime.now(UTC):
            with self._lock:
                if not self._closed and self._leading():
                    self._run_soon(site)
            return
        with self._jobs:
            if self._closed or not self._leading():
                return
            job = self._scheduler.get_job(_job_id(site))
            if job is not None and job.next_run_time is not None and job.next_run_time <= at:
                return
            self._schedule(site, at)

    def close(self) -> None:
        """Finish the runs under way; touch the scheduler no more.

        Call before the scheduler's shutdown: that waits for its running jobs
        while holding the lock a run needs to reschedule, so a run that tried
        would wait forever.
        """
        with self._jobs, self._lock:
            self._closed = True
        self._workers.shutdown(wait=True)

    def _run_soon(self, site: str) -> None:
        """Queue an immediate run of `site` (with `_lock` held)."""
        if site in self._soon:
            self._again.add(site)
            return
        self._soon.add(site)
        self._workers.submit(self._run_now, site)

    def _run_now(self, site: str) -> None:
        while True:
            with self._lock:
                self._again.discard(site)
            try:
                self.run(site)
            except Exception:
                # The alerts stay untold in the database: the sweep wakes the site again.
                log.exception("escalation of site %s failed; the sweep retries it", site)
            with self._lock:
                if site not in self._again:
                    self._soon.discard(site)
                    return

    def _site_lock(self, site: str) -> threading.Lock:
        with self._lock:
            return self._site_locks.setdefault(site, threading.Lock())

    def _schedule(self, site: str, at: datetime) -> None:
        """Put the site's persistent job at `at`; late rather than never after downtime."""
        self._scheduler.add_job(
            run_site,
            "date",
            run_date=at,
            args=[site],
            id=_job_id(site),
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=1,
        )

    def sweep(self, now: datetime | None = None) -> None:
        """Wake every site whose open alerts need a message, at its due time."""
        if not self._leading():
            return
        now = now or datetime.now(UTC)
        with self._sessions() as session:
            sites = session.scalars(
                select(Alert.site).where(Alert.status == Status.OPEN).distinct()
            ).all()
            for site in sites:
                try:
                    self._sweep_site(session, site, now)
                except Exception:
                    # One site's policy or alerts that cannot be planned must not leave
                    # every other site unswept; this one is tried again at the next sweep.
                    log.exception("escalation sweep of site %s failed; it is retried", site)

    def _sweep_site(self, session: Session, site: str, now: datetime) -> None:
        policy = _policy_row(session, site)
        if policy is None:
            return
        result = plan(_waiting(session, site), _policy(policy), now, self.window)
        if result.sends:
            self.wake(site, now)
        elif result.next_run is not None:
            self.wake(site, result.next_run)

    # --- a run ------------------------------------------------------------------

    def run(self, site: str, now: datetime | None = None) -> list[Sent]:
        """Send what is due for `site` now, record it, and schedule the next run.

        Waits for a run of the same site that is under way, and then reads what
        that one recorded.
        """
        with self._site_lock(site):
            return self._run(site, now or datetime.now(UTC))

    def _run(self, site: str, now: datetime) -> list[Sent]:
        sent: list[Sent] = []
        for _ in range(20):  # each pass advances at least one level; 20 is beyond any policy
            done = self._send_due(site, now)
            result = done.plan
            if not done.sent or done.policy is None:
                break
            recorded = self._record(done.sent, now)
            sent.extend(done.sent)
            # The site is read again only when the plan, with what was just recorded,
            # sends more now (a level nobody could be reached at). An alert stored
            # meanwhile has woken the site: it runs once more.
            progresses = [recorded.get(p.alert_id, p) for p in done.progresses]
            result = plan(progresses, done.policy, now, self.window)
            if not result.sends:
                break
        else:
            log.error("escalation of site %s did not settle after 20 passes", site)
        with self._jobs:
            if self._closed or not self._leading():
                return sent
            # A wake() during the run may have set an earlier time; keep the earlier.
            job = self._scheduler.get_job(_job_id(site))
            pending = job.next_run_time if job is not None else None
            later = [t for t in (result.next_run, pending) if t is not None]
            if not later:
                return sent
            if result.next_run is None or result.next_run > datetime.now(UTC):
                at = max(min(later), now)
                if at != pending:
                    self._schedule(site, at)
                return sent
        # Due already (an alert stored during this run): run again, at once.
        with self._lock:
            if not self._closed:
                self._run_soon(site)
        return sent

    def _send_due(self, site: str, now: datetime) -> _Pass:
        if not self._leading():
            log.warning("site %s not escalated here: this instance no longer leads", site)
            return _Pass([], Plan({}, None), [], None)
        with self._sessions() as session:
            policy_row = _policy_row(session, site)
            if policy_row is None:
                log.warning("site %s has alerts but no escalation policy: nobody is told", site)
                return _Pass([], Plan({}, None), [], None)
            progresses = _waiting(session, site)
            policy = _policy(policy_row)
            result = plan(progresses, policy, now, self.window)
            if not result.sends:
                return _Pass([], result, progresses, policy)
            due = {step.alert_id for steps in result.sends.values() for step in steps}
            alerts = {
                alert.id: alert for alert in session.scalars(select(Alert).where(Alert.id.in_(due)))
            }
            contacts = {
                level: [entry.contact for entry in policy_row.levels if entry.level == level]
                for level in {entry.level for entry in policy_row.levels}
            }
            work = []
            for (level, reason), steps in sorted(result.sends.items()):
                # Read now, not when the alert was stored: a reminder of an alert still
                # warming shows its latest reading and peak. The most severe first.
                lines = tuple(sorted((self._line(alerts[x.alert_id]) for x in steps), key=_first))
                notice = Notice(site, level, reason, lines, now, self._site_names.get(site))
                recipients = [_recipient(c) for c in contacts.get(level, []) if c.active]
                work.append((notice, steps, recipients))
        batch = []
        for notice, steps, recipients in work:
            deliveries = []
            for recipient in recipients:
                for delivery in self._sender.send(notice, recipient):
                    self._on_sent(delivery)
                    deliveries.append((recipient.name, delivery))
            if not recipients:
                log.warning("site %s: level %d of its policy has no contacts", site, notice.level)
            batch.append(Sent(notice.level, notice.reason, tuple(steps), tuple(deliveries)))
        return _Pass(batch, result, progresses, policy)

    def _record(self, batch: Sequence[Sent], now: datetime) -> dict[int, Progress]:
        """Record what was sent, in the alerts told and their journals; returns the
        progress of each alert told, as recorded."""
        by_alert: dict[int, list[Sent]] = {}
        for sent in batch:
            for step in sent.steps:
                by_alert.setdefault(step.alert_id, []).append(sent)
        recorded: dict[int, Progress] = {}
        with self._writes.begin() as session:
            locked = session.scalars(
                select(Alert).where(Alert.id.in_(by_alert)).order_by(Alert.id).with_for_update()
            )
            for alert in locked:
                sents = by_alert[alert.id]
                progress = _progress(alert)
                waiting = alert.status == Status.OPEN
                for sent in sents:
                    step = next(s for s in sent.steps if s.alert_id == alert.id)
                    if waiting and sent.level == max(step.levels):
                        progress = told(progress, step, now, sent.got_through)
                _store_progress(alert, progress)
                recorded[alert.id] = progress
                for reason in dict.fromkeys(sent.reason for sent in sents):
                    of_reason = [sent for sent in sents if sent.reason is reason]
                    lifecycle.journal(
                        session,
                        alert,
                        _ACTIONS[reason],
                        "system",
                        now,
                        {
                            "level": max(sent.level for sent in of_reason),
                            "levels": [sent.level for sent in of_reason],
                            "deliveries": [
                                {
                                    "contact": name,
                                    "channel": delivery.channel,
                                    "address": delivery.address,
                                    "ok": delivery.ok,
                                    "error": delivery.error,
                                }
                                for sent in of_reason
                                for name, delivery in sent.deliveries
                            ],
                            "grouped_with": len(of_reason[0].steps) - 1,
                        },
                    )
        return recorded

    def _line(self, alert: Alert) -> AlertLine:
        return AlertLine(
            alert_id=alert.id,
            site=alert.site,
            asset=alert.asset,
            sensor=alert.sensor,
            gateway=alert.gateway,
            rule=alert.rule,
            severity="critical" if alert.severity == Severity.CRITICAL else "warning",
            active=alert.active,
            since=alert.opened_at,
            cleared_at=alert.cleared_at,
            value_c=alert.value_c,
            limit_c=alert.limit_c,
            link=self._link(alert.id),
            asset_names=self._asset_names.get(alert.asset or "", {}),
            value_at=alert.value_at,
            peak_c=alert.peak_c,
            duration_s=_lasted_s(alert),
        )


def _first(line: AlertLine) -> tuple[int, datetime, int]:
    """A notice's order: critical before warnings, then the oldest condition first."""
    return SEVERITY_RANK[Severity(line.severity)], line.since, line.alert_id


def _lasted_s(alert: Alert) -> float | None:
    """The alert's duration where readings keep it current: a temperature excursion
    (its `updated` events), or any condition once cleared; None for a present condition
    no reading updates (a gateway offline), whose notice counts to its own time."""
    if alert.active and alert.rule not in LEVEL_RANK:
        return None
    return alert.duration_s


#: The escalator of this process, for the scheduler's persistent jobs to find.
_current: Escalator | None = None


def install(escalator: Escalator | None) -> None:
    global _current
    _current = escalator


def run_site(site: str) -> None:
    """The persistent job's entry point (referenced by name in the job store)."""
    if _current is None:
        log.error("escalation job for %s ran before the service was ready", site)
        return
    _current.run(site)


def _job_id(site: str) -> str:
    return f"escalate:{site}"


def _policy_row(session: Session, site: str) -> EscalationPolicy | None:
    """The site's own policy, else the default one; with its levels' contacts."""
    rows = session.scalars(
        select(EscalationPolicy)
        .where(EscalationPolicy.site.in_((site, DEFAULT_SITE)))
        .options(joinedload(EscalationPolicy.levels).joinedload(PolicyLevel.contact))
    ).unique()
    by_site = {row.site: row for row in rows}
    return by_site.get(site) or by_site.get(DEFAULT_SITE)


def _policy(row: EscalationPolicy) -> Policy:
    return Policy(
        levels=max((entry.level for entry in row.levels), default=1),
        ack_timeout=timedelta(seconds=row.ack_timeout_s),
        reminder_interval=(
            timedelta(seconds=row.reminder_interval_s) if row.reminder_interval_s else None
        ),
    )


#: What an alert's escalation progress is made of (`_progress`).
_PROGRESS_COLUMNS = (
    Alert.id,
    Alert.severity,
    Alert.status,
    Alert.escalation_since,
    Alert.escalation_level,
    Alert.escalation_level_at,
    Alert.escalation_level_ok,
    Alert.told_at,
)


def _waiting(session: Session, site: str) -> list[Progress]:
    """The progress of the alerts of `site` nobody has acknowledged, the only ones
    escalation tells about; read as columns, as a flood leaves hundreds open."""
    rows = session.execute(
        select(*_PROGRESS_COLUMNS).where(Alert.site == site, Alert.status == Status.OPEN)
    )
    return [_progress(row) for row in rows]


def _progress(alert: Alert | Row[*tuple[Any, ...]]) -> Progress:
    """From an alert, or a row of its `_PROGRESS_COLUMNS`."""
    return Progress(
        alert_id=alert.id,
        severity=Severity(alert.severity),
        waiting=alert.status == Status.OPEN,
        since=alert.escalation_since,
        level=alert.escalation_level,
        level_at=alert.escalation_level_at,
        level_ok=alert.escalation_level_ok,
        told_at=alert.told_at,
    )


def _store_progress(alert: Alert, progress: Progress) -> None:
    alert.escalation_level = progress.level
    alert.escalation_level_at = progress.level_at
    alert.escalation_level_ok = progress.level_ok
    alert.told_at = progress.told_at


def _recipient(contact: Contact) -> Recipient:
    language: Language = "en" if contact.language == "en" else "de"
    return Recipient(
        name=contact.name,
        language=language,
        email=contact.email,
        phone=contact.phone,
        ntfy_topic=contact.ntfy_topic,
        webhook_url=contact.webhook_url,
    )
