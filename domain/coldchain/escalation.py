"""Who is told about an alert, and when: escalation and reminders, as pure functions.

A site's escalation policy lists levels of contacts. An open alert is told to
level 1; if nobody acknowledges it within the policy's time, level 2 is told,
and so on; while it stays unacknowledged, every level told so far is reminded
at the policy's interval. Acknowledging stops all of it. Times are the alerts
service's clock (UTC), not reading times: they are about people reacting.

Warnings are told to level 1 once, without escalation or reminders: they ask
for attention, not for waking a second person. A level none of whose messages
got through counts as not told: the next level is due at once.

A flood (one power cut making twenty sensors alarm) is one message per site and
level: whatever falls due within `window` of a run is sent together, and a new
alert waits `window` before its first message so that the rest of the flood can
join it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from coldchain.contract import Severity


class Reason(StrEnum):
    """Why people are told now."""

    NEW = "new"
    """An alert opened (or an acknowledged one fired again or got worse): level 1."""
    ESCALATION = "escalation"
    """Nobody acknowledged within the policy's time: the next level is told."""
    REMINDER = "reminder"
    """Still not acknowledged: a level already told is told again."""


@dataclass(frozen=True)
class Policy:
    """How one site escalates: `levels` levels of contacts (at least one)."""

    levels: int
    ack_timeout: timedelta
    """How long a level has to acknowledge before the next one is told."""
    reminder_interval: timedelta | None
    """How often the levels told so far are told again; None for never."""


@dataclass(frozen=True)
class Progress:
    """How far one alert's escalation has got since it (last) became open."""

    alert_id: int
    severity: Severity
    waiting: bool
    """Open and unacknowledged: escalation runs only while this holds."""
    since: datetime
    """When it became open (first, or again after firing again or getting worse)."""
    level: int = 0
    """The highest level told since `since`; 0 before the first message."""
    level_at: datetime | None = None
    """When `level` was told."""
    level_ok: bool = False
    """At least one message to `level` got through."""
    told_at: datetime | None = None
    """When any level was last told (first message, escalation or reminder)."""


@dataclass(frozen=True)
class Step:
    """The next thing to tell about one alert: `levels` for `reason`, at `due`."""

    alert_id: int
    reason: Reason
    levels: tuple[int, ...]
    due: datetime


def next_step(progress: Progress, policy: Policy, window: timedelta) -> Step | None:
    """The next message `progress` needs under `policy`, or None while nothing is due."""
    if not progress.waiting:
        return None
    if progress.level == 0:
        return Step(progress.alert_id, Reason.NEW, (1,), progress.since + window)
    if progress.severity is not Severity.CRITICAL:
        return None
    assert progress.level_at is not None and progress.told_at is not None
    steps = []
    if progress.level < policy.levels:
        wait = policy.ack_timeout if progress.level_ok else timedelta(0)
        steps.append(
            Step(
                progress.alert_id,
                Reason.ESCALATION,
                (progress.level + 1,),
                progress.level_at + wait,
            )
        )
    if policy.reminder_interval is not None:
        steps.append(
            Step(
                progress.alert_id,
                Reason.REMINDER,
                tuple(range(1, progress.level + 1)),
                progress.told_at + policy.reminder_interval,
            )
        )
    return min(steps, key=lambda step: step.due, default=None)


def told(progress: Progress, step: Step, at: datetime, got_through: bool) -> Progress:
    """`progress` after `step` was sent at `at`; `got_through`: a message to its level arrived."""
    if step.reason is Reason.REMINDER:
        return replace(progress, told_at=at)
    return replace(progress, level=max(step.levels), level_at=at, level_ok=got_through, told_at=at)


@dataclass(frozen=True)
class Plan:
    """What one run for a site sends now, and when the next run is due."""

    sends: dict[tuple[int, Reason], list[Step]]
    """The steps to send now, grouped into one message per level and reason."""
    next_run: datetime | None


def plan(progresses: Iterable[Progress], policy: Policy, now: datetime, window: timedelta) -> Plan:
    """What is due at `now`, with whatever falls due within `window` after it.

    Steps due within the window are pulled forward when something is due already,
    so that a flood goes out as one message per level and reason. When nothing is
    due, nothing is sent and `next_run` says when something will be; after
    sending, the caller asks again (steps that follow the ones sent are due later).
    """
    steps = [
        step for progress in progresses if (step := next_step(progress, policy, window)) is not None
    ]
    if not any(step.due <= now for step in steps):
        return Plan({}, min((step.due for step in steps), default=None))
    sends: dict[tuple[int, Reason], list[Step]] = {}
    later: list[datetime] = []
    for step in steps:
        if step.due <= now + window:
            for level in step.levels:
                sends.setdefault((level, step.reason), []).append(step)
        else:
            later.append(step.due)
    return Plan(sends, min(later, default=None))
