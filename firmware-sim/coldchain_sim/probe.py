"""A compartment's air probe: noise, rounding and the probe faults (drift, stuck).

The probe reports the true air temperature plus gaussian noise, rounded to
0.1 °C. A drifting probe adds `rate_k_per_h` for every physics hour since the
drift began; a stuck probe repeats the last value it reported before it stuck.
"""

from __future__ import annotations

import random
from typing import Any

_HOUR_S = 3600.0


class Probe:
    """What the probe reports; faults are added and removed by name."""

    def __init__(self, noise_k: float, rng: random.Random) -> None:
        self._noise_k = noise_k
        self._rng = rng
        self._drifts: dict[int, tuple[float, float]] = {}
        self._stuck: set[int] = set()
        self._frozen_c: float | None = None
        self._last_c: float | None = None

    def drift(self, key: int, rate_k_per_h: float, since_s: float) -> None:
        """Drift by `rate_k_per_h` per physics hour from physics time `since_s` on."""
        self._drifts[key] = (rate_k_per_h, since_s)

    def stick(self, key: int) -> None:
        """Repeat the last reported value (or the next one, if none yet) until unstuck."""
        if not self._stuck:
            self._frozen_c = self._last_c
        self._stuck.add(key)

    def clear(self, key: int) -> None:
        """End the drift or stickiness registered under `key` (recalibrated, replaced)."""
        self._drifts.pop(key, None)
        self._stuck.discard(key)
        if not self._stuck:
            self._frozen_c = None

    def state(self) -> dict[str, Any]:
        """Faults, the last value and the noise generator's state (see `resume`)."""
        version, internal, gauss_next = self._rng.getstate()
        return {
            "drifts": [[key, rate, since] for key, (rate, since) in self._drifts.items()],
            "stuck": sorted(self._stuck),
            "frozen_c": self._frozen_c,
            "last_c": self._last_c,
            "noise": [version, list(internal), gauss_next],
        }

    def resume(self, state: dict[str, Any]) -> None:
        self._drifts = {int(key): (rate, since) for key, rate, since in state["drifts"]}
        self._stuck = {int(key) for key in state["stuck"]}
        self._frozen_c = state["frozen_c"]
        self._last_c = state["last_c"]
        version, internal, gauss_next = state["noise"]
        self._rng.setstate((version, tuple(internal), gauss_next))

    def read(self, true_c: float, physics_s: float) -> float:
        """The reported value in °C, to 0.1 °C, at physics time `physics_s`."""
        if self._stuck and self._frozen_c is not None:
            return self._frozen_c
        drift_k = sum(rate * (physics_s - since) / _HOUR_S for rate, since in self._drifts.values())
        noisy = true_c + drift_k + self._rng.gauss(0.0, self._noise_k)
        value = round(noisy, 1) + 0.0
        self._last_c = value
        if self._stuck:
            self._frozen_c = value
        return value
