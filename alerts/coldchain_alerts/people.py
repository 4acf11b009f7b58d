"""Users, their API tokens, and contacts: created and changed with an audit entry each."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.peoplefile import PeopleFile, Person
from coldchain_alerts import access, audit
from coldchain_alerts.auth import Role, hash_password, new_token
from coldchain_alerts.models import ApiToken, Contact, User


class Conflict(ValueError):
    """The name is taken, or the change would leave something inconsistent."""


class NotFound(LookupError):
    pass


def add_user(
    session: Session,
    actor: str,
    username: str,
    role: Role,
    password: str | None,
    display_name: str = "",
    language: str = "de",
    sites: Mapping[str, Role] | None = None,
) -> User:
    """A new user; with `sites`, one who works at those sites only (coldchain_alerts.access)."""
    if session.scalars(select(User).where(User.username == username)).one_or_none():
        raise Conflict(f"a user named {username!r} exists already")
    user = User(
        username=username,
        display_name=display_name or username,
        role=role.value,
        language=language,
        password_hash=hash_password(password) if password else None,
        active=True,
        created_at=datetime.now(UTC),
    )
    session.add(user)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="user.created",
        subject=f"user:{username}",
        detail={"role": role.value, "display_name": user.display_name, "language": language},
    )
    if sites:
        access.set_sites(session, actor, user, sites)
    return user


def change_user(session: Session, actor: str, username: str, **changes: Any) -> User:
    """Change role, display_name, language, active or password (hashed here)."""
    user = get_user(session, username)
    recorded = {}
    for name, value in changes.items():
        if value is None:
            continue
        if name == "password":
            user.password_hash = hash_password(value)
            recorded[name] = "changed"
        elif name == "role":
            user.role = Role(value).value
            recorded[name] = user.role
        else:
            setattr(user, name, value)
            recorded[name] = value
    audit.append(
        session, actor=actor, action="user.changed", subject=f"user:{username}", detail=recorded
    )
    return user


def get_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:
        raise NotFound(f"there is no user named {username!r}")
    return user


def people_file(session: Session) -> PeopleFile:
    """Who logs in and at which sites, for the dashboards' Grafana teams
    (coldchain.peoplefile): active users with a password, not machine accounts. The
    service keeps no e-mail address of its users, so `email` stays empty."""
    users = session.scalars(
        select(User).where(User.active, User.password_hash.is_not(None)).order_by(User.username)
    )
    listed = []
    for user in users:
        sites = access.access_of(session, user).visible()
        listed.append(
            Person(
                login=user.username,
                name=user.display_name,
                sites=None if sites is None else tuple(sorted(sites)),
            )
        )
    return PeopleFile(people=tuple(listed))


def add_token(session: Session, actor: str, username: str, name: str) -> tuple[ApiToken, str]:
    """A new token for `username`; the token itself is returned once and never stored."""
    user = get_user(session, username)
    token, digest = new_token()
    row = ApiToken(user=user, name=name, token_sha256=digest, created_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="token.created",
        subject=f"user:{username}",
        detail={"token_id": row.id, "name": name},
    )
    return row, token


def tokens(session: Session, username: str | None = None) -> list[ApiToken]:
    """The API tokens of `username` (of everyone when None), oldest first, revoked ones
    too; never the tokens themselves, which are not kept."""
    query = select(ApiToken).order_by(ApiToken.id)
    if username is not None:
        query = query.where(ApiToken.user_id == get_user(session, username).id)
    return list(session.scalars(query))


def revoke_token(session: Session, actor: str, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"there is no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        audit.append(
            session,
            actor=actor,
            action="token.revoked",
            subject=f"user:{row.user.username}",
            detail={"token_id": row.id, "name": row.name},
        )
    return row


CONTACT_FIELDS = ("name", "language", "email", "phone", "ntfy_topic", "webhook_url", "active")


def contacts(session: Session) -> list[Contact]:
    """Every contact, by name."""
    return list(session.scalars(select(Contact).order_by(Contact.name)))


def save_contact(
    session: Session, actor: str, values: dict[str, Any], contact_id: int | None = None
) -> Contact:
    """Create a contact, or change the one with `contact_id`."""
    clash = session.scalars(select(Contact).where(Contact.name == values["name"])).one_or_none()
    if clash is not None and clash.id != contact_id:
        raise Conflict(f"a contact named {values['name']!r} exists already")
    if contact_id is None:
        contact = Contact()
        session.add(contact)
        action = "contact.created"
    else:
        found = session.get(Contact, contact_id)
        if found is None:
            raise NotFound(f"there is no contact {contact_id}")
        contact, action = found, "contact.changed"
    for name in CONTACT_FIELDS:
        if name in values:
            setattr(contact, name, values[name])
    session.flush()
    audit.append(
        session,
        actor=actor,
        action=action,
        subject=f"contact:{contact.id}",
        detail={name: getattr(contact, name) for name in CONTACT_FIELDS},
    )
    return contact
