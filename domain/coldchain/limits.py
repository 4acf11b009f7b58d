"""An asset's limits: what its rules compare readings against. °C, K and seconds.

A category preset (coldchain.categories) gives every value; an asset in the
fleet file may override any of them. The regulatory maximum is kept apart from
the alarm limits, so reports can show both.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _quoted_time(value: object) -> object:
    if isinstance(value, int):
        raise ValueError(
            "write the start time in quotes, as '22:00' (unquoted, YAML reads 22:00 as 1320)"
        )
    return value


class DefrostWindow(BaseModel):
    """A scheduled defrost: starts daily at `start` (the site's local time) for `duration_s`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: Annotated[time, BeforeValidator(_quoted_time)]
    duration_s: float = Field(gt=0, le=4 * 3600)


class Limits(BaseModel):
    """Every setting of the temperature and sensor-health rules of one asset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    regulatory_max_c: float = Field(description="Legal maximum of the category, for reports.")
    max_c: float | None = Field(description="Upper alarm limit (critical).")
    warn_max_c: float | None = Field(description="Upper warning level, below max_c.")
    min_c: float | None = Field(description="Lower alarm limit (critical).")
    warn_min_c: float | None = Field(description="Lower warning level, above min_c.")
    absolute_max_c: float | None = Field(
        description="Alarm at once, no delay; door openings never hold it back, a defrost may."
    )
    delay_s: float = Field(ge=0, description="How long a limit must be broken to alarm.")
    hysteresis_k: float = Field(ge=0, description="An excursion ends this far back inside.")
    budget_s: float | None = Field(
        ge=0, description="Time above max_c allowed per budget window, summed."
    )
    budget_window_s: float = Field(gt=0, description="Window the budget is summed over.")
    door_grace_s: float = Field(
        ge=0, description="Temperature alarms wait this long after a door opens."
    )
    door_open_max_s: float | None = Field(gt=0, description="A door open longer alarms.")
    defrost_grace_s: float = Field(
        ge=0, description="Temperature alarms wait this long after a defrost starts."
    )
    defrost_schedule: tuple[DefrostWindow, ...] = ()
    plausible_min_c: float = -50.0
    plausible_max_c: float = 60.0
    stuck_s: float | None = Field(gt=0, description="The same value this long is a stuck probe.")
    max_rate_k_per_min: float | None = Field(
        gt=0, description="A faster change between two readings is a jump no air can make."
    )
    no_data_factor: float = Field(
        gt=1, description="No reading for this many reporting intervals is a 'no data' alarm."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        pairs = [
            ("warn_max_c", self.warn_max_c, "max_c", self.max_c),
            ("max_c", self.max_c, "absolute_max_c", self.absolute_max_c),
            ("min_c", self.min_c, "warn_min_c", self.warn_min_c),
            ("min_c", self.min_c, "max_c", self.max_c),
            ("plausible_min_c", self.plausible_min_c, "plausible_max_c", self.plausible_max_c),
        ]
        if self.max_c is not None and self.max_c > self.regulatory_max_c:
            raise ValueError(
                f"max_c ({self.max_c}) is above the legal maximum ({self.regulatory_max_c}); "
                "an alarm limit may be stricter than the law, never looser"
            )
        for low_name, low, high_name, high in pairs:
            if low is not None and high is not None and low >= high:
                raise ValueError(f"{low_name} ({low}) must be below {high_name} ({high})")
        return self
