"""Set up the demo's alerts service once: people, contacts, Dortmund's escalation policy,
and the fleet registry's first version, from fleet/dortmund-hub.yaml.

Run by `coldchain-demo service alerts` before the service starts; changes nothing when the
demo database has them already. Leaves in `keep` the key that signs the pages'
sessions (`secret-key`) and an auditor's API token for the summary (`demo-token`).
The demo's times are short (its physics run 60 times faster): level 2 is told
after 2 minutes without acknowledgement, and the levels told are reminded every
minute.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import select

from coldchain.fleet import parse_yaml
from coldchain_alerts import people, policies, registry
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine, make_sessionmaker, migrate
from coldchain_alerts.models import User

#: User, role, name shown, language, password (a demo's, printed by the banner).
USERS = [
    ("hygiene", Role.OFFICER, "Anna Schmidt (Hygiene)", "de", "kuehlkette-demo"),
    ("pruefer", Role.AUDITOR, "Ulrike Prüfer (Audit)", "de", "kuehlkette-demo"),
    ("admin", Role.ADMIN, "Admin", "en", "kuehlkette-demo"),
]
CONTACTS = [
    {"name": "Schichtleitung Kühlhaus", "language": "de", "email": "schicht@hub.example"},
    {"name": "Hygiene officer on call", "language": "en", "email": "hygiene@hub.example"},
]
SITE = "dortmund-hub"
ACTOR = "demo"


def set_up(database_url: str, keep: Path, fleet: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    key = keep / "secret-key"
    if not key.exists():
        key.write_text(secrets.token_urlsafe(32))
    migrate(database_url)
    engine = make_engine(database_url)
    with make_sessionmaker(engine, writes=True).begin() as session:
        if session.scalars(select(User).where(User.username == "hygiene")).first() is None:
            for username, role, name, language, password in USERS:
                people.add_user(session, ACTOR, username, role, password, name, language)
            ids = [people.save_contact(session, ACTOR, c | {"active": True}).id for c in CONTACTS]
            policies.set_policy(session, ACTOR, SITE, 120, 60, [[ids[0]], [ids[1]]])
        if registry.newest(session) is None:
            data = parse_yaml(fleet.read_text(encoding="utf-8"))
            registry.propose(session, ACTOR, data, f"the demo hub, from {fleet.name}")
        token = keep / "demo-token"
        if not token.exists():
            _, secret = people.add_token(session, ACTOR, "pruefer", "demo summary")
            token.write_text(secret)
    engine.dispose()
