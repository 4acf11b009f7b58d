"""Escalation policies per site: set and read, with an audit entry for each change."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain_alerts import audit
from coldchain_alerts.models import Contact, EscalationPolicy, PolicyLevel
from coldchain_alerts.people import NotFound


def set_policy(
    session: Session,
    actor: str,
    site: str,
    ack_timeout_s: int,
    reminder_interval_s: int | None,
    levels: Sequence[Sequence[int]],
) -> EscalationPolicy:
    """Replace the policy of `site` ("*" for every site without its own).

    `levels[0]` are the contact ids of level 1, and so on.
    """
    wanted = {contact_id for level in levels for contact_id in level}
    known = set(session.scalars(select(Contact.id).where(Contact.id.in_(wanted))))
    if wanted - known:
        raise NotFound(f"there is no contact {sorted(wanted - known)[0]}")
    policy = session.scalars(
        select(EscalationPolicy).where(EscalationPolicy.site == site)
    ).one_or_none()
    if policy is None:
        policy = EscalationPolicy(site=site)
        session.add(policy)
    policy.ack_timeout_s = ack_timeout_s
    policy.reminder_interval_s = reminder_interval_s
    policy.levels.clear()
    session.flush()
    for number, contact_ids in enumerate(levels, start=1):
        for contact_id in dict.fromkeys(contact_ids):
            policy.levels.append(PolicyLevel(level=number, contact_id=contact_id))
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="policy.changed",
        subject=f"policy:{site}",
        detail={
            "ack_timeout_s": ack_timeout_s,
            "reminder_interval_s": reminder_interval_s,
            "levels": [list(dict.fromkeys(level)) for level in levels],
        },
        sites=_sites(site),
    )
    return policy


def all_policies(session: Session) -> list[EscalationPolicy]:
    """Every site's policy, by site (`*` first: the one for sites without their own)."""
    return list(session.scalars(select(EscalationPolicy).order_by(EscalationPolicy.site)))


def levels_of(policy: EscalationPolicy) -> list[list[int]]:
    count = max((entry.level for entry in policy.levels), default=0)
    return [
        [entry.contact_id for entry in policy.levels if entry.level == number]
        for number in range(1, count + 1)
    ]


def delete_policy(session: Session, actor: str, site: str) -> None:
    policy = session.scalars(
        select(EscalationPolicy).where(EscalationPolicy.site == site)
    ).one_or_none()
    if policy is None:
        raise NotFound(f"there is no policy for site {site!r}")
    session.delete(policy)
    audit.append(
        session,
        actor=actor,
        action="policy.deleted",
        subject=f"policy:{site}",
        detail={},
        sites=_sites(site),
    )


def _sites(site: str) -> tuple[str, ...]:
    """The sites a policy's audit entry concerns: none for the hub's `*` policy."""
    return () if site == "*" else (site,)
