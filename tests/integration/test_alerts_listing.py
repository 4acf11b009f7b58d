"""listing's order, standing filter and counts, computed by SQLite and PostgreSQL, agree with
the domain's `standing` for every combination of status, severity and recorded decision."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from coldchain.alerting import SEVERITY_RANK, STANDING_RANK, Standing, standing
from coldchain.contract import Severity
from coldchain_alerts import listing
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_alerts.models import Alert

T0 = datetime(2025, 11, 3, 2, 0, tzinfo=UTC)
TEXTS = (None, "", "recorded")


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    migrate(database_url)
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as opened:
        yield opened
    engine.dispose()


def _alerts() -> list[Alert]:
    made = []
    combinations = itertools.product(
        ("open", "acknowledged", "closed"), ("critical", "warning"), TEXTS, TEXTS, TEXTS
    )
    for n, (status, severity, cause, action, decision) in enumerate(combinations):
        # Times out of step with the combinations, and some equal, so that every key counts.
        opened = T0 + timedelta(minutes=(n * 37) % 50)
        made.append(
            Alert(
                condition=f"temperature_above/probe-{n}",
                site="dortmund-hub",
                rule="over_max",
                severity=severity,
                status=status,
                active=n % 2 == 0,
                occurrences=1,
                opened_at=opened,
                cause=cause,
                corrective_action=action,
                product_decision=decision and "quarantine",
                escalation_since=opened,
                created_at=opened,
                updated_at=opened,
            )
        )
    return made


def _key(alert: Alert) -> tuple[bool, int, int, float, int]:
    return (
        standing(alert) is Standing.CLOSED,
        SEVERITY_RANK[Severity(alert.severity)],
        STANDING_RANK[standing(alert)],
        -alert.opened_at.timestamp(),
        -alert.id,
    )


def test_the_database_orders_filters_and_counts_as_the_domain_says(session: Session) -> None:
    session.add_all(_alerts())
    session.commit()
    stored = list(session.query(Alert))
    assert len(stored) == 162

    listed = listing.search(session, listing.Filters(), limit=1000)
    assert [a.id for a in listed] == [a.id for a in sorted(stored, key=_key)]
    for wanted in Standing:
        found = listing.search(session, listing.Filters(standings={wanted}), limit=1000)
        assert {a.id for a in found} == {a.id for a in stored if standing(a) is wanted}, wanted
    assert listing.counts(session) == Counter(standing(a) for a in stored)
    not_closed = set(Standing) - {Standing.CLOSED}
    page = listing.search(session, listing.Filters(standings=not_closed), limit=10, offset=20)
    expected = sorted((a for a in stored if standing(a) is not Standing.CLOSED), key=_key)
    assert [a.id for a in page] == [a.id for a in expected[20:30]]


def test_counts_name_every_standing_also_without_alerts(session: Session) -> None:
    assert listing.counts(session) == dict.fromkeys(Standing, 0)
