"""Wakes between alerts instances on one PostgreSQL database (leadership.py).

The storing transaction's NOTIFY reaches every instance that LISTENs, the leader's
own too. The leader wakes the site itself after its commit, so handing its own
NOTIFY on would run the site's escalation a second time for nothing.
"""

from __future__ import annotations

import queue
from datetime import UTC, datetime

from coldchain_alerts import leadership
from coldchain_alerts.db import make_engine, make_sessionmaker
from coldchain_devstack.servers import PostgreSQL

LEASE_S = 5.0


def test_the_leader_hands_on_the_wakes_of_others_not_its_own(postgresql: PostgreSQL) -> None:
    url = postgresql.create_database()
    woken: queue.Queue[str] = queue.Queue()

    def elect() -> leadership.Leadership:
        return leadership.for_database(
            url, LEASE_S, lambda: None, lambda: None, lambda site, at: woken.put(site)
        )

    leader, standby = elect(), elect()
    leader.start()
    standby.start()
    engine = make_engine(url)
    writes = make_sessionmaker(engine, writes=True)
    try:
        assert leader.leading and not standby.leading
        at = datetime.now(UTC)
        # Most likely on the same pooled connection: its pid alone would not tell them apart.
        with writes.begin() as session:
            leader.wake(session, "site-of-the-leader", at)
        with writes.begin() as session:
            standby.wake(session, "site-of-the-standby", at)
        # NOTIFYs arrive in the order of their commits: the leader's own came first.
        assert woken.get(timeout=10) == "site-of-the-standby"
    finally:
        standby.stop()
        leader.stop()
        engine.dispose()
