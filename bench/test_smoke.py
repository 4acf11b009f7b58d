"""A small run of the benchmark suite (bench/run.py): its machinery works, nothing is lost.

Ours and the minimal loop run one step of 200 messages/s for a second, a small
batch and a short alert run, against real servers (memory and the gateway and
compliance scripts are left to the bench). Speed
is not asserted: a shared CI machine cannot promise any. Node-RED runs only
where `make bench` installed it (its npm install is bench-only); otherwise
that test is skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import report, run
from bench.systems import NodeRed


def _smoke(tmp_path: Path, systems: str, skip: str = "") -> tuple[dict[str, Any], str]:
    out = tmp_path / "performance.md"
    argv = ["--smoke", "--systems", systems, "--out", str(out), "--results", str(tmp_path)]
    results = run.main(argv + (["--skip", skip] if skip else []))
    return results, out.read_text()


def _counted(results: dict[str, Any]) -> list[dict[str, int]]:
    (round_,) = results["rounds"]
    counted = [step["counted"] for knee in round_.get("knees", []) for step in knee["steps"]]
    return counted + [entry["counted"] for entry in round_.get("batches", [])]


def test_a_small_run_stores_everything_once_and_writes_the_table(tmp_path: Path) -> None:
    results, document = _smoke(tmp_path, "ours,loop")
    counted = _counted(results)
    assert len(counted) == 4, "a step and a batch run for each system"
    for c in counted:
        assert c["stored"] == c["sent"] > 0 and c["lost"] == 0 and c["duplicated"] == 0, c
    (round_,) = results["rounds"]
    for entry in round_["alerts"]:
        assert entry["events"] > 0, entry
        assert all(stage["missing"] == 0 for stage in entry["stages"].values()), entry
        for stage in entry["stages"].values():
            # A reading goes to the broker at or after its stamp, never before.
            assert 0 < stage["from_sent_p50_s"] <= stage["p50_s"] + 1e-6, entry
            assert 0 < stage["from_sent_p99_s"] <= stage["p99_s"] + 1e-6, entry
    ours = next(e for e in round_["alerts"] if e["system"] == "coldchain ingest")
    assert "stored by the alerts service" in ours["stages"]
    assert "| item | ours vs minimal loop (median ratio; rounds) | ours vs Node-RED |" in document
    assert "1. knee, single-reading messages" in document
    assert list(tmp_path.glob("smoke-*.json")), "raw results written"


@pytest.mark.skipif(not NodeRed.installed(), reason="Node-RED is installed by `make bench` only")
def test_node_red_stores_everything_once(tmp_path: Path) -> None:
    results, _ = _smoke(tmp_path, "node-red", skip="alerts")
    for c in _counted(results):
        assert c["stored"] == c["sent"] > 0 and c["lost"] == 0 and c["duplicated"] == 0, c


def test_the_calibration_is_reported_and_a_moved_one_flagged(tmp_path: Path) -> None:
    results, document = _smoke(tmp_path, "loop", skip="alerts,batches")
    measured = results["calibration"]
    assert {"python", "generator", "influxdb"} <= measured.keys()
    assert "## Calibration" in document
    slower = {
        "python": {"rounds_per_s": measured["python"]["rounds_per_s"] * 1.2},
        "generator": dict(measured["generator"]),
    }
    results["earlier"] = {"date": "then", "results_file": "then.json", "calibration": slower}
    flagged = report.markdown(results)
    assert "differs from the earlier sitting's by more than 15% (python)" in flagged
    results["earlier"]["calibration"] = dict(measured)
    assert "differs from the earlier sitting's" not in report.markdown(results)
