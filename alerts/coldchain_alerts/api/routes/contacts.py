"""/api/v1/contacts: who is told. Reading needs any role (a user of some sites reads the
contacts on their sites' policies); changing needs an admin of every site."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy import select

from coldchain_alerts import people
from coldchain_alerts.api.deps import (
    ERRORS,
    NO_NUL,
    Admin,
    Id,
    Problem,
    Reader,
    SessionDep,
    TokenRoute,
    WriteSessionDep,
)
from coldchain_alerts.models import MAX_URL, Contact, EscalationPolicy, PolicyLevel

router = APIRouter(
    prefix="/api/v1/contacts", tags=["contacts"], responses=ERRORS, route_class=TokenRoute
)


#: An address with one @ and a dot after it, without spaces or control characters
#: (spelled out: `\s` means different things to JSON Schema and to pydantic).
EMAIL = r"^[^@\x00-\x20\x7f-\x9f]+@[^@\x00-\x20\x7f-\x9f]+\.[^@\x00-\x20\x7f-\x9f]+$"


def _storable(url: HttpUrl) -> HttpUrl:
    # A URL is stored as written out, with its host in punycode and its path percent-encoded:
    # that can be many times as long as what was sent.
    if len(str(url)) > MAX_URL:
        raise ValueError(f"is {len(str(url))} characters long written out; at most {MAX_URL}")
    return url


class ContactIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    language: Literal["de", "en"] = "de"
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL)
    phone: str | None = Field(
        default=None, pattern=r"^\+[1-9][0-9]{6,14}$", description="International, +49..."
    )
    ntfy_topic: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    webhook_url: Annotated[HttpUrl, AfterValidator(_storable)] | None = None
    active: bool = True


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    language: str
    email: str | None
    phone: str | None
    ntfy_topic: str | None
    webhook_url: str | None
    active: bool


def _values(body: ContactIn) -> dict[str, object]:
    values = body.model_dump()
    values["webhook_url"] = str(body.webhook_url) if body.webhook_url else None
    return values


@router.get("", response_model=list[ContactOut])
def list_contacts(session: SessionDep, user: Reader) -> list[Contact]:
    query = select(Contact).order_by(Contact.name)
    sites = user.visible()
    if sites is not None:
        told = select(PolicyLevel.contact_id).join(EscalationPolicy)
        query = query.where(Contact.id.in_(told.where(EscalationPolicy.site.in_(sites))))
    return list(session.scalars(query))


@router.post("", response_model=ContactOut, status_code=201, responses={409: {"model": Problem}})
def create_contact(body: ContactIn, session: WriteSessionDep, user: Admin) -> Contact:
    contact = people.save_contact(session, user.username, _values(body))
    session.commit()
    return contact


@router.put(
    "/{contact_id}",
    response_model=ContactOut,
    responses={404: {"model": Problem}, 409: {"model": Problem}},
)
def change_contact(
    contact_id: Id, body: ContactIn, session: WriteSessionDep, user: Admin
) -> Contact:
    contact = people.save_contact(session, user.username, _values(body), contact_id)
    session.commit()
    return contact
