"""The simulated firmware as a probe source of the gateway, and its resumption.

The gateway defines what a source is (`coldchain_gateway.sources`); this module
implements it and offers it as the entry point `sim` of the group
`coldchain_gateway.sources`, so the gateway finds it when both are installed (the
demo and compose.yaml's simulated vans) and a gateway in a van goes without it.

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

from coldchain_gateway.sources import Plugged, Sample, SourceOptions
from coldchain_sim.errors import SimulationError
from coldchain_sim.firmware import Firmware
from coldchain_sim.scenario import GatewaySpec, Scenario

log = logging.getLogger(__name__)


def plug(options: SourceOptions) -> Plugged:
    """The simulated firmware of the scenario's gateway `options.gateway_id`, resumed
    from its saved state; its clock error and dead zones come with it."""
    scenario = Scenario.from_yaml(options.config)
    firmware, last = resume(
        scenario.gateway(options.gateway_id), scenario.seed, options.saved_state
    )
    source = SimSource(firmware, options.speed, options.interval_s, last)
    return Plugged(source, firmware.clock_offset_s, firmware.network_available)


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
