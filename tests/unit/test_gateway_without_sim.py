"""A gateway in a van reads real probes: it runs without the simulator installed, and
finds the simulator's probes, when it is installed, through the gateway's own plugin
interface."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

#: Python that cannot import the simulator, then runs what follows.
WITHOUT_SIM = "import sys; sys.modules['coldchain_sim'] = None\n"


def _python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_SIM + code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_the_gateway_and_its_probe_sources_need_no_simulator() -> None:
    code = "import coldchain_gateway.cli, coldchain_gateway.onewire, coldchain_gateway.ruuvi"
    done = _python(code)
    assert done.returncode == 0, done.stderr


def test_a_simulated_source_without_the_simulator_says_what_to_install(tmp_path: Path) -> None:
    env = {
        "COLDCHAIN_GATEWAY_SITE": "dortmund-hub",
        "COLDCHAIN_GATEWAY_ID": "van-1",
        "COLDCHAIN_GATEWAY_SOURCE": "sim",
        "COLDCHAIN_GATEWAY_OUTBOX": str(tmp_path / "outbox.sqlite3"),
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "400",
    }
    code = "sys.argv = ['coldchain-gateway']\nfrom coldchain_gateway.cli import main\nmain()"
    done = _python(code, env)
    assert done.returncode == 2, done.stderr
    assert "COLDCHAIN_GATEWAY_SOURCE=sim" in done.stderr
    assert "cannot be loaded" in done.stderr


def test_the_simulator_plugs_into_the_gateway_by_its_entry_point() -> None:
    from coldchain_gateway.sources import SourceOptions, SourceUnavailable, plugin

    scenario = Path(__file__).parents[2] / "firmware-sim" / "scenarios" / "dortmund-hub.yaml"
    options = SourceOptions("van-1", scenario.read_text(encoding="utf-8"), 5.0, 60.0, None)
    plugged = plugin("sim")(options)
    sample = plugged.source.sample(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    assert {r.sensor for r in sample.readings} >= {"van-1.chilled", "van-1.frozen"}
    assert sample.state is not None
    with pytest.raises(SourceUnavailable, match="installed plugins: sim"):
        plugin("lorawan")


def test_a_scenario_file_that_cannot_be_read_is_named_not_a_traceback(tmp_path: Path) -> None:
    """The default scenario path is relative to a checkout; started elsewhere (a unit's
    WorkingDirectory) the gateway says which setting to fix."""
    env = {
        "COLDCHAIN_GATEWAY_SITE": "dortmund-hub",
        "COLDCHAIN_GATEWAY_ID": "van-1",
        "COLDCHAIN_GATEWAY_SOURCE": "sim",
        "COLDCHAIN_GATEWAY_SIM_SCENARIO": str(tmp_path / "missing.yaml"),
        "COLDCHAIN_GATEWAY_OUTBOX": str(tmp_path / "outbox.sqlite3"),
        "PATH": "/usr/bin:/bin",
        "COLUMNS": "400",
    }
    code = "from coldchain_gateway.cli import main\nsys.argv = ['coldchain-gateway']\nmain()"
    done = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"COLDCHAIN_GATEWAY_SIM_SCENARIO={tmp_path / 'missing.yaml'}" in done.stderr
    assert "Traceback" not in done.stderr
