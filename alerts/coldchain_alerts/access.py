"""Who may see and change what, site by site: the one place every route and page asks.

A user without sites (`user_site` rows) works at every site with their role, as before
sites were scoped. A user with sites works at those only, with the role given for each:
they see and change only those sites' alerts, fleet, gateways and policies. What belongs
to no one site (users and tokens, contacts, the `*` policy, partners' deliveries, a whole
fleet imported at once) is for users of every site only. API tokens act for their user.

Another site's object is answered as one that does not exist (404), never as forbidden
(403), which would say that it exists. docs/security.md explains the model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.contract import ID_PATTERN
from coldchain_alerts import audit
from coldchain_alerts.auth import ACTING, AUDITING, Role
from coldchain_alerts.models import User, UserSite


@dataclass(frozen=True)
class Access:
    """What one user may do: their role everywhere, or their role at each of their sites."""

    username: str
    role: Role
    """The role at every site; not used when `sites` is set."""
    sites: Mapping[str, Role] | None
    """The user's sites and their role at each; None: every site, with `role`."""

    @property
    def everywhere(self) -> bool:
        return self.sites is None

    def role_at(self, site: str) -> Role | None:
        """The role at `site`; None: the user does not see the site at all."""
        return self.role if self.sites is None else self.sites.get(site)

    def sees(self, site: str) -> bool:
        return self.role_at(site) is not None

    def acts_at(self, site: str) -> bool:
        return self.role_at(site) in ACTING

    def is_admin_at(self, site: str) -> bool:
        return self.role_at(site) is Role.ADMIN

    def roles(self) -> frozenset[Role]:
        """Every role the user has somewhere."""
        return frozenset({self.role} if self.sites is None else self.sites.values())

    def visible(self) -> frozenset[str] | None:
        """The sites the user sees; None: every site."""
        return None if self.sites is None else frozenset(self.sites)

    def audited(self) -> frozenset[str] | None:
        """The sites whose audit entries the user reads (where their role reads the log);
        None: every entry (a user of every site)."""
        if self.sites is None:
            return None
        return frozenset(site for site, role in self.sites.items() if role in AUDITING)


def access_of(session: Session, user: User) -> Access:
    rows = session.scalars(select(UserSite).where(UserSite.user_id == user.id)).all()
    sites = {row.site: Role(row.role) for row in rows} or None
    return Access(user.username, Role(user.role), sites)


def set_sites(session: Session, actor: str, user: User, sites: Mapping[str, Role]) -> None:
    """Give `user` exactly these sites and roles; none: every site with the user's role.

    One audit entry (`user.sites_changed`) names the sites before and after."""
    for site in sites:
        if not re.fullmatch(ID_PATTERN, site):
            raise ValueError(f"{site!r} is not a site id: lower-case letters, digits and -")
    rows = session.scalars(select(UserSite).where(UserSite.user_id == user.id)).all()
    before = {row.site: row.role for row in rows}
    after = {site: Role(role).value for site, role in sites.items()}
    if before == after:
        return
    for row in rows:
        session.delete(row)
    session.flush()
    session.add_all(UserSite(user_id=user.id, site=site, role=role) for site, role in after.items())
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="user.sites_changed",
        subject=f"user:{user.username}",
        detail={"before": before or "every site", "after": after or "every site"},
    )
