"""What the bench sends: a fleet of gateways and probes, and telemetry messages for it.

Every system under test gets the same fleet: ours reads it as a fleet file, the
peers as a JSON object sensor -> maximum °C (the same limit ours alarms at).
Payloads follow contract v1 (docs/contract/), readings stamped with the time
the generator plans to send them, to the microsecond, so each reading is
unique by sensor and time and a reading's age can be told from its stamp.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.load import Outgoing

SITE = "bench"
CATEGORY = "meat_products"
#: The alarm limit of the category above, °C; peers check against the same.
MAX_C = 6.0
#: Normal readings stay inside every level (warning at 5 °C, minimum -1 °C).
NORMAL_C = (3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.6, 3.7)
#: An excursion's readings: above the maximum, below the absolute limit (12 °C).
EXCURSION_C = 9.0
#: Long enough that no probe is ever "silent" during a run.
INTERVAL_S = 3600


@dataclass(frozen=True)
class Fleet:
    """`gateways` gateways of `probes` probes each; one asset per gateway."""

    gateways: int
    probes: int

    def gateway(self, g: int) -> str:
        return f"gw-{g:05d}"

    def sensor(self, g: int, p: int) -> str:
        return f"{self.gateway(g)}.p{p:02d}"

    @property
    def sensors(self) -> int:
        return self.gateways * self.probes

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write the fleet file (ours) and the limits file (peers); return both paths."""
        assets = [
            {
                "id": f"a-{g:05d}",
                "name": {"de": f"Kühlraum {g}", "en": f"Cold room {g}"},
                "category": CATEGORY,
                # Alarm at the first reading above the limit, as the peers' check does.
                "limits": {"delay_s": 0},
            }
            for g in range(self.gateways)
        ]
        gateways = [
            {
                "id": self.gateway(g),
                "sensors": [
                    {"id": self.sensor(g, p), "asset": f"a-{g:05d}", "interval_s": INTERVAL_S}
                    for p in range(self.probes)
                ],
            }
            for g in range(self.gateways)
        ]
        fleet = {"sites": [{"id": SITE, "name": "Bench", "gateways": gateways, "assets": assets}]}
        fleet_file = directory / "fleet.yaml"
        fleet_file.write_text(yaml.safe_dump(fleet))
        limits_file = directory / "limits.json"
        limits = {
            self.sensor(g, p): MAX_C for g in range(self.gateways) for p in range(self.probes)
        }
        limits_file.write_text(json.dumps(limits))
        return fleet_file, limits_file


def stamp(us: int) -> str:
    """RFC 3339 UTC with microseconds (from integer µs since the epoch), as gateways send it."""
    seconds, micros = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def telemetry(gateway: str, seq: int, readings: list[tuple[str, str, float]]) -> bytes:
    """A contract v1 telemetry payload; readings are (sensor, stamp, °C)."""
    body = ",".join(f'{{"sensor":"{s}","ts":"{ts}","temp_c":{c}}}' for s, ts, c in readings)
    sent_at = readings[-1][1]
    return (
        f'{{"v":1,"gateway":"{gateway}","seq":{seq},"sent_at":"{sent_at}","readings":[{body}]}}'
    ).encode()


def topic(gateway: str) -> str:
    return f"coldchain/v1/{SITE}/{gateway}/telemetry"


@dataclass
class Plan:
    """Messages in sending order, with where each came from, to measure them later."""

    messages: list[Outgoing]
    #: (gateway, seq) of each message, in the same order.
    ids: list[tuple[str, int]]
    readings: int
    #: Readings expected in InfluxDB per sensor.
    per_sensor: dict[str, int]
    #: The first reading's stamp of each message, µs since the epoch, in the same order.
    stamps_us: list[int] = field(default_factory=list)


class Planner:
    """Numbers the messages of each gateway from 1, as a gateway's outbox does."""

    def __init__(self, fleet: Fleet, connections: int) -> None:
        self.fleet = fleet
        self.connections = connections
        self._seq = [0] * fleet.gateways
        self._cursor = [0] * fleet.sensors

    def plan(
        self,
        count: int,
        readings_per_message: int,
        start: float,
        rate: float | None,
        excursion: frozenset[int] = frozenset(),
    ) -> Plan:
        """`count` messages, sent in turn by every gateway, at `rate` messages/s from `start`.

        Reading stamps follow the planned send time, 1 µs apart within a message;
        `rate` None stamps messages as if sent one a microsecond per reading. A
        message whose index is in `excursion` carries EXCURSION_C readings.
        """
        plan = Plan([], [], 0, {})
        start_us = int(start * 1e6)
        for i, (g, probes) in enumerate(self._turns(count, readings_per_message)):
            paced = 0 if rate is None else i * 1_000_000 // int(rate)
            offset = max(i * readings_per_message, paced)
            at = start_us + offset
            self._seq[g] += 1
            gateway = self.fleet.gateway(g)
            readings = []
            for k, p in enumerate(probes):
                sensor = self.fleet.sensor(g, p)
                index = g * self.fleet.probes + p
                self._cursor[index] += 1
                c = EXCURSION_C if i in excursion else NORMAL_C[self._cursor[index] % len(NORMAL_C)]
                readings.append((sensor, stamp(at + k), c))
                plan.per_sensor[sensor] = plan.per_sensor.get(sensor, 0) + 1
            payload = telemetry(gateway, self._seq[g], readings)
            plan.messages.append(Outgoing(g % self.connections, topic(gateway), payload))
            plan.ids.append((gateway, self._seq[g]))
            plan.stamps_us.append(at)
            plan.readings += len(readings)
        return plan

    def _turns(self, count: int, per_message: int) -> Iterator[tuple[int, list[int]]]:
        """Gateways in turn; each message carries the gateway's probes in turn."""
        next_probe = [0] * self.fleet.gateways
        for i in range(count):
            g = i % self.fleet.gateways
            probes = []
            for _ in range(per_message):
                probes.append(next_probe[g] % self.fleet.probes)
                next_probe[g] += 1
            yield g, probes


def merge(a: Plan, b: Plan) -> Plan:
    per_sensor = dict(a.per_sensor)
    for sensor, n in b.per_sensor.items():
        per_sensor[sensor] = per_sensor.get(sensor, 0) + n
    return Plan(
        a.messages + b.messages,
        a.ids + b.ids,
        a.readings + b.readings,
        per_sensor,
        a.stamps_us + b.stamps_us,
    )
