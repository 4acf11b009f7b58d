"""The sites each audit entry concerns, so a user of some sites reads their own entries.

Entries written before are given their sites here, as the service gives them now: an
alert's step its alert's site, a gateway's entry the site in its subject, a site's policy
that site, a calibration check its probe's site (in the newest fleet version), a fleet
change every site it touches. Entries about no site (users, tokens, contacts, logins,
the `*` policy, partners) get none and stay for users of every site.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:00:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from coldchain import registry

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_site",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["seq"], ["audit_entry.seq"]),
        sa.PrimaryKeyConstraint("seq", "site"),
    )
    op.create_index("ix_audit_site_site", "audit_site", ["site"])
    connection = op.get_bind()
    rows = [
        {"seq": seq, "site": site}
        for seq, sites in _sites(connection).items()
        for site in sorted(sites)
    ]
    if rows:
        op.bulk_insert(sa.table("audit_site", sa.column("seq"), sa.column("site")), rows)


def downgrade() -> None:
    op.drop_index("ix_audit_site_site", table_name="audit_site")
    op.drop_table("audit_site")


def _sites(connection: sa.Connection) -> dict[int, set[str]]:
    """The sites of every entry written before this revision."""
    alerts: dict[int, str] = {
        alert: site for alert, site in connection.execute(sa.text("SELECT id, site FROM alert"))
    }
    versions = {
        number: json.loads(fleet)
        for number, fleet in connection.execute(sa.text("SELECT number, fleet FROM fleet_version"))
    }
    requests = _request_sites(connection, versions)
    made: dict[int, int] = {
        version: request
        for version, request in connection.execute(
            sa.text("SELECT version, id FROM fleet_request WHERE version IS NOT NULL")
        )
    }
    newest = registry.flatten(versions[max(versions)]) if versions else {}
    found: dict[int, set[str]] = {}
    entries = connection.execute(sa.text("SELECT seq, subject, alert_id FROM audit_entry"))
    for seq, subject, alert_id in entries:
        kind, _, key = subject.partition(":")
        sites: set[str] = set()
        if alert_id is not None and alert_id in alerts:
            sites = {alerts[alert_id]}
        elif kind == "gateway":
            sites = {key.split("/", 1)[0]}
        elif kind == "policy" and key != "*":
            sites = {key}
        elif kind == "sensor":
            site = registry.site_of(newest, f"sensors/{key}")
            sites = set() if site is None else {site}
        elif kind == "fleet":
            sites = _fleet_sites(key, requests, made)
        if sites:
            found[seq] = sites
    return found


def _request_sites(
    connection: sa.Connection, versions: dict[int, dict[str, Any]]
) -> dict[int, set[str]]:
    rows = connection.execute(sa.text("SELECT id, base_version, fleet FROM fleet_request"))
    return {
        request: registry.sites_touched(versions.get(base, {}) if base else {}, json.loads(fleet))
        for request, base, fleet in rows
    }


def _fleet_sites(key: str, requests: dict[int, set[str]], made: dict[int, int]) -> set[str]:
    """`request:{id}` or `version:{number}`: the sites the request touches."""
    what, _, number = key.partition(":")
    if not number.isdigit():
        return set()
    if what == "request":
        return requests.get(int(number), set())
    if what == "version" and int(number) in made:
        return requests.get(made[int(number)], set())
    return set()
