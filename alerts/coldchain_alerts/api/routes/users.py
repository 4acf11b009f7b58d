"""/api/v1/users and their API tokens. Admins of every site only, except /api/v1/me."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.contract import ID_PATTERN
from coldchain_alerts import access, people
from coldchain_alerts.access import access_of
from coldchain_alerts.api.deps import (
    ERRORS,
    NO_NUL,
    USERNAME,
    Admin,
    Id,
    Me,
    Problem,
    SessionDep,
    TokenRoute,
    WriteSessionDep,
)
from coldchain_alerts.auth import MIN_PASSWORD, Role
from coldchain_alerts.models import User

router = APIRouter(prefix="/api/v1", tags=["users"], responses=ERRORS, route_class=TokenRoute)
Username = Field(pattern=USERNAME)
#: A user named in the path: a name that cannot exist is refused (422) before any query.
UsernamePath = Annotated[str, Path(pattern=USERNAME)]


class SiteRole(BaseModel):
    """A site a user works at, and the role there."""

    model_config = ConfigDict(extra="forbid")

    site: str = Field(pattern=ID_PATTERN)
    role: Role


Sites = Annotated[
    list[SiteRole] | None,
    Field(
        min_length=1,
        max_length=1000,
        description="The user's sites and the role at each; null: every site, with `role`.",
    ),
]


def _by_site(sites: list[SiteRole] | None) -> dict[str, Role]:
    """The sites as a mapping; a site given twice with two roles is refused (409)."""
    found = {entry.site: entry.role for entry in sites or []}
    if len(found) != len({(entry.site, entry.role) for entry in sites or []}):
        raise people.Conflict("a site is given with two roles: give each site one role")
    return found


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    display_name: str
    role: Role
    language: str
    active: bool
    sites: Sites


class SitesIn(BaseModel):
    sites: Sites


class UserIn(BaseModel):
    username: str = Username
    display_name: str = Field(default="", max_length=200, pattern=NO_NUL)
    role: Role
    language: Literal["de", "en"] = "de"
    password: str | None = Field(
        default=None, min_length=MIN_PASSWORD, max_length=1000, description="None: tokens only."
    )
    sites: Sites = None


class UserChange(BaseModel):
    display_name: str | None = Field(default=None, max_length=200, pattern=NO_NUL)
    role: Role | None = None
    language: Literal["de", "en"] | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=MIN_PASSWORD, max_length=1000)


class TokenIn(BaseModel):
    name: str = Field(
        min_length=1, max_length=100, pattern=NO_NUL, description="What the token is for."
    )


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    token: str = Field(description="Shown this once; only its hash is kept.")


def _out(session: Session, user: User) -> UserOut:
    sites = access_of(session, user).sites
    return UserOut(
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        language=user.language,
        active=user.active,
        sites=None
        if sites is None
        else [SiteRole(site=site, role=role) for site, role in sorted(sites.items())],
    )


@router.get("/me", response_model=UserOut)
def me(session: SessionDep, user: Me) -> UserOut:
    return _out(session, user)


@router.get("/users", response_model=list[UserOut])
def list_users(session: SessionDep, user: Admin) -> list[UserOut]:
    return [_out(session, row) for row in session.scalars(select(User).order_by(User.username))]


@router.post(
    "/users",
    response_model=UserOut,
    status_code=201,
    responses={409: {"model": Problem}},
)
def create_user(body: UserIn, session: WriteSessionDep, user: Admin) -> UserOut:
    created = people.add_user(
        session,
        user.username,
        body.username,
        body.role,
        body.password,
        body.display_name,
        body.language,
        _by_site(body.sites),
    )
    session.commit()
    return _out(session, created)


@router.patch("/users/{username}", response_model=UserOut, responses={404: {"model": Problem}})
def change_user(
    username: UsernamePath, body: UserChange, session: WriteSessionDep, user: Admin
) -> UserOut:
    changed = people.change_user(session, user.username, username, **body.model_dump())
    session.commit()
    return _out(session, changed)


@router.put(
    "/users/{username}/sites",
    response_model=UserOut,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
def set_sites(
    username: UsernamePath, body: SitesIn, session: WriteSessionDep, user: Admin
) -> UserOut:
    """The user's sites and role at each, replacing those before; null: every site."""
    changed = people.get_user(session, username)
    access.set_sites(session, user.username, changed, _by_site(body.sites))
    session.commit()
    return _out(session, changed)


@router.post(
    "/users/{username}/tokens",
    response_model=TokenOut,
    status_code=201,
    responses={404: {"model": Problem}},
)
def create_token(
    username: UsernamePath, body: TokenIn, session: WriteSessionDep, user: Admin
) -> TokenOut:
    row, token = people.add_token(session, user.username, username, body.name)
    session.commit()
    return TokenOut(id=row.id, name=row.name, created_at=row.created_at, token=token)


@router.delete("/tokens/{token_id}", status_code=204, responses={404: {"model": Problem}})
def revoke_token(token_id: Id, session: WriteSessionDep, user: Admin) -> None:
    people.revoke_token(session, user.username, token_id)
    session.commit()
