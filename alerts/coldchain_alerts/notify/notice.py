"""What a notification says, to whom, and what became of it: plain data, no I/O.

The escalation code decides *that* people are told and groups a flood of alerts
into one `Notice` per site and escalation level; the channels (e-mail, webhook,
ntfy, SMS) decide *how*. This module is the cut between the two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from coldchain.escalation import Reason as Reason
from coldchain.languages import Language


@dataclass(frozen=True)
class AlertLine:
    """One alert as a notification shows it. Times are UTC; temperatures °C."""

    alert_id: int
    site: str
    asset: str | None
    sensor: str | None
    gateway: str | None
    rule: str
    """The engine's rule, e.g. `over_max`, `no_data` (docs/rules.md)."""
    severity: Literal["warning", "critical"]
    active: bool
    """The condition is still present (not cleared)."""
    since: datetime
    """Reading time the condition began."""
    cleared_at: datetime | None
    value_c: float | None
    """The latest reading the rules reported (°C): the current value while present."""
    limit_c: float | None
    link: str
    """Absolute URL of the alert's page."""
    asset_names: Mapping[Language, str] = field(default_factory=dict)
    """The asset's name per language, from the fleet file; the id when missing."""
    value_at: datetime | None = None
    """Reading time of `value_c`."""
    peak_c: float | None = None
    """The most extreme value so far: the highest above a limit, the lowest below one."""
    duration_s: float | None = None
    """How long the condition has lasted, in reading time: to the latest reading while
    present, to its clearing after. None: counted to `cleared_at`, else to the notice's
    `now` (a condition no reading updates, such as a gateway offline)."""


@dataclass(frozen=True)
class Notice:
    """One message to the contacts of one escalation level of one site."""

    site: str
    level: int
    """1 for the first level of the site's escalation policy."""
    reason: Reason
    alerts: tuple[AlertLine, ...]
    now: datetime
    """When the notice is made (UTC): "as of", and "how long" for an alert without
    `duration_s`."""
    site_name: str | None = None
    """The site's name from the fleet file; the id when missing."""


@dataclass(frozen=True)
class Recipient:
    """A contact and the addresses it has; every address set is used."""

    name: str
    language: Language
    email: str | None = None
    phone: str | None = None
    """For SMS, in international format (+49...)."""
    ntfy_topic: str | None = None
    webhook_url: str | None = None


@dataclass(frozen=True)
class Delivery:
    """The outcome of sending one notice over one channel to one address."""

    channel: Literal["email", "webhook", "ntfy", "sms"]
    address: str
    ok: bool
    error: str | None = None
    """Why it failed, in words an admin can act on; None when ok."""
