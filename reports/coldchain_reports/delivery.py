"""What a delivery certificate states about the delivery itself, from a small delivery file.

The readings, limits, vehicle and sender come from InfluxDB and the fleet file; what
only the dispatcher knows comes from one YAML (or JSON) file per delivery, given with
`coldchain-report certificate --delivery FILE`:

    delivery_note: LS-2025-10-25-0317
    tour: Tour Nord, Stopp 3
    goods:
      - {description: Putenbrust frisch, lot: L-251025-07, quantity: 24 kg}
    receiver: {name: Betriebskantine Mengede, address: Mengeder Markt 1, 44359 Dortmund}
    responsible: {name: Sabine Keller, role: Fahrerin}

A receiving kitchen and an inspector must be able to trace the goods, so the file needs
the goods, the receiver and the responsible person with full name and role, and either
a delivery note number or a lot for every item. docs/compliance.md describes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from coldchain_reports.errors import InvalidInput

#: A delivery file describes one delivery: a few hundred bytes, never megabytes.
MAX_FILE_BYTES = 64 * 1024
MAX_ITEMS = 100

#: One line of text as it is printed: no control characters, at most 200 characters.
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    Field(pattern=r"^[^\x00-\x1f\x7f]+$"),
]


def _full(name: str) -> str:
    if len(name.split()) < 2:
        raise ValueError("give the full name (given and family name)")
    return name


#: A person's full name: given and family name at least, as an inspector asks for.
FullName = Annotated[Text, AfterValidator(_full)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Item(_Model):
    """Goods of one kind, with their lot when known."""

    description: Text
    lot: Text | None = None
    quantity: Text | None = None


class Party(_Model):
    name: Text
    address: Text | None = None


class Person(_Model):
    """Who answers for the delivery: driver, dispatcher or shift lead."""

    name: FullName
    role: Text


class Delivery(_Model):
    delivery_note: Text | None = None
    """The delivery note's (Lieferschein's) number."""
    tour: Text | None = None
    goods: list[Item] = Field(min_length=1, max_length=MAX_ITEMS)
    receiver: Party
    responsible: Person

    @model_validator(mode="after")
    def _traceable(self) -> Self:
        if self.delivery_note is None and any(item.lot is None for item in self.goods):
            raise ValueError(
                "give the delivery note's number (delivery_note) or a lot for every item "
                "of goods: without either the goods cannot be traced"
            )
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def load(path: Path) -> Delivery:
    """The delivery described by a YAML or JSON file; raises InvalidInput naming each
    field that is missing or wrong."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read the delivery file {path} ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(
            f"the delivery file {path} is larger than {MAX_FILE_BYTES // 1024} KiB; "
            "it describes one delivery"
        )
    try:
        parsed = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"the delivery file {path} is not YAML or JSON: {exc}") from None
    return parse(parsed, f"the delivery file {path}")


def parse(data: Any, where: str) -> Delivery:
    """A delivery from plain data (a delivery file's or a certificate's `delivery`)."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{where} does not describe a delivery: {_EXAMPLE}")
    try:
        return Delivery.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(error) for error in exc.errors())
        raise InvalidInput(f"{where} is not valid: {problems}") from None


_EXAMPLE = (
    "expected delivery_note, goods (description, lot, quantity), receiver (name, address) "
    "and responsible (name, role), as docs/compliance.md shows"
)


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error["loc"])
    if error["type"] == "string_pattern_mismatch":
        message = "one line of text without control characters"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
