"""The languages people read coldchain in: German for the hub's staff, English beside it."""

from __future__ import annotations

from typing import Literal

Language = Literal["de", "en"]
LANGUAGES: tuple[Language, ...] = ("de", "en")
