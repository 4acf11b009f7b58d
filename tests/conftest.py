"""Fixtures: real Mosquitto, InfluxDB and PostgreSQL on free ports, and our services as
processes, all from the local stack (`coldchain_devstack`) that `make demo` runs too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

from coldchain_devstack.servers import InfluxDB, Mosquitto, PostgreSQL
from tests.alertsapi import ApiStack
from tests.fakes import SmtpSink

#: Tests that `--dist loadfile` hands out one by one, not with the rest of their file:
#: each starts what it needs, and together they are a fifth of the integration layer's
#: time (about 260 of 1350 test-seconds), which on one pytest worker decided the
#: layer's end while the other workers idled.
SPREAD = ("tests/integration/test_alerts_api_schema.py::test_every_operation_answers",)


class _FilesButSpread(LoadFileScheduling):
    def _split_scope(self, nodeid: str) -> str:
        return nodeid if nodeid.startswith(SPREAD) else super()._split_scope(nodeid)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") == "loadfile":
        return _FilesButSpread(config, log)
    return None


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
