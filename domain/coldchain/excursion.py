"""One threshold and the excursion beyond it. Pure: readings in, steps out.

An excursion starts at the first reading beyond the level and ends at the first
reading back inside by the hysteresis band, so a value wobbling around the level
stays one excursion. It raises an alarm once it has lasted `delay_s` of reading
time. While a grace period suppresses it (door, defrost) it does not raise,
unless it has already lasted `delay_s + grace_cap_s`: a grace never hides a
failure that outlasts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from coldchain.contract import Severity


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
