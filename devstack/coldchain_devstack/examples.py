"""`coldchain-demo examples DIR` (`make examples`): docs/examples/ made again, end to end.

The German example report and delivery certificate of docs/compliance.md ("The
examples") come from simulated data sent through the real pipeline, so that they show
what the commands write today: Mosquitto and InfluxDB on free ports in a temporary
directory, ingest and the alerts service, and the demo scenario's gateways
`cold-room-1` (with a five-hour power cut) and `van-1` replaying the clock-change
weekend, one reading a minute. An officer acknowledges and closes the cold room's
alert through the alerts API; then `coldchain-report` makes and signs the report
and the certificate with an example key made for this run. Its key list goes into
DIR; the private key stays in the temporary directory and is gone with it.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import yaml

from coldchain_devstack import BIN, REPO
from coldchain_devstack.servers import InfluxDB, Mosquitto, wait_until
from coldchain_devstack.stack import SCENARIO, TEST_INTERVAL_S, Stack

#: The inputs that stay as written: the delivery's own data and the probes' calibration.
EXAMPLES = REPO / "docs" / "examples"
DELIVERY = EXAMPLES / "delivery_tour-nord-stopp-3.yaml"
CALIBRATION = EXAMPLES / "calibration.csv"
#: The key list of the example key; never the hub's.
KEY_LIST = "example-keys.pub"
#: The hub the example key list names: none, as it says.
EXAMPLE_HUB = "Beispiel, kein Hub (example, no hub)"

BERLIN = ZoneInfo("Europe/Berlin")
#: The clock-change weekend: Saturday 24 h, Sunday 25 h, and Monday's first hour.
START = datetime(2025, 10, 25, tzinfo=BERLIN)
HOURS = 49
TICKS = HOURS * 3600 // TEST_INTERVAL_S
#: Reading-clock seconds per real second: more than the pipeline takes, so the replay
#: runs as fast as this machine allows (each gateway keeps at most its window in flight).
SPEED = 1_000_000.0
#: Cold room 1 loses its power at 14:00 on Saturday, for five hours (a gap in the
#: readings), and its door is left open at 10:00 on Sunday for half an hour (an
#: excursion, whose alert the officer closes). Reading seconds from the first reading.
ROOM_FAULTS = [
    {
        "kind": "power_loss",
        "sensor": "cold-room-1.air",
        "after_s": 14 * 3600,
        "duration_s": 5 * 3600,
    },
    {
        "kind": "door_left_open",
        "sensor": "cold-room-1.air",
        "after_s": 35 * 3600,
        "duration_s": 1800,
    },
]
GATEWAYS = ("cold-room-1", "van-1")
DATABASE = "coldchain"

ROOM, ROOM_SENSOR = "cold-room-1", "cold-room-1.air"
VAN, VAN_SENSOR, VAN_DOOR = "van-1", "van-1.chilled", "van-1.door"
#: The delivery of the example: van 1's first tour loaded at the hub from 09:00 on Saturday.
TOURS_FROM = datetime(2025, 10, 25, 9, tzinfo=BERLIN)

#: The hygiene officer who closes the cold room's alert, and what she records.
OFFICER = "a.schmidt"
OFFICER_NAME = "Anna Schmidt"
ACKNOWLEDGEMENT = "Tür von Kühlraum 1 stand offen, ist geschlossen"
CLOSING = {
    "cause": "Tür nach der Warenannahme offen gelassen",
    "corrective_action": "Tür geschlossen, Kerntemperatur der Ware gemessen: 5,4 °C; "
    "Team zur Türdisziplin unterwiesen",
    "product_decision": "release",
}
#: Generous bounds for a slow machine; each step usually takes seconds.
REPLAY_TIMEOUT_S = 900.0
STEP_TIMEOUT_S = 120.0
#: Page 1 of the report as PNG, small enough for the repository.
PNG_DPI = 80


class ExampleError(RuntimeError):
    """A step of the examples' run failed; the message says which and what to look at."""


@dataclass(frozen=True)
class Made:
    """The files written into the examples' folder."""

    report_pdf: Path
    report_png: Path
    certificate_pdf: Path
    certificate_json: Path
    key_list: Path

    def all(self) -> list[Path]:
        return [
            self.report_pdf,
            self.report_png,
            self.certificate_pdf,
            self.certificate_json,
            self.key_list,
        ]


def make(out: Path) -> Made:
    """Make the examples into `out`, replacing those there; returns what was written."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="coldchain-examples-") as name:
        directory = Path(name)
        with _stack(directory) as stack:
            token = _officer_token(stack)
            _replay(stack)
            _close_the_alert(stack, token)
            loading, handover = _delivery(stack)
            made = _documents(stack, directory, loading, handover)
        return _publish(made, out)


@contextmanager
def _stack(directory: Path) -> Iterator[Stack]:
    mosquitto, influxdb = Mosquitto(directory), InfluxDB(directory)
    mosquitto.start()
    stack = Stack(directory, mosquitto, influxdb, DATABASE)
    try:
        influxdb.start()
        stack.start_ingest()
        stack.alerts().start()
        wait_until(stack.alerts_healthy, STEP_TIMEOUT_S, "the alerts service")
        yield stack
    except (AssertionError, ExampleError, httpx.HTTPError, subprocess.TimeoutExpired) as error:
        for process in [*stack.processes, mosquitto, influxdb]:
            print(f"----- {process.name} ({process.log}) -----\n{process.output()[-3000:]}")
        raise ExampleError(str(error)) from error
    finally:
        stack.stop()
        influxdb.stop()
        mosquitto.stop()


def _officer_token(stack: Stack) -> str:
    """An API token of the hygiene officer, made as an operator makes one."""
    environment = {"COLDCHAIN_ALERTS_DATABASE_URL": stack.alerts_database}
    _run(
        "coldchain-alerts", "user", "add", OFFICER, "officer",
        "--display-name", OFFICER_NAME, "--no-password",
        environment=environment,
    )  # fmt: skip
    return _run("coldchain-alerts", "token", "create", OFFICER, environment=environment).strip()


def _replay(stack: Stack) -> None:
    scenario = yaml.safe_load(SCENARIO.read_text())
    for gateway in scenario["gateways"]:
        if gateway["id"] == ROOM:
            gateway["faults"] = ROOM_FAULTS
    path = stack.directory / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True))
    gateways = [stack.gateway(g, START, TICKS, speed=SPEED, scenario=path) for g in GATEWAYS]
    for gateway in gateways:
        gateway.start()
    deadline = time.monotonic() + REPLAY_TIMEOUT_S
    for gateway in gateways:
        # A gateway exits 0 once ingest confirmed every one of its readings durable.
        code = gateway.wait(max(deadline - time.monotonic(), 1))
        if code != 0:
            raise ExampleError(f"{gateway.name} exited with {code}: see {gateway.log}")


def _close_the_alert(stack: Stack, token: str) -> None:
    """Acknowledge and close the cold room's critical alert once it has cleared, as the
    officer does in the alerts service; the service writes the closing into InfluxDB."""
    api = httpx.Client(
        base_url=f"http://127.0.0.1:{stack.alerts_port}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    with api:

        def cleared() -> dict[str, Any] | None:
            listed = api.get("/api/v1/alerts", params={"asset": ROOM}).raise_for_status().json()
            return next(
                (
                    alert
                    for alert in listed
                    if alert["severity"] == "critical" and alert["cleared_at"] is not None
                ),
                None,
            )

        alert = wait_until(cleared, STEP_TIMEOUT_S, f"a cleared critical alert of {ROOM}")
        path = f"/api/v1/alerts/{alert['id']}"
        api.post(f"{path}/acknowledge", json={"comment": ACKNOWLEDGEMENT}).raise_for_status()
        api.post(f"{path}/close", json=CLOSING).raise_for_status()
    query = f"SELECT count(actor) FROM alert_action WHERE action = 'closed' AND asset = '{ROOM}'"
    wait_until(
        lambda: stack.influxdb.count(DATABASE, query),
        STEP_TIMEOUT_S,
        "the closing in InfluxDB",
    )


def _delivery(stack: Stack) -> tuple[datetime, datetime]:
    """Loading and hand-over of the example's delivery, from van 1's door events and
    positions: loading ends with the hub's last door_closed, the hand-over is the
    door_open at the tour's last stop (Mengede)."""
    gateways = yaml.safe_load(SCENARIO.read_text())["gateways"]
    tour = next(gateway["tour"] for gateway in gateways if gateway["id"] == VAN)
    hub, last_stop = tour[0], tour[-1]
    since = f"time >= '{TOURS_FROM.astimezone(UTC).isoformat()}'"
    doors = _rows(
        stack,
        f"SELECT kind, seq FROM event WHERE sensor = '{VAN_DOOR}' AND {since} "
        f"AND time < '{(TOURS_FROM + timedelta(hours=6)).astimezone(UTC).isoformat()}'",
    )
    positions = _rows(stack, f"SELECT lat, lon FROM position WHERE gateway = '{VAN}' AND {since}")
    loading: datetime | None = None
    for at, kind, _ in doors:
        place = _place(positions, at)
        if kind == "door_closed" and _near(place, hub):
            loading = at
        elif kind == "door_open" and loading is not None and _near(place, last_stop):
            return loading, at
    raise ExampleError(f"no tour of {VAN} from the hub to {last_stop['name']} after {TOURS_FROM}")


def _rows(stack: Stack, influxql: str) -> list[list[Any]]:
    series = stack.influxdb.query(DATABASE, influxql)
    values: list[list[Any]] = series[0]["values"] if series else []
    return [[_moment(row[0]), *row[1:]] for row in values]


def _moment(epoch_ns: int) -> datetime:
    return datetime.fromtimestamp(epoch_ns // 1_000_000_000, UTC) + timedelta(
        microseconds=epoch_ns % 1_000_000_000 // 1000
    )


def _place(positions: list[list[Any]], at: datetime) -> tuple[float, float] | None:
    """The van's last position fix at or before `at`."""
    before = [(lat, lon) for moment, lat, lon in positions if moment <= at]
    return before[-1] if before else None


def _near(place: tuple[float, float] | None, stop: dict[str, Any]) -> bool:
    """Within about 50 m of the stop."""
    return place is not None and math.dist(place, (stop["lat"], stop["lon"])) < 0.0005


def _documents(stack: Stack, directory: Path, loading: datetime, handover: datetime) -> Made:
    keys, private = directory / KEY_LIST, directory / "example.key"
    created = _run(
        "coldchain-report", "key", "create", "--private-key", str(private), "--keys", str(keys),
        "--hub", EXAMPLE_HUB,
    )  # fmt: skip
    environment = {
        "COLDCHAIN_REPORT_INFLUX_URL": stack.influxdb.url,
        "COLDCHAIN_REPORT_INFLUX_DB": DATABASE,
        "COLDCHAIN_REPORT_FLEET": str(stack.fleet),
        "COLDCHAIN_REPORT_SIGNING_KEY": str(private),
        "COLDCHAIN_REPORT_PUBLIC_KEYS": str(keys),
    }
    documents = directory / "out"
    common = ["--lang", "de", "--calibration", str(CALIBRATION), "--out-dir", str(documents)]
    _run(
        "coldchain-report", "report", "--asset", ROOM,
        "--from", "2025-10-25", "--to", "2025-10-27", *common,
        environment=environment,
    )  # fmt: skip
    _run(
        "coldchain-report", "certificate", "--sensor", VAN_SENSOR,
        "--from", loading.isoformat(), "--to", handover.isoformat(),
        "--delivery", str(DELIVERY), *common,
        environment=environment,
    )  # fmt: skip
    report = _one(documents, "report_*_de.pdf")
    png = report.with_name(f"{report.stem}-page1.png")
    _run(
        "pdftoppm", "-png", "-f", "1", "-l", "1", "-r", str(PNG_DPI), "-singlefile",
        str(report), str(png.with_suffix("")),
    )  # fmt: skip
    # Retired once it has signed: the key list says the example key signs nothing later.
    key_id = created.split()[1].rstrip(":")
    _run("coldchain-report", "key", "retire", key_id, "--keys", str(keys))
    certificate = _one(documents, "certificate_*_de.pdf")
    return Made(report, png, certificate, _one(documents, "certificate_*.json"), keys)


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if len(found) != 1:
        raise ExampleError(f"expected one {pattern} in {folder}, found {[p.name for p in found]}")
    return found[0]


def _publish(made: Made, out: Path) -> Made:
    """Copy the files into `out` and remove the examples they replace."""
    for stale in [*out.glob("report_*"), *out.glob("certificate_*"), out / KEY_LIST]:
        stale.unlink(missing_ok=True)
    for path in made.all():
        shutil.copyfile(path, out / path.name)
    return Made(*(out / path.name for path in made.all()))


def _run(program: str, *args: str, environment: dict[str, str] | None = None) -> str:
    """Run our command `program` from .venv (or a system one) and return its output."""
    ours = BIN / program
    command = [str(ours) if ours.exists() else program, *args]
    done = subprocess.run(
        command,
        env=_environment() | (environment or {}),
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise ExampleError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def _environment() -> dict[str, str]:
    """This process's environment without coldchain settings, which would point a
    command at another server."""
    return {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")}
