"""The people file: who works at which sites, for the dashboards.

The alerts service knows its users and their sites (`coldchain-alerts user export
--format grafana FILE` writes this file); `coldchain-dashboards publish --people FILE`
reads it and puts each person into the Grafana team of each of their sites. The format
lives here, in the shared domain, so that neither deployable imports the other.
"""

from __future__ import annotations

from typing import Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coldchain.contract import Id
from coldchain.errors import ColdchainError

FORMAT: Final = "coldchain-people/1"


class PeopleFileError(ColdchainError, ValueError):
    """The people file cannot be read: not JSON, not this format, or inconsistent."""


class Person(BaseModel):
    """One person who logs in; `login` is their name in the alerts service and in Grafana."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    login: str = Field(min_length=1, max_length=64)
    email: str | None = Field(
        default=None, description="Matched in Grafana when no user has the login."
    )
    name: str = ""
    sites: tuple[Id, ...] | None = Field(
        min_length=1, description="The sites the person works at; null: every site."
    )


class PeopleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["coldchain-people/1"] = "coldchain-people/1"
    people: tuple[Person, ...]

    @model_validator(mode="after")
    def _one_entry_per_login(self) -> Self:
        logins = [person.login for person in self.people]
        twice = sorted({login for login in logins if logins.count(login) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return self

    @classmethod
    def from_json(cls, text: str) -> PeopleFile:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise PeopleFileError(
                f"not a people file ({FORMAT}): {exc}; write it with "
                "`coldchain-alerts user export --format grafana FILE`"
            ) from None

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"
