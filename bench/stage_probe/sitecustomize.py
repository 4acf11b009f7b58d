"""Timestamps of an alert's way through ingest and the alerts service, for
bench/alert_stages.py; not part of any service.

Python imports `sitecustomize` at start from any folder on PYTHONPATH:
bench/alert_stages.py puts this folder there, and the file named by
BENCH_STAGE_LOG, for the services it starts. This module then wraps a few
methods of the running service (ingest's or the alerts service's, by the
command's name), each of which appends a JSON line with time.time() to that
file. The services' code is unchanged; without BENCH_STAGE_LOG nothing happens.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_PATH = os.environ.get("BENCH_STAGE_LOG")
_LOG = Path(_PATH) if _PATH else None
_lock = threading.Lock()


def _log(stage: str, **fields: Any) -> None:
    line = json.dumps({"stage": stage, "t": time.time(), **fields}, default=str)
    assert _LOG is not None
    with _lock, _LOG.open("a") as out:
        out.write(line + "\n")


def _wrap(owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    original = getattr(owner, name)
    setattr(owner, name, functools.wraps(original)(make(original)))


def _ingest() -> None:
    from coldchain.contract import AlertState
    from coldchain_ingest.pipeline import Pipeline

    started: dict[int, float] = {}

    def start(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Pipeline, batch: list[Any]) -> Any:
            started[id(batch)] = time.time()
            return original(self, batch)

        return run

    def evaluate(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Pipeline, stored: list[Any]) -> Any:
            written = time.time()
            outcome = original(self, stored)
            cut = started.pop(id(stored), None)
            for event in outcome.alerts:
                if event.state is AlertState.UPDATED:
                    continue
                arrived = _arrival(stored, event.sensor, event.at)
                _log(
                    "ingest",
                    key=event.key,
                    state=str(event.state.value),
                    at=event.at.timestamp(),
                    arrived=arrived,
                    cut=cut,
                    written=written,
                    batch=len(stored),
                )
            return outcome

        return run

    def record(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Pipeline, outcome: Any) -> Any:
            keys = [e.key for e in outcome.alerts if e.state is not AlertState.UPDATED]
            if keys:
                _log("ingest-publish", keys=keys)
            return original(self, outcome)

        return run

    _wrap(Pipeline, "_start", start)
    _wrap(Pipeline, "_evaluate", evaluate)
    _wrap(Pipeline, "_record", record)


def _time_statements(engine: Any, local: threading.local) -> None:
    """Count the statements of the storing transaction (on its thread), their time, and
    when its commit was asked for."""
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def before(*_: Any) -> None:
        local.began = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(*_: Any) -> None:
        if getattr(local, "statements", None) is not None:
            local.statements += 1
            local.in_database += time.perf_counter() - local.began

    @event.listens_for(engine, "commit")
    def commit(*_: Any) -> None:
        if getattr(local, "statements", None) is not None:
            local.commit = time.time()


def _arrival(batch: list[Any], sensor: str, at: Any) -> float | None:
    """When ingest received the message holding `sensor`'s reading at `at`."""
    for accepted in batch:
        if any(r.sensor == sensor and r.ts == at for r in accepted.telemetry.readings):
            return float(accepted.inbound.received_at.timestamp())
    return None


def _alerts() -> None:
    from coldchain_alerts.consumer import AlertConsumer
    from coldchain_alerts.escalation import Escalator
    from coldchain_alerts.notify import Notifier
    from coldchain_alerts.service import AlertsService

    def message(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: AlertConsumer, client: Any, userdata: Any, msg: Any) -> Any:
            try:
                event = json.loads(msg.payload)
                _log("received", key=event.get("key"), state=event.get("state"))
            except ValueError:
                pass
            return original(self, client, userdata, msg)

        return run

    local = threading.local()

    def handle(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: AlertsService, events: Any) -> Any:
            if not getattr(self, "_probed", False):
                _time_statements(self.engine, local)
                self._probed = True  # type: ignore[attr-defined]
            local.statements, local.in_database, local.commit = 0, 0.0, None
            began = time.time()
            result = original(self, events)
            keys = [[e.key, str(e.state.value)] for e in events]
            _log(
                "committed",
                began=began,
                keys=keys,
                statements=local.statements,
                in_database=local.in_database,
                commit=local.commit,
            )
            local.statements = None
            return result

        return run

    def escalate(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Escalator, site: str, now: Any = None) -> Any:
            _log("run-queued", site=site)
            return original(self, site, now)

        return run

    def send_due(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Escalator, site: str, now: Any) -> Any:
            _log("pass-started", site=site)
            return original(self, site, now)

        return run

    def send(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: Notifier, notice: Any, recipient: Any) -> Any:
            ids = [line.alert_id for line in notice.alerts]
            _log("sending", ids=ids)
            result = original(self, notice, recipient)
            _log("sent", ids=ids)
            return result

        return run

    _wrap(AlertConsumer, "_on_message", message)
    _wrap(AlertsService, "handle_events", handle)
    _wrap(Escalator, "run", escalate)
    _wrap(Escalator, "_send_due", send_due)
    _wrap(Notifier, "send", send)


if _PATH:
    command = Path(sys.argv[0]).name
    if command == "coldchain-ingest":
        _ingest()
    elif command == "coldchain-alerts":
        _alerts()
