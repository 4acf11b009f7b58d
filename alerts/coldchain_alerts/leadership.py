"""Which alerts instance tells people: exactly one at a time.

Several instances may share one PostgreSQL database: each serves the pages and the
API and stores alert events, but only the leader runs escalation and the
scheduled jobs (service.py), so nobody is told twice.

PostgreSQL: the leader holds a session-level advisory lock on a connection of its
own, which it uses for nothing else. The others try to take it every
`lease / 5` seconds.
- A leader killed (`kill -9`, a crash) loses its connection, and PostgreSQL
  frees the lock with the session at once.
- A leader that hangs (stopped, swapping, cut off from the network) keeps its
  socket open, so PostgreSQL alone would keep the lock forever. The session
  therefore has `idle_session_timeout` = the lease: the leader runs a query every
  `lease / 5`; a session silent for a whole lease is ended by the server, which
  frees the lock. The leader counts itself the leader only until
  `LEASE_TRUST` of a lease after sending its last answered query, so it stops
  before the server lets another take over, even if its own thread hangs. Its
  writing transactions are ended by the server after a lease idle too
  (db.make_engine), so the row locks of one it hung in (an alert's, the audit
  chain's head) do not stall the next leader.
A standby takes over within about one lease and a fifth of a lease of the
leader's end.

Events stored by a standby still wake the leader at once: the storing transaction
sends a PostgreSQL NOTIFY with the site and the time its run is due (`wake`), and
the leader LISTENs on its lock's connection. The leader's own NOTIFYs come back to
it too; it has woken the site itself after its commit, so it does not hand those on
(each would run the site's escalation a second time, for nothing, while the next
alert waits for the site's lock).

SQLite allows one instance per database file: the first takes an exclusive `flock`
on `<file>.lock` beside it and leads; a second is refused at start. (Not on the
database file itself: closing any descriptor of that file would drop SQLite's own
POSIX locks on it.)
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

#: The advisory lock's key: "coldchain-alerts leader" as a 64-bit number of our choice.
LOCK_KEY = 0x636F6C64_616C7274
#: The NOTIFY channel of wakes (`wake`).
CHANNEL = "coldchain_alerts_wake"
#: The part of a lease, after sending its last answered query, the leader trusts
#: itself: the server's clock of the session starts after it received that query.
LEASE_TRUST = 0.8
#: Heartbeats per lease (and attempts per lease of a standby).
BEATS = 5


class AnotherInstance(Exception):
    """A second alerts instance on one SQLite file (SQLite allows one)."""


#: Most of its own wakes a leader remembers until they come back (`PostgresLeadership`).
MAX_OWN_WAKES = 1000


class Leadership(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    @property
    def leading(self) -> bool: ...

    def wake(self, session: Session, site: str, at: datetime) -> None:
        """Tell the leader, once the session commits, that `site` must run at `at` (UTC).
        The caller wakes its own escalator after the commit: if it leads, that is the
        leader's wake."""


def for_database(
    url: str,
    lease_s: float,
    elected: Callable[[], None],
    deposed: Callable[[], None],
    woken: Callable[[str, datetime], None],
) -> Leadership:
    """The leadership of the instances on the database at the SQLAlchemy `url`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteLeadership(parsed.database, elected)
    return PostgresLeadership(
        parsed.set(drivername="postgresql").render_as_string(hide_password=False),
        lease_s,
        elected,
        deposed,
        woken,
    )


class SqliteLeadership:
    """The one instance on a SQLite file leads; a second on the same file is refused."""

    def __init__(self, database: str | None, elected: Callable[[], None]) -> None:
        self._path = Path(f"{database}.lock") if database and database != ":memory:" else None
        self._elected = elected
        self._fd: int | None = None

    @property
    def leading(self) -> bool:
        return True

    def start(self) -> None:
        if self._path is not None:
            self._fd = os.open(self._path, os.O_RDONLY | os.O_CREAT, 0o600)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self._fd)
                self._fd = None
                raise AnotherInstance(
                    f"another alerts service uses {self._path.with_suffix('')} (it holds "
                    f"{self._path}): SQLite allows one instance; "
                    "stop the other, or use PostgreSQL (COLDCHAIN_ALERTS_DATABASE_URL) "
                    "for several"
                ) from None
        self._elected()

    def stop(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def wake(self, session: Session, site: str, at: datetime) -> None:
        """Nothing: the one instance on the file leads and wakes itself."""


class PostgresLeadership:
    """Leads while it holds the advisory lock; see the module's docstring."""

    def __init__(
        self,
        conninfo: str,
        lease_s: float,
        elected: Callable[[], None],
        deposed: Callable[[], None],
        woken: Callable[[str, datetime], None],
    ) -> None:
        self._conninfo = conninfo
        self._lease_s = lease_s
        self._elected = elected
        self._deposed = deposed
        self._woken = woken
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        #: Until when (time.monotonic) this instance leads; 0 when it does not.
        self._until = 0.0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="leadership", daemon=True)
        #: (backend pid, payload) of the wakes this leader sent and has not seen come back.
        self._own: set[tuple[int, str]] = set()
        self._own_lock = threading.Lock()

    @property
    def leading(self) -> bool:
        return time.monotonic() < self._until

    def wake(self, session: Session, site: str, at: datetime) -> None:
        payload = f"{site} {at.isoformat()}"
        notify = select(func.pg_backend_pid(), func.pg_notify(CHANNEL, payload))
        pid: int = session.execute(notify).scalar_one()
        if not self.leading:
            return
        with self._own_lock:
            if len(self._own) >= MAX_OWN_WAKES:
                # Transactions rolled back never sent theirs; forgetting them all costs
                # at most one needless run each.
                self._own.clear()
            self._own.add((pid, payload))

    def _is_own(self, pid: int, payload: str) -> bool:
        """Whether this leader sent the wake (and, after its commit, woke the site)."""
        with self._own_lock:
            if (pid, payload) in self._own:
                self._own.remove((pid, payload))
                return True
            return False

    def start(self) -> None:
        """Try once now, so that a lone instance leads from its start; then keep trying."""
        self._attempt()
        self._thread.start()

    def stop(self) -> None:
        """Stop leading and let the lock go (another instance takes over at once)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        self._lose()

    def _loop(self) -> None:
        interval = self._lease_s / BEATS
        while not self._stopping.is_set():
            if self._until and not self.leading:
                log.error("no answer from PostgreSQL within the lease: no longer leading")
                self._lose()
            if self._until:
                self._listen(interval)
                self._attempt()
            elif not self._stopping.wait(interval):
                self._attempt()

    def _attempt(self) -> None:
        """Take the lock, or renew the lease of the one held; drop the connection on error."""
        try:
            if self._conn is None:
                self._conn = self._connect()
            sent = time.monotonic()
            if self._until:
                self._conn.execute("SELECT 1")
                self._until = sent + LEASE_TRUST * self._lease_s
                return
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
            if row is None or not row[0]:
                return
            self._conn.execute(f"LISTEN {CHANNEL}")
            self._until = sent + LEASE_TRUST * self._lease_s
        except psycopg.Error as exc:
            log.warning("leadership: PostgreSQL unavailable: %s", exc)
            self._lose()
            return
        log.info("this instance leads: it runs escalation and the scheduled jobs")
        self._elected()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        lease_ms = round(self._lease_s * 1000)
        conn = psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=max(2, round(self._lease_s / 2)),
            application_name="coldchain-alerts leadership",
            # A socket that stops answering fails a query rather than hanging it.
            keepalives=1,
            keepalives_idle=max(1, round(self._lease_s / BEATS)),
            keepalives_interval=1,
            keepalives_count=3,
            tcp_user_timeout=lease_ms,
        )
        conn.execute(f"SET idle_session_timeout = {lease_ms}")
        return conn

    def _listen(self, interval: float) -> None:
        """Hand on the wakes that arrive within `interval` seconds."""
        assert self._conn is not None
        try:
            for note in self._conn.notifies(timeout=interval):
                if not self._is_own(note.pid, note.payload):
                    self._hand_on(note.payload)
        except psycopg.Error as exc:
            log.warning("leadership: lost the connection to PostgreSQL: %s", exc)
            self._lose()

    def _hand_on(self, payload: str) -> None:
        site, _, at = payload.partition(" ")
        try:
            when = datetime.fromisoformat(at)
        except ValueError:
            # Anyone with the database's password can NOTIFY; ours always carry a time.
            log.warning("leadership: ignored a wake that is not ours: %r", payload[:200])
            return
        self._woken(site, when)

    def _lose(self) -> None:
        """Close the lock's connection (freeing the lock); tell the service if it led."""
        was_leading = bool(self._until)
        self._until = 0.0
        with self._own_lock:
            self._own.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if was_leading:
            log.warning("this instance no longer leads: escalation and scheduled jobs stop here")
            self._deposed()
