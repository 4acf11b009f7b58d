"""The conventions behind a report's numbers, stated in the report itself.

Each is a sentence with the asset's own values (day lengths, recording interval,
alarm delay, hysteresis, graces, absolute limit), in the report's language for
the PDF and in English with the bare values for the CSV's and JSON's readers.
The rules themselves are those of `coldchain.compliance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from coldchain.compliance import GAP_FACTOR, JUDGING_BOUND_S
from coldchain_reports.labels import Labels
from coldchain_reports.scope import Scope


def texts(scope: Scope, days: Sequence[tuple[date, float]], labels: Labels) -> list[str]:
    """Every convention as a sentence; `days` are the local days and their lengths (s),
    none for a period that is not made of days (a delivery)."""
    limits = scope.limits
    interval_s = scope.sensor.interval_s
    absolute = (
        labels("convention_absolute", limit=labels.temperature(limits.absolute_max_c))
        if limits.absolute_max_c is not None and limits.max_c is not None
        else ""
    )
    lengths = ", ".join(f"{labels.day(day)} {_hours(seconds, labels)}" for day, seconds in days)
    plausible = (
        f"{labels.temperature(limits.plausible_min_c)} … "
        f"{labels.temperature(limits.plausible_max_c)}"
    )
    sentences = [labels("convention_days", tz=scope.timezone, lengths=lengths)] if days else []
    return [
        *sentences,
        labels(
            "convention_weighted",
            factor=labels.number(GAP_FACTOR, 1),
            cap=labels.duration(GAP_FACTOR * interval_s),
            interval=labels.duration(interval_s),
        ),
        labels("convention_covered"),
        labels(
            "convention_excursions",
            hysteresis=f"{labels.number(limits.hysteresis_k, 1)} K",
            delay=labels.duration(limits.delay_s),
            door=labels.duration(limits.door_grace_s),
            defrost=labels.duration(limits.defrost_grace_s),
            absolute=absolute,
            plausible=plausible,
        ),
        labels("convention_midnight"),
        labels("convention_short"),
        labels(
            "convention_bound",
            bound=labels.days(round(JUDGING_BOUND_S / 86400)),
        ),
    ]


def as_json(scope: Scope, days: Sequence[tuple[date, float]]) -> dict[str, Any]:
    """The conventions for machines: the values, and the sentences in English."""
    limits = scope.limits
    return {
        "timezone": scope.timezone,
        "day_lengths_s": {day.isoformat(): seconds for day, seconds in days},
        "time_weighted": True,
        "interval_s": scope.sensor.interval_s,
        "reading_holds_at_most_s": scope.reach_s,
        "alarm_delay_s": limits.delay_s,
        "hysteresis_k": limits.hysteresis_k,
        "door_grace_s": limits.door_grace_s,
        "defrost_grace_s": limits.defrost_grace_s,
        "defrost_schedule": [
            {"start": window.start.isoformat(timespec="minutes"), "duration_s": window.duration_s}
            for window in limits.defrost_schedule
        ],
        "absolute_max_c": limits.absolute_max_c,
        "plausible_c": [limits.plausible_min_c, limits.plausible_max_c],
        "judging_bound_s": JUDGING_BOUND_S,
        "text": texts(scope, days, Labels("en", scope.timezone)),
    }


def _hours(seconds: float, labels: Labels) -> str:
    return f"{labels.number(seconds / 3600, 0)} h"
