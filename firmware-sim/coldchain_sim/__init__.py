"""coldchain_sim: simulated sensor firmware for cold rooms, freezers and vans.

Load a scenario, build one gateway's firmware, and tick it with the time each
sample carries and the seconds of physics to run before it:

    scenario = Scenario.from_yaml(text)
    firmware = Firmware(scenario.gateway("van-2"), seed=scenario.seed)
    readings, events = firmware.tick(ts, physics_dt_s=60.0)

Pure: no clock reads, no I/O, and the same seed gives the same readings.
"""

from coldchain_sim.errors import ScenarioError, SimulationError, SimulatorError, UnknownIdError
from coldchain_sim.faults import GATEWAY_FAULTS, Fault, FaultKind
from coldchain_sim.firmware import Firmware
from coldchain_sim.profiles import DEFAULTS, Profile
from coldchain_sim.scenario import (
    SITE_TIMEZONE,
    BatterySpec,
    CompartmentSpec,
    DeadZone,
    GatewaySpec,
    RoutePoint,
    Scenario,
    Stop,
)
from coldchain_sim.thermal import MAX_STEP_S, ThermalParams

__all__ = [
    "DEFAULTS",
    "GATEWAY_FAULTS",
    "MAX_STEP_S",
    "SITE_TIMEZONE",
    "BatterySpec",
    "CompartmentSpec",
    "DeadZone",
    "Fault",
    "FaultKind",
    "Firmware",
    "GatewaySpec",
    "Profile",
    "RoutePoint",
    "Scenario",
    "ScenarioError",
    "SimulationError",
    "SimulatorError",
    "Stop",
    "ThermalParams",
    "UnknownIdError",
]
