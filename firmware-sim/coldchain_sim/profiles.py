"""The four kinds of compartment the hub runs, with their default constants.

Set points leave a margin below the category limits (chilled +6 °C, poultry +4 °C,
frozen -18 °C) so a healthy compartment stays inside them through its door
openings; a scenario lowers the set point where the goods need it (poultry: 1.5 °C).
Vans carry a heat load (fans, sun on the body), see the day's heat outside, and
lose their cold fast when the compressor fails; they hold no goods by default,
because their load changes along the tour (set `product_kg` for a loaded van).
Rooms are stocked, sit inside the hub's building, and lose their cold slowly.
Rooms defrost on a schedule; vans do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from coldchain_sim.door import DoorHabit
from coldchain_sim.thermal import ThermalParams

_MIN = 60.0
_HOUR = 3600.0


class Profile(StrEnum):
    COLD_ROOM = "cold_room"
    FREEZER = "freezer"
    VAN_CHILLED = "van_chilled"
    VAN_FROZEN = "van_frozen"


@dataclass(frozen=True)
class ProfileDefaults:
    thermal: ThermalParams
    doors: DoorHabit


DEFAULTS: dict[Profile, ProfileDefaults] = {
    Profile.COLD_ROOM: ProfileDefaults(
        ThermalParams(
            setpoint_c=3.0,
            hysteresis_k=1.0,
            ambient_c=18.0,
            tau_s=6 * 3600.0,
            cooling_k_per_s=0.002,
            heat_load_k_per_s=0.0,
            door_tau_s=30 * _MIN,
            noise_k=0.05,
            ambient_swing_k=1.5,
            product_kg=2000.0,
            product_tau_s=4 * _HOUR,
            product_kj_per_kg_k=3.5,
            air_kj_per_k=1500.0,
            defrost_every_s=8 * _HOUR,
            defrost_s=20 * _MIN,
            defrost_heat_k_per_s=0.0001,
        ),
        # A forklift or a picker now and then: short openings, 20 min to 2 h apart.
        DoorHabit(closed_min_s=20 * _MIN, closed_max_s=120 * _MIN, open_min_s=30, open_max_s=120),
    ),
    Profile.FREEZER: ProfileDefaults(
        ThermalParams(
            setpoint_c=-22.0,
            hysteresis_k=1.0,
            ambient_c=18.0,
            tau_s=3.5 * 3600.0,
            cooling_k_per_s=0.007,
            heat_load_k_per_s=0.0,
            door_tau_s=30 * _MIN,
            noise_k=0.05,
            ambient_swing_k=1.5,
            product_kg=3000.0,
            product_tau_s=2 * _HOUR,
            product_kj_per_kg_k=1.9,
            air_kj_per_k=800.0,
            defrost_every_s=6 * _HOUR,
            defrost_s=20 * _MIN,
            defrost_heat_k_per_s=0.0005,
        ),
        DoorHabit(closed_min_s=30 * _MIN, closed_max_s=120 * _MIN, open_min_s=30, open_max_s=90),
    ),
    Profile.VAN_CHILLED: ProfileDefaults(
        ThermalParams(
            setpoint_c=2.5,
            hysteresis_k=1.0,
            ambient_c=20.0,
            tau_s=1.5 * 3600.0,
            cooling_k_per_s=0.012,
            heat_load_k_per_s=0.002,
            door_tau_s=20 * _MIN,
            noise_k=0.05,
            ambient_swing_k=4.0,
            product_tau_s=2 * _HOUR,
            product_kj_per_kg_k=3.5,
            air_kj_per_k=125.0,
        ),
        # Without a tour, a stop every 20 to 40 min; on a tour the door opens at its stops.
        # Either way the door is open 1 to 4 min while unloading.
        DoorHabit(closed_min_s=20 * _MIN, closed_max_s=40 * _MIN, open_min_s=60, open_max_s=240),
    ),
    Profile.VAN_FROZEN: ProfileDefaults(
        ThermalParams(
            setpoint_c=-22.0,
            hysteresis_k=1.0,
            ambient_c=20.0,
            tau_s=4 * 3600.0,
            cooling_k_per_s=0.010,
            heat_load_k_per_s=0.001,
            door_tau_s=30 * _MIN,
            noise_k=0.05,
            ambient_swing_k=4.0,
            product_tau_s=3 * _HOUR,
            product_kj_per_kg_k=1.9,
            air_kj_per_k=100.0,
        ),
        # Frozen goods leave at some stops only, and quickly.
        DoorHabit(closed_min_s=30 * _MIN, closed_max_s=60 * _MIN, open_min_s=30, open_max_s=120),
    ),
}
