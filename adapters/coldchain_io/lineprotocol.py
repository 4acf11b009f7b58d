"""One InfluxDB line-protocol point from names and values: escaping done right, once.

Line protocol is what every InfluxDB generation accepts on `/write`. Tag keys and
values escape commas, spaces and equals signs; string fields escape quotes and
backslashes. Line breaks end a point, so in string fields they become spaces:
the copy in InfluxDB is for charts and annotations, the exact text stays in the
service that owns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAME_ESCAPES = str.maketrans(
    {",": r"\,", " ": r"\ ", "=": r"\=", "\\": "\\\\", "\n": " ", "\r": " "}
)
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": " ", "\r": " "})

Field = bool | int | float | str


def nanoseconds(at: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime, exact (no float rounding)."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def point(
    measurement: str,
    tags: Mapping[str, str | None],
    fields: Mapping[str, Field | None],
    at: datetime,
) -> str:
    """One line; tags and fields that are None or empty tags are left out.

    Integers are written as InfluxDB integers (`1i`), floats with `repr` (exact),
    booleans as `true`/`false`. At least one field must remain.
    """
    tag_text = "".join(
        f",{escape(key)}={escape(value)}" for key, value in sorted(tags.items()) if value
    )
    field_text = ",".join(
        f"{escape(key)}={_field(value)}" for key, value in fields.items() if value is not None
    )
    if not field_text:
        raise ValueError(f"a {measurement} point needs at least one field")
    return f"{escape(measurement)}{tag_text} {field_text} {nanoseconds(at)}"


def escape(name: str) -> str:
    """A measurement name, tag key or tag value (or field key) as line protocol writes it."""
    return name.translate(_NAME_ESCAPES)


def _field(value: Field) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.translate(_STRING_ESCAPES) + '"'
