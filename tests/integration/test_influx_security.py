"""InfluxDB locked as compose.yaml locks it, proven with real clients against a real influxd.

The server runs with the environment of compose.yaml's `influxdb` service (HTTP
authentication on) and gets what the image makes at its first start: the admin account,
the database, and the accounts of deploy/influxdb/accounts.sh, run as the image runs it
(servers.LockedInfluxDB). Our services run by their console commands with the InfluxDB
settings compose.yaml gives them. A refusal (401, 403) is InfluxDB being unavailable to
a service, never a verdict on its data: what arrives meanwhile waits, unconfirmed, and is
stored once the account is let in.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml

from coldchain import measurements, topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts import people
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine, make_sessionmaker
from coldchain_devstack import BIN, REPO
from coldchain_devstack.servers import InfluxDB, LockedInfluxDB, Mosquitto, Process, wait_until
from coldchain_devstack.stack import SITE
from tests.alertsapi import AlertsApi, ApiStack, token_for
from tests.mqttclient import subscribe, telemetry_json
from tests.signed import signing_env

COMPOSE = REPO / "compose.yaml"
#: The secrets compose.yaml reads from .env. The ingest password has what a hand-made
#: password may have (quotes, a backslash, spaces): nothing between .env and InfluxQL
#: may read it as syntax.
SECRETS = {
    "INFLUX_ADMIN_PASSWORD": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "INFLUX_INGEST_PASSWORD": 'it\'s a \\ "quoted" pass',
    "INFLUX_ALERTS_PASSWORD": "alerts-Zq3xV9tLr2",
    "INFLUX_REPORTS_PASSWORD": "reports-Hk7pW4nMs8",
    "INFLUX_GRAFANA_PASSWORD": "grafana-Bv5cR1yQd6",
}
READ_ONLY = ["reports", "grafana"]
SERVICES = ["ingest", "alerts"]
GATEWAY, SENSOR, ASSET = "cold-room-1", "cold-room-1.air", "cold-room-1"
BERLIN = ZoneInfo("Europe/Berlin")


# --- compose.yaml's settings with the secrets filled in -----------------------------------

_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def _filled(value: object) -> str:
    return _VARIABLE.sub(lambda match: _secret_or_default(match), str(value))


def _secret_or_default(match: re.Match[str]) -> str:
    """A secret of SECRETS, or the default `${NAME:-default}` gives."""
    if match.group(1) in SECRETS:
        return SECRETS[match.group(1)]
    default = re.fullmatch(r"\$\{[A-Z0-9_]+:-([^}]*)\}", match.group(0))
    assert default is not None, f"{match.group(0)}: no secret and no default"
    return default.group(1)


def _environment(service: str) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"][service]
    environment: dict[str, Any] = spec["environment"]
    return environment


def influx_account_settings(service: str) -> dict[str, str]:
    """The service's InfluxDB account settings in compose.yaml (the URL and the database
    are the test server's)."""
    return {
        name: _filled(value)
        for name, value in _environment(service).items()
        if re.search(r"_INFLUX_(USERNAME|PASSWORD|CREATE_DB)$", name)
    }


def _account(name: str) -> tuple[str, str]:
    return name, SECRETS[f"INFLUX_{name.upper()}_PASSWORD"]


def _service_env(settings: dict[str, str]) -> dict[str, str]:
    """The environment of a command of ours: this one's without COLDCHAIN_*, and `settings`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("COLDCHAIN_")} | settings


# --- servers and clients ------------------------------------------------------------------


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[LockedInfluxDB]:
    """The locked InfluxDB after compose.yaml's first `up`: the image's first start, then
    the `influxdb-setup` step."""
    environment = {name: _filled(value) for name, value in _environment("influxdb").items()}
    server = LockedInfluxDB(tmp_path, environment)
    server.start()
    done = _influx_setup(server, _setup_settings())
    assert done.returncode == 0, done.stdout + done.stderr
    yield server
    server.stop()


def _setup_settings() -> dict[str, str]:
    """compose.yaml's `influxdb-setup` settings, secrets and defaults filled in."""
    return {name: _filled(value) for name, value in _environment("influxdb-setup").items()}


def _influx_setup(
    server: LockedInfluxDB, settings: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`coldchain-ingest influx setup` with `settings` against `server`."""
    where = {
        "COLDCHAIN_INGEST_INFLUX_URL": server.url,
        "COLDCHAIN_INGEST_INFLUX_DB": server.database,
    }
    return subprocess.run(
        [str(BIN / "coldchain-ingest"), "influx", "setup"],
        env=_service_env(settings | where),
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def locked_stack(
    request: pytest.FixtureRequest, tmp_path: Path, mosquitto: Mosquitto, locked: LockedInfluxDB
) -> Iterator[ApiStack]:
    stack = ApiStack(tmp_path, mosquitto, locked, locked.database)
    fleet = yaml.safe_load(stack.fleet.read_text())
    site = fleet["sites"][0]
    site["assets"] = [a | {"limits": {"delay_s": 120}} for a in site["assets"] if a["id"] == ASSET]
    site["gateways"] = [g for g in site["gateways"] if g["id"] == GATEWAY]
    stack.fleet.write_text(yaml.safe_dump(fleet))
    yield stack
    stack.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for process in [*stack.processes, locked]:
            print(f"----- {process.name} ({process.log}) -----\n{process.output()[-6000:]}")


def client(server: LockedInfluxDB, auth: tuple[str, str] | None) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=auth, timeout=10)


def write(http: httpx.Client, database: str, line: str) -> httpx.Response:
    return http.post("/write", params={"db": database}, content=line)


def query(http: httpx.Client, database: str, influxql: str) -> httpx.Response:
    return http.post("/query", data={"db": database, "q": influxql})


def line(ts: datetime, temp_c: float) -> str:
    """A reading of SENSOR as ingest writes it."""
    ns = int(ts.timestamp()) * 1_000_000_000
    return (
        f"{measurements.TEMPERATURE},site={SITE},gateway={GATEWAY},sensor={SENSOR},asset={ASSET} "
        f"temp_c={temp_c},seq=1i {ns}"
    )


def stored(server: LockedInfluxDB, influxql: str) -> int:
    return server.count(server.database, influxql)


# --- who may do what ----------------------------------------------------------------------


def test_anonymous_clients_and_wrong_passwords_are_refused(locked: LockedInfluxDB) -> None:
    database = locked.database
    # The attack: one string into temp_c, and the shard refuses every reading after it.
    poison = f'{measurements.TEMPERATURE},site={SITE},sensor={SENSOR} temp_c="warm"'
    for auth in [None, ("ingest", "wrong"), ("admin", "wrong"), ("nobody", "x")]:
        with client(locked, auth) as http:
            assert write(http, database, poison).status_code == 401, auth
            assert query(http, database, "SELECT * FROM temperature").status_code == 401, auth
            assert query(http, "", f'DROP DATABASE "{database}"').status_code == 401, auth
            make_admin = "CREATE USER eve WITH PASSWORD 'x' WITH ALL PRIVILEGES"
            assert query(http, "", make_admin).status_code == 401, auth
    assert stored(locked, "SELECT count(*) FROM temperature") == 0
    users = [row[0] for row in locked.query("", "SHOW USERS")[0]["values"]]
    assert sorted(users) == ["admin", "alerts", "grafana", "ingest", "reports"]
    with client(locked, None) as http:
        assert http.get("/ping").status_code == 204, "compose.yaml's healthcheck needs no account"


@pytest.mark.parametrize("account", READ_ONLY)
def test_read_only_accounts_read_and_change_nothing(locked: LockedInfluxDB, account: str) -> None:
    database = locked.database
    now = datetime.now(UTC).replace(microsecond=0)
    locked.write(database, line(now, 3.5))
    with client(locked, _account(account)) as http:
        answer = query(http, database, "SELECT temp_c FROM temperature")
        assert answer.status_code == 200 and answer.json()["results"][0]["series"], answer.text
        tags = query(http, database, 'SHOW TAG VALUES FROM temperature WITH KEY = "sensor"')
        assert tags.status_code == 200 and SENSOR in tags.text, "Grafana's variable queries"
        assert write(http, database, line(now, 99.0)).status_code == 403
        for statement in [
            "DELETE FROM temperature",
            "DROP SERIES FROM temperature",
            "DROP MEASUREMENT temperature",
            "SELECT temp_c INTO copy FROM temperature",
            f'ALTER RETENTION POLICY "autogen" ON "{database}" DURATION 1h',
        ]:
            assert query(http, database, statement).status_code == 403, statement
    assert locked.query(database, "SELECT temp_c FROM temperature")[0]["values"][0][1] == 3.5


@pytest.mark.parametrize("account", SERVICES)
def test_service_accounts_use_their_database_and_administer_nothing(
    locked: LockedInfluxDB, account: str
) -> None:
    database = locked.database
    now = datetime.now(UTC).replace(microsecond=0)
    locked.query("", 'CREATE DATABASE "other"')
    with client(locked, _account(account)) as http:
        assert write(http, database, line(now, 3.5)).status_code == 204
        assert query(http, database, "SELECT temp_c FROM temperature").status_code == 200
        assert write(http, "other", line(now, 3.5)).status_code == 403
        for statement in [
            'CREATE DATABASE "mine"',
            f'DROP DATABASE "{database}"',
            "DROP MEASUREMENT temperature",
            f'ALTER RETENTION POLICY "autogen" ON "{database}" DURATION 1h',
            "CREATE USER eve WITH PASSWORD 'x'",
            f'GRANT ALL ON "{database}" TO "reports"',
            "SHOW USERS",
        ]:
            assert query(http, database, statement).status_code == 403, statement
        # InfluxDB 1.x's WRITE right includes deleting points (docs/security.md says so).
        deleted = query(http, database, "DELETE FROM temperature WHERE sensor = 'x'")
        assert deleted.status_code == 200


def test_the_accounts_script_locks_a_database_that_ran_without_accounts(tmp_path: Path) -> None:
    environment = {name: _filled(value) for name, value in _environment("influxdb").items()}
    database = environment["INFLUXDB_DB"]
    now = datetime.now(UTC).replace(microsecond=0)
    before = InfluxDB(tmp_path)  # the stack before authentication: anonymous
    before.start()
    before.query("", f'CREATE DATABASE "{database}"')
    before.write(database, line(now, 3.5))
    before.stop()
    server = LockedInfluxDB(tmp_path, environment, first_start=False)
    server.start()
    try:
        with client(server, _account("reports")) as http:
            refused = query(http, database, "SELECT temp_c FROM temperature")
            assert refused.status_code in (401, 403), "locked, and nobody has an account yet"

        output = server.accounts()

        assert "InfluxDB account grafana: READ on coldchain" in output
        with client(server, _account("reports")) as http:
            answer = query(http, database, "SELECT temp_c FROM temperature")
            assert answer.json()["results"][0]["series"][0]["values"][0][1] == 3.5
        with client(server, None) as http:
            assert write(http, database, line(now, 9.9)).status_code == 401
        assert "InfluxDB account ingest: ALL" in server.accounts(), "running it again is safe"
    finally:
        server.stop()


# --- our services with their accounts -----------------------------------------------------


def _publish(stack: ApiStack, topic: str, payload: str) -> None:
    argv = ["mosquitto_pub", "-p", str(stack.mosquitto.port), "-q", "1", "-t", topic]
    subprocess.run([*argv, "-m", payload], check=True, timeout=10)


def _readings(stack: ApiStack, start: datetime, values: list[float]) -> None:
    """One telemetry message a minute from `start`, seq from 1."""
    topic = topics.telemetry(SITE, GATEWAY)
    for n, value in enumerate(values):
        ts = start + timedelta(minutes=n)
        _publish(stack, topic, telemetry_json(GATEWAY, SENSOR, n + 1, ts, value))


def _durable_seq(marks: queue.Queue[mqtt.MQTTMessage], seq: int) -> bool:
    """Whether the first durable mark at or past `seq` is `seq` (earlier ones skipped)."""
    while True:
        mark: int = json.loads(marks.get(timeout=20).payload)["seq"]
        if mark >= seq:
            return mark == seq


def test_ingest_stores_readings_and_its_rule_records_with_its_account(
    locked_stack: ApiStack,
) -> None:
    stack, server = locked_stack, locked_stack.influxdb
    assert isinstance(server, LockedInfluxDB)
    marks = subscribe(stack.mosquitto.port, topics.durable(SITE, GATEWAY))
    events = subscribe(stack.mosquitto.port, "coldchain/v1/_alerts/#")
    settings = influx_account_settings("ingest")
    assert settings["COLDCHAIN_INGEST_INFLUX_USERNAME"] == "ingest"
    stack.start_ingest(**settings)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    values = [4.0] * 2 + [8.0] * 6

    _readings(stack, start, values)

    assert _durable_seq(marks, len(values))
    assert json.loads(events.get(timeout=20).payload)["rule"] == "over_max"
    assert stored(server, "SELECT count(temp_c) FROM temperature") == len(values)
    wait_until(lambda: stored(server, 'SELECT count("key") FROM alert'), 10, "the alert record")
    wait_until(lambda: stored(server, "SELECT count(peak_c) FROM excursion"), 10, "the excursion")

    # The rollup reads the readings and writes the day, with the same account.
    day = start.astimezone(BERLIN).date()
    rollup = subprocess.run(
        [str(BIN / "coldchain-rollup"), "--from", str(day), "--to", str(day + timedelta(days=1))],
        env=_service_env(
            settings
            | {
                "COLDCHAIN_INGEST_INFLUX_URL": server.url,
                "COLDCHAIN_INGEST_INFLUX_DB": server.database,
                "COLDCHAIN_INGEST_FLEET": str(stack.fleet),
            }
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rollup.returncode == 0, rollup.stderr
    assert stored(server, "SELECT count(samples) FROM compliance_daily") == 1


def _alert_event(started: datetime) -> AlertEvent:
    return AlertEvent(
        key=f"over_max/{SENSOR}/{started.isoformat()}",
        state=AlertState.RAISED,
        rule="over_max",
        severity=Severity.CRITICAL,
        site=SITE,
        asset=ASSET,
        sensor=SENSOR,
        started_at=started,
        at=started + timedelta(minutes=2),
        value_c=8.5,
        peak_c=8.5,
        limit_c=6.0,
        delay_s=120,
    )


def _start_alerts(stack: ApiStack, **settings: str) -> tuple[Process, AlertsApi]:
    """The alerts service with `settings`, and its API, once it is connected to the broker."""
    alerts = stack.alerts(**settings)
    alerts.start()
    api = stack.alerts_api
    wait_until(lambda: _status(api, "/healthz") == 200, 30, "the alerts service to be healthy")
    return alerts, api


def _status(api: AlertsApi, path: str) -> int | None:
    try:
        return api.get(path).status_code
    except httpx.HTTPError:
        return None


def _raise_alert(stack: ApiStack, api: AlertsApi, started: datetime) -> int:
    """Publish an alert event as ingest does; the id of the alert it opens."""
    _publish(stack, topics.alerts(SITE), _alert_event(started).model_dump_json())
    listed = wait_until(api.alerts, 20, "the alert in the API")
    alert_id: int = listed[0]["id"]
    return alert_id


def _sample(api: AlertsApi, name: str) -> float:
    for row in api.get("/metrics").text.splitlines():
        if row.startswith(f"{name} "):
            return float(row.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def _logged_in(url: str, database: str) -> httpx.Client:
    """A browser's session on the alerts pages, as an officer."""
    engine = make_engine(database)
    with make_sessionmaker(engine).begin() as session:
        people.add_user(session, "tests", "officer", Role.OFFICER, "officer password")
    engine.dispose()
    browser = httpx.Client(base_url=url, timeout=10)
    form = re.search(r'name="csrf" value="([^"]+)"', browser.get("/login").text)
    assert form is not None
    login = {"username": "officer", "password": "officer password", "csrf": form.group(1)}
    assert browser.post("/login", data=login).status_code == 303
    return browser


def test_alerts_writes_its_points_and_reads_readings_with_its_account(
    locked_stack: ApiStack,
) -> None:
    stack, server = locked_stack, locked_stack.influxdb
    started = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=20)
    server.write(
        server.database,
        "\n".join(line(started + timedelta(minutes=n), 4.0 + n / 10) for n in range(-10, 20)),
    )
    settings = influx_account_settings("alerts")
    assert settings["COLDCHAIN_ALERTS_INFLUX_USERNAME"] == "alerts"
    token_for(stack.alerts_database)  # the schema, before the officer is added
    _, api = _start_alerts(stack, **settings)

    alert_id = _raise_alert(stack, api, started)

    actions = f"SELECT count(actor) FROM {measurements.ALERT_ACTION}"
    wait_until(lambda: stored(server, actions), 10, "the alert's actions in InfluxDB")
    chain = f"SELECT count(sha256) FROM {measurements.AUDIT_CHAIN}"
    wait_until(lambda: stored(server, chain), 10, "the audit chain's copy")
    verdict = api.get("/api/v1/audit/verify").json()
    assert verdict["ok"] and verdict["compared_with_influxdb"], verdict
    browser = _logged_in(api.url, stack.alerts_database)
    try:
        page = browser.get(f"/alerts/{alert_id}")
    finally:
        browser.close()
    assert page.status_code == 200
    assert '<svg class="curve"' in page.text, "the readings' curve on the alert's page"


def test_a_report_is_made_with_the_reports_account(locked: LockedInfluxDB, tmp_path: Path) -> None:
    day = datetime.now(BERLIN).date() - timedelta(days=2)
    first = datetime(day.year, day.month, day.day, tzinfo=BERLIN).astimezone(UTC)
    with client(locked, _account("ingest")) as http:
        body = "\n".join(line(first + timedelta(minutes=5 * n), 3.0) for n in range(-1, 290))
        assert write(http, locked.database, body).status_code == 204
    env = _service_env(
        {
            "COLDCHAIN_REPORT_INFLUX_URL": locked.url,
            "COLDCHAIN_REPORT_INFLUX_DB": locked.database,
            "COLDCHAIN_REPORT_INFLUX_USERNAME": "reports",
            "COLDCHAIN_REPORT_INFLUX_PASSWORD": SECRETS["INFLUX_REPORTS_PASSWORD"],
        }
        | signing_env(tmp_path)
    )
    argv = [str(BIN / "coldchain-report"), "report", "--asset", ASSET, "--from", str(day)]
    argv += ["--out-dir", str(tmp_path / "out")]

    made = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)

    assert made.returncode == 0, made.stderr
    assert list((tmp_path / "out").glob("report_*.pdf"))
    env["COLDCHAIN_REPORT_INFLUX_PASSWORD"] = "wrong"
    refused = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert refused.returncode == 2
    assert "COLDCHAIN_REPORT_INFLUX_USERNAME" in refused.stderr + refused.stdout


# --- a refusal is InfluxDB being unavailable: retried, shown, never confirmed --------------

#: How a service's account comes to be refused, and how the operator lets it in again.
REFUSALS = ["401 wrong password", "403 no right on the database"]


def _refuse(server: LockedInfluxDB, refusal: str, account: str) -> dict[str, str]:
    """Make InfluxDB refuse `account`; the settings the service runs with meanwhile."""
    if refusal.startswith("403"):
        server.query("", f'REVOKE ALL ON "{server.database}" FROM "{account}"')
        return {}
    return {f"COLDCHAIN_{account.upper()}_INFLUX_PASSWORD": "the new password"}


def _let_in(server: LockedInfluxDB, refusal: str, account: str) -> None:
    """What the operator does: run accounts.sh again, with the service's password."""
    if refusal.startswith("403"):
        server.accounts()
    else:
        server.accounts(**{f"INFLUX_{account.upper()}_PASSWORD": "the new password"})


@pytest.mark.parametrize("refusal", REFUSALS)
def test_readings_wait_unconfirmed_while_influxdb_refuses_ingest(
    locked_stack: ApiStack, refusal: str
) -> None:
    stack, server = locked_stack, locked_stack.influxdb
    assert isinstance(server, LockedInfluxDB)
    marks = subscribe(stack.mosquitto.port, topics.durable(SITE, GATEWAY))
    settings = influx_account_settings("ingest") | _refuse(server, refusal, "ingest")
    stack.start_ingest(**settings)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    values = [4.0, 4.1, 4.2, 4.3]

    _readings(stack, start, values)

    wait_until(
        lambda: (stack.metrics() or {}).get("coldchain_ingest_write_failures_total", 0) >= 3,
        30,
        "ingest to retry the refused write",
    )
    health = httpx.get(f"http://127.0.0.1:{stack.metrics_port}/healthz", timeout=5)
    assert health.status_code == 503, health.text
    assert "COLDCHAIN_INGEST_INFLUX_USERNAME" in health.json()["problems"][0]
    assert marks.empty(), "nothing is confirmed while InfluxDB refuses"
    assert stored(server, "SELECT count(temp_c) FROM temperature") == 0

    _let_in(server, refusal, "ingest")

    assert _durable_seq(marks, len(values))
    assert stored(server, "SELECT count(temp_c) FROM temperature") == len(values)
    healthy = httpx.get(f"http://127.0.0.1:{stack.metrics_port}/healthz", timeout=5)
    assert healthy.status_code == 200, healthy.text


@pytest.mark.parametrize("refusal", REFUSALS)
def test_alert_actions_wait_while_influxdb_refuses_alerts(
    locked_stack: ApiStack, refusal: str
) -> None:
    stack, server = locked_stack, locked_stack.influxdb
    assert isinstance(server, LockedInfluxDB)
    settings = influx_account_settings("alerts") | _refuse(server, refusal, "alerts")
    alerts, api = _start_alerts(stack, **settings)
    started = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=20)

    _raise_alert(stack, api, started)

    actions = f"SELECT count(actor) FROM {measurements.ALERT_ACTION}"
    wait_until(lambda: _sample(api, "coldchain_alerts_influx_outbox") > 0, 10, "the actions queued")
    assert stored(server, actions) == 0
    wait_until(
        lambda: "check COLDCHAIN_ALERTS_INFLUX_USERNAME" in alerts.output(), 10, "the log says why"
    )

    _let_in(server, refusal, "alerts")

    wait_until(lambda: stored(server, actions), 20, "the queued actions in InfluxDB")
    wait_until(
        lambda: _sample(api, "coldchain_alerts_influx_outbox") == 0, 10, "the outbox emptied"
    )


def test_retention_is_set_up_by_the_admin_step_only(locked: LockedInfluxDB) -> None:
    [series] = locked.query("", f'SHOW RETENTION POLICIES ON "{locked.database}"')
    durations = {row[0]: row[1] for row in series["values"]}
    assert durations == {"autogen": f"{1827 * 24}h0m0s", "downsampled": f"{1827 * 24}h0m0s"}
    settings = _setup_settings() | influx_account_settings("ingest")

    done = _influx_setup(locked, settings | {"COLDCHAIN_INGEST_RETENTION_DAYS": "3653"})

    assert done.returncode == 2
    assert "only an admin account may create databases and retention policies" in done.stderr
    [series] = locked.query("", f'SHOW RETENTION POLICIES ON "{locked.database}"')
    assert {row[1] for row in series["values"]} == {f"{1827 * 24}h0m0s"}


def test_an_ingest_account_that_may_not_create_the_database_says_what_to_set(
    locked_stack: ApiStack,
) -> None:
    settings = influx_account_settings("ingest") | {"COLDCHAIN_INGEST_INFLUX_CREATE_DB": "true"}
    ingest = locked_stack.ingest(**settings)

    ingest.start()

    wait_until(
        lambda: "COLDCHAIN_INGEST_INFLUX_CREATE_DB=false" in ingest.output(),
        20,
        "ingest to say what to set",
    )
    assert "requires admin privilege" in ingest.output()
