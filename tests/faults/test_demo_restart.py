"""A restart of the demo's services raises no alarm, and the simulated fleet resumes.

The Dortmund hub runs as `make demo` runs it: the demo's fleet file, every gateway of
its scenario on the live clock with physics 60 times faster, ingest and the alerts
service. Van 2's chilled compartment fails (here 5 s after the start, not 60, to keep
the test short) and warms past the absolute limit: its alert is the only one. Then
the gateways, ingest and the alerts service are stopped and started again, as a
restarted demo does. Afterwards there must be no new alert and nothing new about the
old one (no clearing, no firing again), and the gateways must continue where they
were: van 2's compartment as warm as it was, every van where it was on its tour.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from coldchain.fleet import Fleet
from coldchain_devstack.servers import Process, service, wait_until
from coldchain_devstack.stack import DEMO_FLEET, SCENARIO, demo_gateway_settings
from tests.alertsapi import ApiStack

SECONDS_PER_SAMPLE = 1.0
VANS = ("van-1", "van-2", "van-3")


def _scenario(directory: Path) -> Path:
    """The demo's scenario with van 2's compressor failing after 5 s instead of 60."""
    scenario = yaml.safe_load(SCENARIO.read_text())
    for gateway in scenario["gateways"]:
        for fault in gateway.get("faults", []):
            fault["after_s"] = 5
    path = directory / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario))
    return path


def _gateway(stack: ApiStack, gateway: str, scenario: Path) -> Process:
    """One gateway as `coldchain-demo gateway` runs it, sampling every second."""
    outbox = stack.directory / f"{gateway}.sqlite3"
    settings = demo_gateway_settings(
        gateway, stack.mosquitto.port, outbox, scenario, SECONDS_PER_SAMPLE
    )
    return service(
        f"gateway-{gateway}",
        "coldchain-gateway",
        stack.directory,
        settings | {"COLDCHAIN_GATEWAY_RECONNECT_MAX_S": "2"},
    )


def _healthy(stack: ApiStack) -> bool:
    try:
        return stack.alerts_api.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


def _alerts(stack: ApiStack) -> dict[int, dict[str, Any]]:
    return {alert["id"]: alert for alert in stack.alerts_api.alerts(limit=10_000)}


def _readings(stack: ApiStack, sensor: str) -> list[tuple[int, float]]:
    series = stack.influxdb.query(
        stack.database, f"SELECT temp_c FROM temperature WHERE sensor = '{sensor}'"
    )
    return [(row[0], row[1]) for row in series[0]["values"]] if series else []


def _positions(stack: ApiStack, gateway: str) -> list[tuple[int, float, float]]:
    series = stack.influxdb.query(
        stack.database, f"SELECT lat, lon FROM position WHERE gateway = '{gateway}'"
    )
    return [(row[0], row[1], row[2]) for row in series[0]["values"]] if series else []


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dy = math.radians(b[0] - a[0])
    dx = math.radians(b[1] - a[1]) * math.cos(math.radians(a[0]))
    return 6_371_000 * math.hypot(dx, dy)


def _ns(at: datetime) -> int:
    return int(at.timestamp() * 1e9)


class Demo:
    """The demo's services and gateways of one stack, started and stopped together."""

    def __init__(self, stack: ApiStack) -> None:
        self.stack = stack
        scenario = _scenario(stack.directory)
        stack.fleet.write_text(DEMO_FLEET.read_text())
        fleet = Fleet.from_yaml(DEMO_FLEET.read_text())
        self.ingest = stack.ingest()
        self.alerts = stack.alerts()
        self.gateways = [_gateway(stack, g.id, scenario) for _, g in fleet.gateways()]

    def start(self) -> None:
        """The gateways as soon as ingest listens: its silence window (10 s in the demo's
        fleet) runs from then, and `make demo` starts everything at once. Started after
        the alerts service, they came 16 s late on a loaded CI machine."""
        self.ingest.start()
        wait_until(lambda: self.stack.metrics() is not None, 30, "ingest to serve /metrics")
        for gateway in self.gateways:
            gateway.start()
        self.alerts.start()
        wait_until(lambda: _healthy(self.stack), 30, "the alerts service")

    def stop(self) -> None:
        """SIGTERM, as Ctrl-C in `make demo` stops them."""
        for process in [*self.gateways, self.ingest, self.alerts]:
            process.stop()


def _van_2_alert(stack: ApiStack) -> dict[str, Any] | None:
    found = [a for a in _alerts(stack).values() if a["sensor"] == "van-2.chilled"]
    return found[0] if found and (found[0]["peak_c"] or 0) >= 14.0 else None


def test_a_restarted_demo_raises_nothing_and_its_fleet_resumes(stack: ApiStack) -> None:
    demo = Demo(stack)
    try:
        _restart_and_check(stack, demo)
    finally:
        demo.stop()  # the gateways are no fixture's: left running, they would outlive the test


def _restart_and_check(stack: ApiStack, demo: Demo) -> None:
    demo.start()
    wait_until(lambda: _van_2_alert(stack), 120, "van 2 past the absolute limit, at 14 °C")
    before = _alerts(stack)
    (van_2,) = [a for a in before.values() if a["sensor"] == "van-2.chilled"]
    assert set(before) == {van_2["id"]}, f"alerts before the restart: {before}"
    demo.stop()
    stopped = datetime.now(UTC)
    last_reading = _readings(stack, "van-2.chilled")[-1]
    last_places = {van: _positions(stack, van)[-1] for van in VANS}

    demo.start()
    # 20 s of samples: ingest looks for silent sensors every 10 s.
    wait_until(
        lambda: len([r for r in _readings(stack, "van-2.chilled") if r[0] > _ns(stopped)]) >= 20,
        60,
        "20 readings of van 2 after the restart",
    )
    wait_until(
        lambda: (stack.metrics() or {}).get("coldchain_ingest_alert_events_unconfirmed") == 0,
        30,
        "ingest to hear that every event is stored",
    )
    after = _alerts(stack)
    new = {alert_id: a for alert_id, a in after.items() if alert_id not in before}
    assert not new, f"the restart raised alerts: {new}"
    timeline = stack.alerts_api.get(f"/api/v1/alerts/{van_2['id']}").json()["timeline"]
    assert after[van_2["id"]]["occurrences"] == 1
    assert after[van_2["id"]]["active"] is True
    assert not {"cleared", "fired_again"} & {step["action"] for step in timeline}

    (first_reading,) = [r for r in _readings(stack, "van-2.chilled") if r[0] > _ns(stopped)][:1]
    assert abs(first_reading[1] - last_reading[1]) < 2.0, (last_reading, first_reading)
    for van, (_, lat, lon) in last_places.items():
        (_, lat_after, lon_after) = next(p for p in _positions(stack, van) if p[0] > _ns(stopped))
        # One sample runs a minute of physics: 500 m at the tour's 30 km/h.
        assert _metres((lat, lon), (lat_after, lon_after)) < 1000, van
