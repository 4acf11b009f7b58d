"""Dependencies shared by the API routes: the database session and who is calling.

The API authenticates machines and scripts with `Authorization: Bearer <token>`
only, never with the pages' session cookie, so no other site can make a
logged-in browser call it (no CSRF on the API). Its routes are `TokenRoute`s:
a request without a valid token is refused before its body is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from coldchain_alerts.access import Access, access_of
from coldchain_alerts.auth import ACTING, AUDITING, Role, user_for_token
from coldchain_alerts.bodies import CLOSE, LimitedRoute
from coldchain_alerts.models import User
from coldchain_alerts.settings import AlertsSettings


class Problem(BaseModel):
    """What every error answer holds."""

    detail: str = Field(description="What was wrong and what to do, in English.")
    code: str | None = Field(
        default=None, description="For workflow errors: a stable name of the reason."
    )


class Refusal(BaseModel):
    """A 422: FastAPI's list of invalid fields, or one reason the service gives."""

    detail: str | list[dict[str, Any]]


#: Ids are database integers: larger numbers are refused (422) before any query.
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
#: A pattern for text that is stored or looked up: PostgreSQL cannot hold NUL (U+0000).
NO_NUL = r"^[^\x00]*$"
#: User names: lower-case letters, digits and . _ -, at most 64 characters.
USERNAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"


def _in_utc(at: datetime) -> datetime:
    try:
        return at.astimezone(UTC)
    except OverflowError:
        # An offset can carry a time at an end of the calendar out of it in UTC
        # (9999-12-31T23:59-00:01 is in the year 10000), where neither Python nor the
        # databases reach: it counts as that end.
        end = datetime.max if at.year == datetime.max.year else datetime.min
        return end.replace(tzinfo=UTC)


#: A time with an offset, as the UTC time it names; beyond the years 1-9999 in UTC, their end.
UtcTime = Annotated[AwareDatetime, AfterValidator(_in_utc)]

#: The error answers every API route may give besides its own.
ERRORS: dict[int | str, dict[str, object]] = {
    400: {"description": "The body is not JSON", "model": Problem},
    401: {"description": "No API token, or an unknown or revoked one", "model": Problem},
    403: {"description": "Your role may not do this", "model": Problem},
    413: {"description": "The body is larger than the service accepts", "model": Problem},
}


def single_valued_query(request: Request) -> None:
    """Refuse a query parameter given twice: which of the values was meant is unclear."""
    names = [name for name, _ in request.query_params.multi_items()]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        # The same answer as any other invalid parameter (422, FastAPI's error list).
        raise RequestValidationError(
            [
                {
                    "type": "repeated",
                    "loc": ("query", name),
                    "msg": "give this query parameter once",
                    "input": request.query_params.getlist(name),
                }
                for name in twice
            ]
        )


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def get_write_session(request: Request) -> Iterator[Session]:
    with request.app.state.writes() as session:
        yield session


def get_settings(request: Request) -> AlertsSettings:
    settings: AlertsSettings = request.app.state.service.settings
    return settings


SettingsDep = Annotated[AlertsSettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
WriteSessionDep = Annotated[Session, Depends(get_write_session)]
"""For routes that change something (see db.make_sessionmaker)."""

_bearer = HTTPBearer(
    auto_error=False,
    description="An API token: `coldchain-alerts token create USER` makes one.",
)


def api_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    return _caller(session, credentials)


def _caller(session: Session, credentials: HTTPAuthorizationCredentials | None) -> User:
    if credentials is None:
        raise HTTPException(
            401,
            "authentication required: send Authorization: Bearer <API token>",
            headers={"WWW-Authenticate": "Bearer"} | CLOSE,
        )
    user = user_for_token(session, credentials.credentials)
    if user is None:
        raise HTTPException(
            401,
            "this API token is unknown or revoked",
            headers={"WWW-Authenticate": "Bearer"} | CLOSE,
        )
    return user


class TokenRoute(LimitedRoute):
    """An API route: a request without a valid token is refused (401) before its body is
    read. `api_user` checks the token again in the route's own session."""

    async def admit(self, request: Request) -> None:
        credentials = await _bearer(request)
        await run_in_threadpool(self._check, request, credentials)

    @staticmethod
    def _check(request: Request, credentials: HTTPAuthorizationCredentials | None) -> None:
        with request.app.state.sessions() as session:
            _caller(session, credentials)


def api_access(session: SessionDep, user: Annotated[User, Depends(api_user)]) -> Access:
    """Who is calling and where they work (coldchain_alerts.access)."""
    return access_of(session, user)


def _requiring(
    roles: frozenset[Role], what: str, everywhere: bool = False
) -> Callable[[Access], Access]:
    """A caller with one of `roles` at some site; `everywhere`: a user of every site.

    Which site an object is at is the route's to check (`seen`, `acting_at`)."""

    def check(access: Annotated[Access, Depends(api_access)]) -> Access:
        if not access.roles() & roles:
            raise HTTPException(403, f"your role ({_roles(access)}) may not {what}")
        if everywhere and not access.everywhere:
            raise HTTPException(
                403, f"only a user of every site may {what}; you work at {_roles(access)}"
            )
        return access

    return check


def _roles(access: Access) -> str:
    if access.sites is None:
        return access.role.value
    return ", ".join(f"{site}: {role.value}" for site, role in sorted(access.sites.items()))


def missing(what: str) -> HTTPException:
    """The answer for an object of a site the caller does not see: as if it did not exist."""
    return HTTPException(404, f"there is no {what}")


def seen(access: Access, site: str, what: str) -> None:
    """Refuse (404) what is at a site the caller does not see."""
    if not access.sees(site):
        raise missing(what)


def acting_at(access: Access, site: str, what: str, roles: frozenset[Role] = ACTING) -> None:
    """Refuse a change at `site`: 404 if the caller does not see the site, 403 if their
    role there may not make it."""
    seen(access, site, what)
    role = access.role_at(site)
    if role not in roles:
        raise HTTPException(403, f"your role at {site} ({role}) may not change the {what}")


Me = Annotated[User, Depends(api_user)]
Reader = Annotated[Access, Depends(api_access)]
AuditReader = Annotated[Access, Depends(_requiring(AUDITING, "read the audit log"))]
ChainChecker = Annotated[
    Access,
    Depends(_requiring(AUDITING, "verify the whole audit chain", everywhere=True)),
]
Actor = Annotated[Access, Depends(_requiring(ACTING, "acknowledge or close alerts"))]
HubActor = Annotated[
    Access,
    Depends(_requiring(ACTING, "hand certificates to partners", everywhere=True)),
]
Admin = Annotated[
    Access,
    Depends(
        _requiring(frozenset({Role.ADMIN}), "change contacts, policies or users", everywhere=True)
    ),
]
GatewayAdmin = Annotated[
    Access, Depends(_requiring(frozenset({Role.ADMIN}), "register or retire gateways"))
]
FleetChanger = Annotated[
    Access, Depends(_requiring(ACTING, "change the fleet or approve changes to it"))
]
HubFleetChanger = Annotated[
    Access, Depends(_requiring(ACTING, "replace the whole fleet", everywhere=True))
]
CalibrationChecker = Annotated[Access, Depends(_requiring(ACTING, "enter calibration checks"))]
