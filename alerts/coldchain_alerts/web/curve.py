"""The temperature curve around an alert as an inline SVG: pure, no JavaScript needed."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import TypeGuard
from zoneinfo import ZoneInfo

WIDTH, HEIGHT = 640, 260
#: Room around the plot: the °C labels on the left, the unit above them, the times below.
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 30, 30
#: Half the width of a time label at the largest font the style sheet gives (22 units).
EDGE = 36


@dataclass(frozen=True)
class Curve:
    points: Sequence[tuple[datetime, float]]
    """(UTC time, °C), oldest first."""
    start: datetime
    end: datetime
    limit_c: float | None
    regulatory_c: float | None
    began: datetime
    """When the condition began: shaded from here to `cleared` (or the end)."""
    cleared: datetime | None


def svg(curve: Curve, tz: ZoneInfo, label: str, decimal: str = ".", description: str = "") -> str:
    """An SVG of the curve with its °C axis, its limits and the excursion shaded and marked
    where it began; `label` and `description` for screen readers (and tests).

    Numbers are written with `decimal` as the decimal mark ("," in German).
    """
    values = [value for _, value in curve.points]
    levels = [v for v in (curve.limit_c, curve.regulatory_c) if _drawable(v)]
    low, high = _padded(min(values + levels, default=0.0), max(values + levels, default=1.0))
    # Halves throughout: the span of two finite floats (-1e308 to 1e308) is not one.
    half_span = high / 2 - low / 2
    span = max((curve.end - curve.start).total_seconds(), 1.0)

    def x(at: datetime) -> float:
        seconds = (at - curve.start).total_seconds()
        return LEFT + (WIDTH - LEFT - RIGHT) * min(max(seconds / span, 0.0), 1.0)

    def y(value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (high / 2 - value / 2) / half_span

    parts = [
        f'<svg class="curve" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<desc>{escape(description)}</desc>",
        f'<rect class="excursion" x="{x(curve.began):.1f}" y="{TOP}" '
        f'width="{max(x(curve.cleared or curve.end) - x(curve.began), 1.0):.1f}" '
        f'height="{HEIGHT - TOP - BOTTOM}"/>',
        f'<line class="began" x1="{x(curve.began):.1f}" x2="{x(curve.began):.1f}" '
        f'y1="{TOP}" y2="{HEIGHT - BOTTOM}"/>',
        f'<text class="axis unit" x="{LEFT - 4}" y="{TOP - 8}" text-anchor="end">°C</text>',
    ]
    # A legal maximum equal to the alarm limit would draw the same line twice.
    regulatory = curve.regulatory_c if curve.regulatory_c != curve.limit_c else None
    for value, css in ((curve.limit_c, "limit"), (regulatory, "regulatory")):
        if _drawable(value):
            parts.append(
                f'<line class="{css}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                f'y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
                f'<text class="axis" x="{WIDTH - RIGHT}" y="{y(value) - 3:.1f}" '
                f'text-anchor="end">{_number(value, decimal, places=1)} °C</text>'
            )
    for tick in _ticks(low, high):
        parts.append(
            f'<text class="axis" x="{LEFT - 4}" y="{y(tick):.1f}" dy=".35em" text-anchor="end">'
            f"{_number(tick, decimal)}</text>"
        )
    for at in _time_ticks(curve.start, curve.end):
        # A label centred on a tick at the right edge would be cut off: end it there.
        anchor = "end" if x(at) > WIDTH - RIGHT - EDGE else "middle"
        parts.append(
            f'<text class="axis" x="{x(at):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">'
            f"{at.astimezone(tz):%H:%M}</text>"
        )
    if curve.points:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(at):.1f},{y(value):.1f}"
            for i, (at, value) in enumerate(curve.points)
        )
        parts.append(f'<path class="line" d="{path}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _number(value: float, decimal: str, places: int | None = None) -> str:
    text = f"{value:g}" if places is None else f"{value:.{places}f}"
    if text.lstrip("-0.") == "":
        text = text.lstrip("-")  # never "-0"
    return text.replace(".", decimal)


def _drawable(level: float | None) -> TypeGuard[float]:
    return level is not None and math.isfinite(level)


def _padded(low: float, high: float) -> tuple[float, float]:
    """The range drawn: a tenth of the span (at least half a degree) beyond the values, but
    never beyond the largest float."""
    pad = max(high / 10 - low / 10, 0.5)
    return max(low - pad, -sys.float_info.max), min(high + pad, sys.float_info.max)


def _ticks(low: float, high: float) -> list[float]:
    """Round values from `low` to `high`, at most 7: half a degree apart, or 1, 2 or 5 times
    a power of 10."""
    rough = high / 6 - low / 6
    power = 10.0 ** math.floor(math.log10(rough))
    step = max(next(power * m for m in (1, 2, 5, 10) if power * m >= rough), 0.5)
    first = math.ceil(low / step)
    ticks = ((first + i) * step for i in range(7))
    return [tick for tick in ticks if tick <= high]


def _time_ticks(start: datetime, end: datetime) -> list[datetime]:
    span = end - start
    step = next(
        (s for s in (15, 30, 60, 120, 180, 360, 720, 1440) if span / timedelta(minutes=s) <= 6),
        2880,
    )
    minutes = step * 60
    first = datetime.fromtimestamp(-(-start.timestamp() // minutes) * minutes, UTC)
    ticks = []
    at = first
    while at <= end:
        ticks.append(at)
        at += timedelta(minutes=step)
    return ticks
