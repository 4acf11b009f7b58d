"""A seal: whose readings, which time range, and their SHA-256 digest.

Reports print it, certificates carry it in their JSON and their QR code, and
`coldchain-report verify` reads the readings again and recomputes the digest.
Its text form is compact JSON with one-letter keys, so it fits a small QR code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from coldchain import compliance
from coldchain.compliance import Sample
from coldchain.signatures import parse_utc, utc_text
from coldchain_reports.errors import InvalidInput

VERSION = 1
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Seal:
    """Digest of the readings of `sensor` watching `asset` with start <= ts < end (UTC)."""

    asset: str
    sensor: str
    start: datetime
    end: datetime
    digest: str

    @classmethod
    def over(
        cls, asset: str, sensor: str, start: datetime, end: datetime, samples: Sequence[Sample]
    ) -> Seal:
        """The seal of those `samples` with start <= ts < end; readings read around the
        period (for the compliance numbers) are left out."""
        inside = [sample for sample in samples if start <= sample.ts < end]
        return cls(asset, sensor, start, end, compliance.digest(inside, sensor))

    def text(self, wrapped: bool = False) -> str:
        """Compact JSON; `wrapped` breaks it into three lines (still JSON) for printing."""
        fields = {
            "v": VERSION,
            "a": self.asset,
            "s": self.sensor,
            "f": utc_text(self.start),
            "t": utc_text(self.end),
            "d": self.digest,
        }
        if not wrapped:
            return json.dumps(fields, separators=(",", ":"))
        pairs = [f"{json.dumps(key)}:{json.dumps(value)}" for key, value in fields.items()]
        return "{" + ",".join(pairs[:3]) + ",\n" + ",".join(pairs[3:5]) + ",\n" + pairs[5] + "}"

    @classmethod
    def parse(cls, text: str) -> Seal:
        """Read a seal's text form; raises InvalidInput saying what is missing."""
        try:
            fields = json.loads(text)
            if fields.get("v") != VERSION:
                raise InvalidInput(f"seal version {fields.get('v')!r} is not {VERSION}")
            seal = cls(
                asset=str(fields["a"]),
                sensor=str(fields["s"]),
                start=parse_utc(str(fields["f"])),
                end=parse_utc(str(fields["t"])),
                digest=str(fields["d"]),
            )
        except (ValueError, KeyError, AttributeError) as exc:
            raise InvalidInput(
                f"not a seal ({exc}); expected what the certificate's QR code holds, as "
                '{"v":1,"a":ASSET,"s":SENSOR,"f":FROM,"t":TO,"d":SHA256}'
            ) from None
        if not _HEX64.match(seal.digest):
            raise InvalidInput(f"the seal's digest {seal.digest!r} is not 64 hex digits")
        return seal
