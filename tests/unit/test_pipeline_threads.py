"""The ingest pipeline's two threads: a failure in the collecting one stops the service.

The pipeline collects and validates on one thread and stores on another. If
the collecting thread died on an error nobody foresaw, the storing thread
would wait for batches forever and the service would look alive while storing
nothing; instead `run` raises, and the process exits to be restarted. Nothing
here talks to a server: the failure comes before any message would be stored.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from coldchain.engine import EngineState, RuleEngine
from coldchain.fleet import Fleet
from coldchain_ingest.broker import Broker, Inbound
from coldchain_ingest.influx import Influx
from coldchain_ingest.pipeline import Pipeline
from coldchain_ingest.settings import IngestSettings
from coldchain_ingest.state import StateStore

REPO = Path(__file__).resolve().parents[2]


def test_a_failure_while_collecting_ends_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = IngestSettings(fleet=REPO / "fleet" / "dortmund-hub.yaml", state=tmp_path / "s.db")
    fleet = Fleet.from_yaml(settings.fleet.read_text())
    broker = Broker(settings)
    pipeline = Pipeline(
        settings,
        fleet,
        Influx("http://127.0.0.1:9", "unused"),
        broker,
        RuleEngine(fleet, EngineState(started_at=datetime.now(UTC))),
        StateStore(settings.state),
    )

    def broken(inbound: Inbound) -> None:
        raise RuntimeError("a bug in validation")

    monkeypatch.setattr(pipeline, "_validate", broken)
    topic = "coldchain/v1/dortmund-hub/cold-room-1/telemetry"
    broker.inbox.put(Inbound(topic, b"{}", 1, 1, datetime.now(UTC), time.monotonic()))
    raised: list[BaseException] = []

    def run() -> None:
        try:
            pipeline.run()
        except RuntimeError as exc:
            raised.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "run() kept waiting for batches that never come"
    assert [str(exc) for exc in raised] == ["a bug in validation"]
