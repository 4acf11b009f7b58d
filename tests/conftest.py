"""Fixtures: real Mosquitto, InfluxDB and PostgreSQL on free ports, and our services as
processes, all from the local stack (`coldchain_devstack`) that `make demo` runs too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coldchain_devstack.servers import InfluxDB, Mosquitto, PostgreSQL
from tests.alertsapi import ApiStack
from tests.fakes import SmtpSink


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    server = InfluxDB(tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgresql() -> Iterator[PostgreSQL]:
    server = PostgreSQL()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database for the alerts service: each test runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/alerts.sqlite3"
    server: PostgreSQL = request.getfixturevalue("postgresql")
    return server.create_database()


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, mosquitto: Mosquitto, influxdb: InfluxDB
) -> Iterator[ApiStack]:
    services = ApiStack(tmp_path, mosquitto, influxdb, f"test_{uuid.uuid4().hex[:12]}")
    yield services
    services.stop()
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for process in [*services.processes, mosquitto]:
            print(f"----- {process.name} ({process.log}) -----\n{process.output()[-6000:]}")


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    """A mail server on loopback that keeps what it is sent (a file may refine it)."""
    with SmtpSink() as sink:
        yield sink
