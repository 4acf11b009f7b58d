"""The sites of audit entries written before migration 0010 are the sites the service
gives such entries now; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

from alembic import command
from sqlalchemy import delete, select

from coldchain.calibration import Calibration
from coldchain.fleet import Fleet
from coldchain_alerts import audit, calibration, lifecycle, people, policies, registry
from coldchain_alerts.auth import Role
from coldchain_alerts.db import alembic_config, make_engine, make_sessionmaker, migrate
from coldchain_alerts.models import AuditEntry, AuditSite
from tests.integration.test_alerts_site_scopes import CANTEEN, HUB, STARTED, _event, two_sites


def _write_entries(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            people.add_user(
                session, "tests", "anna", Role.OFFICER, None, sites={CANTEEN: Role.OFFICER}
            )
            registry.propose(session, "tests", two_sites(), "two sites")
            asked = registry.change_value(
                session, "tests", "assets/cold-room-1/limits/delay_s", 600, "door"
            )
            registry.refuse(session, "anna", asked.request.id, "no")
            registry.change_value(session, "tests", "assets/canteen-room/limits/max_c", 3.0, "x")
            checks = [
                ("", Calibration("canteen-gw.air", date(2026, 11, 1), date(2027, 11, 1), "T"))
            ]
            calibration.record(session, "tests", checks, Fleet.from_data(two_sites()), STARTED)
            lifecycle.apply_events(session, [_event(CANTEEN, "canteen-room", "canteen-gw.air")])
            contact = people.save_contact(session, "tests", {"name": "x", "email": "x@example.org"})
            for site in (HUB, "*"):
                policies.set_policy(session, "tests", site, 900, None, [[contact.id]])
            audit.append(
                session,
                actor="tests",
                action="gateway.retired",
                subject=f"gateway:{CANTEEN}/canteen-gw",
                detail={"reason": "stolen"},
                sites=(CANTEEN,),
            )
    finally:
        engine.dispose()


def _sites(database_url: str) -> dict[str, set[str]]:
    """Each entry's `action subject` and its sites."""
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            entries = session.execute(select(AuditEntry.seq, AuditEntry.action, AuditEntry.subject))
            found: dict[str, set[str]] = {
                f"{action} {subject}": set() for _, action, subject in entries
            }
            rows = session.execute(
                select(AuditEntry.action, AuditEntry.subject, AuditSite.site).join(
                    AuditSite, AuditSite.seq == AuditEntry.seq
                )
            )
            for action, subject, site in rows:
                found[f"{action} {subject}"].add(site)
            return found
    finally:
        engine.dispose()


def test_migration_gives_older_entries_the_sites_the_service_gives_them(
    database_url: str,
) -> None:
    migrate(database_url)
    _write_entries(database_url)
    written = _sites(database_url)
    engine = make_engine(database_url)
    with make_sessionmaker(engine).begin() as session:
        session.execute(delete(AuditSite))
    engine.dispose()
    command.downgrade(alembic_config(database_url), "0009")
    migrate(database_url)

    assert _sites(database_url) == written
    assert written["fleet.change_requested fleet:request:1"] == {HUB, CANTEEN}
    assert written["fleet.change_refused fleet:request:2"] == {HUB}
    assert written["fleet.changed fleet:version:2"] == {CANTEEN}
    assert written["calibration.checked sensor:canteen-gw.air"] == {CANTEEN}
    assert written["alert.opened alert:1"] == {CANTEEN}
    assert written[f"policy.changed policy:{HUB}"] == {HUB}
    assert written["policy.changed policy:*"] == set()
    assert written[f"gateway.retired gateway:{CANTEEN}/canteen-gw"] == {CANTEEN}
    assert written["user.created user:anna"] == set()
