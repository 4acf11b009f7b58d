"""One threshold and the excursion beyond it. Pure: readings in, steps out.

An excursion starts at the first reading beyond the level and ends at the first
reading back inside by the hysteresis band, so a value wobbling around the level
stays one excursion. It raises an alarm once it has lasted `delay_s` of reading
time. While a grace period suppresses it (door, defrost) it does not raise,
unless it has already lasted `delay_s + grace_cap_s`: a grace never hides a
failure that outlasts it.

`grace_at` says which graces hold at a reading and their cap; the rule engine
and the compliance reports both feed `advance` with it, so an alarm and a
report's excursion are the same excursion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from coldchain.contract import Severity
from coldchain.limits import Limits

#: The one level rule a door opening does not hold back (a defrost does).
ABSOLUTE_RULE = "over_absolute"


class Direction(StrEnum):
    ABOVE = "above"
    BELOW = "below"


class Episode(BaseModel):
    """The state of one excursion in progress (°C, UTC reading times, K·min)."""

    started_at: datetime
    peak_c: float
    degree_minutes: float = 0.0
    last_ts: datetime
    last_c: float
    raised_at: datetime | None = None

    def held_s(self, ts: datetime) -> float:
        return (ts - self.started_at).total_seconds()


class StepKind(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"
    ENDED_QUIET = "ended_quiet"
    """An excursion that ended before it raised an alarm: a record, not an alert."""


@dataclass(frozen=True)
class Threshold:
    """A level in °C that readings must not pass for longer than `delay_s`."""

    rule: str
    severity: Severity
    direction: Direction
    level_c: float
    delay_s: float
    hysteresis_k: float

    def beyond(self, value_c: float) -> bool:
        return (
            value_c > self.level_c if self.direction is Direction.ABOVE else value_c < self.level_c
        )

    def back_inside(self, value_c: float) -> bool:
        if self.direction is Direction.ABOVE:
            return value_c <= self.level_c - self.hysteresis_k
        return value_c >= self.level_c + self.hysteresis_k

    def excess_k(self, value_c: float) -> float:
        """How far beyond the level a value is, in K (0 when inside)."""
        if self.direction is Direction.ABOVE:
            return max(0.0, value_c - self.level_c)
        return max(0.0, self.level_c - value_c)

    def worse(self, a_c: float, b_c: float) -> float:
        return max(a_c, b_c) if self.direction is Direction.ABOVE else min(a_c, b_c)


@dataclass(frozen=True)
class Step:
    """What one reading did to an excursion; `episode` is its state after the reading."""

    kind: StepKind
    threshold: Threshold
    episode: Episode
    at: datetime
    value_c: float


def advance(
    threshold: Threshold,
    episode: Episode | None,
    ts: datetime,
    value_c: float,
    suppressed: bool,
    grace_cap_s: float,
) -> tuple[Episode | None, Step | None]:
    """Feed one reading (UTC, °C) newer than the last; returns the new state and its step."""
    if episode is None:
        if not threshold.beyond(value_c):
            return None, None
        episode = Episode(started_at=ts, peak_c=value_c, last_ts=ts, last_c=value_c)
    else:
        minutes = (ts - episode.last_ts).total_seconds() / 60.0
        episode.degree_minutes += threshold.excess_k(episode.last_c) * minutes
        episode.peak_c = threshold.worse(episode.peak_c, value_c)
        episode.last_ts, episode.last_c = ts, value_c
        if threshold.back_inside(value_c):
            kind = StepKind.CLEARED if episode.raised_at else StepKind.ENDED_QUIET
            return None, Step(kind, threshold, episode, ts, value_c)
    if episode.raised_at is None and _due(threshold, episode, ts, suppressed, grace_cap_s):
        episode.raised_at = ts
        return episode, Step(StepKind.RAISED, threshold, episode.model_copy(), ts, value_c)
    return episode, None


def _due(
    threshold: Threshold, episode: Episode, ts: datetime, suppressed: bool, grace_cap_s: float
) -> bool:
    held = episode.held_s(ts)
    if held < threshold.delay_s:
        return False
    return not suppressed or held >= threshold.delay_s + grace_cap_s


@dataclass(frozen=True, slots=True)
class Grace:
    """The graces in force at a reading: after a door opening, during a defrost.

    `cap_s` is the longest grace in force (s): an excursion that has lasted its
    delay plus `cap_s` raises even while a grace holds.
    """

    door: bool
    defrost: bool
    cap_s: float

    def suppresses(self, threshold: Threshold) -> bool:
        """Whether the graces hold this level back: a defrost every level, a door
        opening all but the absolute one."""
        if threshold.rule == ABSOLUTE_RULE:
            return self.defrost
        return self.door or self.defrost


def grace_at(
    limits: Limits,
    timezone: str,
    ts: datetime,
    door_grace_until: datetime | None,
    defrost_grace_until: datetime | None,
) -> Grace:
    """The graces at reading time `ts` (UTC): a door grace or defrost grace (from
    events) until the given times (exclusive), or a scheduled defrost of `limits`
    in the site's zone `timezone`."""
    door = door_grace_until is not None and ts < door_grace_until
    defrost = (defrost_grace_until is not None and ts < defrost_grace_until) or scheduled_defrost(
        limits, timezone, ts
    )
    cap_s = max(limits.door_grace_s if door else 0.0, limits.defrost_grace_s if defrost else 0.0)
    return Grace(door, defrost, cap_s)


def grace_until(current: datetime | None, ts: datetime, grace_s: float) -> datetime:
    """The end of the graces after a door opening or defrost start at `ts` lasting
    `grace_s`, given the end of those already in force (`current`)."""
    until = ts + timedelta(seconds=grace_s)
    return until if current is None else max(current, until)


def scheduled_defrost(limits: Limits, timezone: str, ts: datetime) -> bool:
    """Whether `ts` (UTC) falls in a scheduled defrost's grace, in the site's local time."""
    if not limits.defrost_schedule:
        return False
    zone = ZoneInfo(timezone)
    today = ts.astimezone(zone).date()
    for window in limits.defrost_schedule:
        grace = timedelta(seconds=max(window.duration_s, limits.defrost_grace_s))
        for day in (today - timedelta(days=1), today):
            # In UTC: arithmetic on local times is wall-clock, wrong across a DST change.
            start = datetime.combine(day, window.start, tzinfo=zone).astimezone(UTC)
            if start <= ts < start + grace:
                return True
    return False
