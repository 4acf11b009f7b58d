"""The simulated firmware as a gateway source (coldchain_sim), and its resumption.

Every sample carries the firmware's state after it (`Sample.state`), which the outbox
keeps with the sample; a restarted gateway resumes the simulation from the last one
stored: the vans continue their tours from where they were, compartments keep their
temperatures and faults, scenario faults keep their times. The simulated world stands
still while its gateway is stopped: the first sample after a restart runs at most one
interval of physics, whatever time passed.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from coldchain_gateway.sources import Sample
from coldchain_sim import Firmware, GatewaySpec, Scenario, SimulationError

__all__ = ["Scenario", "SimSource", "resume"]

log = logging.getLogger(__name__)


class SimSource:
    """The simulated firmware; its physics runs `physics_speed` times faster than `ts`.

    `last` is the reading time of the sample the firmware's state was saved after, for a
    resumed firmware; then the first sample runs at most `interval_s` of physics.
    """

    def __init__(
        self,
        firmware: Firmware,
        physics_speed: float,
        interval_s: float,
        last: datetime | None = None,
    ) -> None:
        self._firmware = firmware
        self._speed = physics_speed
        self._interval_s = interval_s
        self._last = last
        self._resumed = last is not None

    def sample(self, ts: datetime) -> Sample:
        elapsed = 0.0 if self._last is None else (ts - self._last).total_seconds()
        if self._resumed:
            elapsed = min(elapsed, self._interval_s)
            self._resumed = False
        self._last = ts
        readings, events = self._firmware.tick(ts, elapsed * self._speed)
        position, battery = self._firmware.position(ts), self._firmware.battery_v(ts)
        state = json.dumps({"firmware": self._firmware.state(), "sampled_at": ts.isoformat()})
        return Sample(readings, events, position, battery, state)


def resume(spec: GatewaySpec, seed: int, saved: str | None) -> tuple[Firmware, datetime | None]:
    """The firmware of `spec`, resumed from the state `saved` with the last sample if it
    is this gateway's (its sample time too); else, saying why in the log, a fresh one."""
    if saved is None:
        return Firmware(spec, seed=seed), None
    try:
        state = json.loads(saved)
        firmware = Firmware.resumed(spec, state["firmware"], seed=seed)
        last = datetime.fromisoformat(state["sampled_at"])
    except (ValueError, KeyError, TypeError, SimulationError) as exc:
        log.warning(
            "the simulation of gateway %s starts afresh: its saved state cannot be resumed (%s)",
            spec.id,
            exc,
        )
        return Firmware(spec, seed=seed), None
    log.info("the simulation of gateway %s resumes after its sample of %s", spec.id, last)
    return firmware, last
