"""The alerts API against its own OpenAPI document, and against injection strings.

Schemathesis generates requests for every operation the service publishes in
/openapi.json, valid and invalid ones, and checks each answer: no 5xx, a
documented status code and content type, and a body that conforms to the
response schema. The service runs in this process under a real uvicorn on a
free port, with its consumer on a real Mosquitto and alerts already stored.

There is no login yet, so there is nothing to rate limit: that test waits for it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import paho.mqtt.client as mqtt
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError
from schemathesis import GenerationMode

from coldchain import topics
from coldchain.contract import AlertEvent, AlertState, Severity
from coldchain_alerts.main import create_app
from coldchain_alerts.settings import AlertsSettings
from servers import Mosquitto, free_port, wait_until

SITE = "dortmund-hub"
STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
INJECTIONS = [
    "' OR 1=1 --",
    "'; DROP TABLE alert; --",
    '" OR ""="',
    "<script>alert(1)</script>",
    "{{7*7}}",
    "${7*7}",
    "../../etc/passwd",
    "nul\x00byte",
    "%00",
    "\u202eevil",
    "\\",
]


@dataclass
class AlertsService:
    url: str
    database: Path
    mqtt_port: int

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, timeout=10)

    def alerts(self) -> list[dict[str, Any]]:
        response = self.get("/api/v1/alerts", limit=1000)
        assert response.status_code == 200, response.text
        alerts: list[dict[str, Any]] = response.json()
        return alerts

    def publish(self, *payloads: bytes) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.connect("127.0.0.1", self.mqtt_port)
        client.loop_start()
        try:
            for payload in payloads:
                info = client.publish(topics.alerts(SITE), payload, qos=1)
                info.wait_for_publish(timeout=10)
                assert info.is_published()
        finally:
            client.disconnect()
            client.loop_stop()


def _event(key: str, rule: str = "over_max", **fields: Any) -> AlertEvent:
    values: dict[str, Any] = {
        "key": key,
        "state": AlertState.RAISED,
        "rule": rule,
        "severity": Severity.CRITICAL,
        "site": SITE,
        "asset": "van-2-chilled",
        "sensor": "van-2.chilled",
        "started_at": STARTED,
        "at": STARTED + timedelta(minutes=15),
        "value_c": 8.5,
        "peak_c": 8.5,
        "limit_c": 6.0,
        "delay_s": 900,
    }
    return AlertEvent.model_validate(values | fields)


SEED_EVENTS = [
    _event("over_max/van-2.chilled/1"),
    _event("over_max/van-2.chilled/1", state=AlertState.CLEARED, duration_s=600, degree_minutes=9),
    _event("door_open/van-2-chilled/2", rule="door_open", severity=Severity.WARNING, sensor=None),
    _event(
        "battery_low/van-2/3",
        rule="battery_low",
        severity=Severity.WARNING,
        asset=None,
        sensor=None,
        gateway="van-2",
        value_c=None,
        peak_c=None,
        limit_c=None,
    ),
]


@pytest.fixture
def service(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[AlertsService]:
    database = tmp_path / "alerts.sqlite3"
    settings = AlertsSettings(
        database_url=f"sqlite:///{database}",
        mqtt_port=mosquitto.port,
        mqtt_client_id=f"alerts-{uuid.uuid4().hex[:8]}",
    )
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="alerts-api", daemon=True)
    thread.start()
    running = AlertsService(f"http://127.0.0.1:{port}", database, mosquitto.port)
    wait_until(lambda: _healthy(running), 20, "the alerts service to be healthy")
    running.publish(*(event.model_dump_json().encode() for event in SEED_EVENTS))
    seeded = len({event.key for event in SEED_EVENTS})
    wait_until(lambda: len(running.alerts()) == seeded, 10, "the seed alerts")
    yield running
    server.should_exit = True
    thread.join(timeout=15)
    assert not thread.is_alive(), "uvicorn did not stop"


def _healthy(service: AlertsService) -> bool:
    try:
        return service.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


# Schemathesis generates the requests and judges the answers; httpx sends them. Its own
# pytest integration (`schemathesis.pytest.from_fixture`) fails on pytest 9.2 (it sets
# `Function._nodeid`, gone in pytest 9), and its requests-based transport fails once
# urllib3-future replaces urllib3 (niquests brings it), so neither is used here.
OPERATIONS = [
    pytest.param("GET", "/api/v1/alerts", GenerationMode.POSITIVE, id="alerts-valid"),
    pytest.param("GET", "/api/v1/alerts", GenerationMode.NEGATIVE, id="alerts-invalid"),
    pytest.param("GET", "/healthz", GenerationMode.POSITIVE, id="healthz"),
    pytest.param("GET", "/metrics", GenerationMode.POSITIVE, id="metrics"),
]


def _openapi(service: AlertsService) -> dict[str, Any]:
    document: dict[str, Any] = service.get("/openapi.json").json()
    return document


@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS)
def test_every_operation_answers_within_its_schema(
    service: AlertsService, method: str, path: str, mode: GenerationMode
) -> None:
    operation = schemathesis.openapi.from_dict(_openapi(service))[path][method]

    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def answers_within_schema(case: schemathesis.Case) -> None:
        request = case.as_transport_kwargs(base_url=service.url)
        response = httpx.request(
            request["method"],
            request["url"],
            params=request["params"],
            headers=request["headers"],
            cookies=request["cookies"],
            timeout=10,
        )
        case.validate_response(response)

    answers_within_schema()


def test_schema_lists_the_operations_we_serve(service: AlertsService) -> None:
    paths = _openapi(service)["paths"]
    assert sorted(paths) == sorted(
        {path for _method, path, _mode in (p.values for p in OPERATIONS)}
    )
    assert all(list(operations) == ["get"] for operations in paths.values())


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_in_parameters_are_refused_and_change_nothing(
    service: AlertsService, text: str
) -> None:
    before = service.alerts()
    for params in ({"status": text}, {"limit": text}, {"status": "open", "limit": text}):
        response = service.get("/api/v1/alerts", **params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/json"
    for path in (f"/api/v1/alerts/{quote(text, safe='')}", f"/{quote(text, safe='')}"):
        assert service.get(path).status_code == 404, path
    assert service.get("/healthz", status=text).status_code == 200
    assert service.get("/metrics", status=text).status_code == 200
    assert service.alerts() == before


def test_injection_strings_in_alert_events_are_stored_verbatim_or_refused(
    service: AlertsService,
) -> None:
    hostile = [
        _event(f"x-{field}-{n}").model_dump(mode="json") | {field: text}
        for n, text in enumerate(INJECTIONS)
        for field in ("key", "rule", "site", "asset", "sensor", "gateway", "severity", "state")
    ]
    valid = [event for event in hostile if _valid(event)]
    assert valid, "some strings are valid keys and must be stored as they are"
    sentinel = _event("sentinel")
    service.publish(
        *(json.dumps(event).encode() for event in hostile),
        sentinel.model_dump_json().encode(),
    )
    # Events are handled in order: once the last one is stored, the refused ones were seen.
    wait_until(lambda: "sentinel" in _keys(service), 10, "the last event")

    seeded = {event.key for event in SEED_EVENTS}
    assert _keys(service) == seeded | {event["key"] for event in valid} | {"sentinel"}
    metrics = service.get("/metrics").text
    assert f"coldchain_alerts_events_total {len(SEED_EVENTS) + len(valid) + 1}.0" in metrics


def _valid(document: dict[str, object]) -> bool:
    try:
        AlertEvent.model_validate(document)
    except ValidationError:
        return False
    return True


def _keys(service: AlertsService) -> set[str]:
    with closing(sqlite3.connect(service.database)) as db:
        return {key for (key,) in db.execute("SELECT key FROM alert")}


@pytest.mark.skip(reason="There is no login yet: nothing to rate limit. Test it with the login.")
def test_login_is_rate_limited() -> None:
    raise AssertionError("write this test together with the login")
