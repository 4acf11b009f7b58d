"""Partners against the real alerts service and a real webhook receiver on loopback.

The service runs by its console command; partners are added and revoked with
`coldchain-alerts partner`, as an operator does. The receiver is an http.server in a
thread that checks each request's HMAC signature and Idempotency-Key and answers
what the test tells it to (500 first, say).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy import select

from coldchain.signatures import canonical_sha256
from coldchain_alerts.auth import Role
from coldchain_alerts.db import make_engine, make_sessionmaker
from coldchain_alerts.models import PartnerDelivery
from coldchain_devstack import BIN
from coldchain_devstack.servers import InfluxDB, Process, free_port, wait_until
from tests.alertsapi import AlertsApi, ApiStack, token_for
from tests.hubkeys import HANDOVER, HubKey, certificate, file_text, new_key, sign, write_key_list
from tests.signed import make_hub

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SCHEMA = json.loads((ROOT / "docs" / "partner-webhook.v1.schema.json").read_text())
API_SCHEMA = json.loads((ROOT / "docs" / "partner-api.v1.schema.json").read_text())


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A partner's webhook endpoint: answers `answers` in turn, then 200."""

    port: int
    answers: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/coldchain"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                receiver.received.append(Received(dict(self.headers.items()), body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@dataclass
class Hub:
    stack: ApiStack
    key: HubKey
    keys: Path
    process: Process
    api: AlertsApi

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            "COLDCHAIN_ALERTS_DATABASE_URL": self.stack.alerts_database,
            "COLDCHAIN_ALERTS_PARTNER_WEBHOOK_HTTP_LOOPBACK": "true",
            "PATH": "/usr/bin:/bin",
        }
        return subprocess.run(
            [str(BIN / "coldchain-alerts"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def add_partner(self, partner_id: str, webhook_url: str | None = None) -> dict[str, str]:
        args = ["partner", "add", partner_id, "--name", f"Küche {partner_id}"]
        done = self.cli(*args, *(["--webhook-url", webhook_url] if webhook_url else []))
        assert done.returncode == 0, done.stdout + done.stderr
        return dict(line.split("=", 1) for line in done.stdout.split())

    def post(self, partner: str, text: str | bytes) -> httpx.Response:
        return httpx.post(
            f"{self.api.url}/api/v1/deliveries",
            params={"partner": partner},
            content=text,
            headers=self.api.headers | {"Content-Type": "application/json"},
            timeout=10,
        )

    def partner_get(self, key: str, path: str, **params: Any) -> httpx.Response:
        return httpx.get(
            f"{self.api.url}/partner/v1{path}",
            params=params,
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )

    def restart(self, **settings: str) -> None:
        self.process.stop()
        self.process = _start(self.stack, self.keys, **settings)


def _start(stack: ApiStack, keys: Path | None, **settings: str) -> Process:
    process = stack.alerts(
        COLDCHAIN_ALERTS_INFLUX_URL="",
        COLDCHAIN_ALERTS_PUBLIC_KEYS=str(keys) if keys else "",
        COLDCHAIN_ALERTS_PARTNER_WEBHOOK_HTTP_LOOPBACK="true",
        COLDCHAIN_ALERTS_PARTNER_WEBHOOK_RETRY_S="0.2",
        COLDCHAIN_ALERTS_PARTNER_WEBHOOK_RETRY_MAX_S="1",
        COLDCHAIN_ALERTS_PARTNER_WEBHOOK_TIMEOUT_S="2",
        **settings,
    )
    process.start()
    url = f"http://127.0.0.1:{stack.alerts_port}/healthz"
    wait_until(lambda: _answers(url), 30, "the alerts service to serve")
    return process


def _answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture
def hub(stack: ApiStack) -> Iterator[Hub]:
    key = new_key()
    keys = write_key_list(stack.directory / "hub.pub", key)
    token = token_for(stack.alerts_database, "dispatch", Role.OFFICER)
    process = _start(stack, keys)
    yield Hub(stack, key, keys, process, AlertsApi(f"http://127.0.0.1:{stack.alerts_port}", token))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(free_port())
    server.start()
    yield server
    server.stop()


def _webhook_states(hub: Hub) -> set[str]:
    engine = make_engine(hub.stack.alerts_database)
    try:
        with make_sessionmaker(engine)() as session:
            return set(session.scalars(select(PartnerDelivery.webhook_state)))
    finally:
        engine.dispose()


def _checked(request: Received, secret: str) -> dict[str, Any]:
    """The body of a webhook request whose signature holds, as docs/partners.md checks it."""
    fields = dict(part.split("=", 1) for part in request.headers["Coldchain-Signature"].split(","))
    mac = hmac.new(secret.encode(), fields["t"].encode() + b"." + request.body, hashlib.sha256)
    assert hmac.compare_digest(mac.hexdigest(), fields["v1"])
    assert abs(time.time() - int(fields["t"])) < 300
    body: dict[str, Any] = json.loads(request.body)
    jsonschema.Draft202012Validator(WEBHOOK_SCHEMA).validate(body)
    assert request.headers["Idempotency-Key"] == body["id"]
    return body


def test_a_partner_sees_only_its_own_deliveries(hub: Hub) -> None:
    kitchen = hub.add_partner("kueche-nord")
    platform = hub.add_partner("boerse")
    text = file_text(sign(certificate("LS-4711"), hub.key))
    stored = hub.post("kueche-nord", text)
    assert stored.status_code == 201, stored.text
    delivery_id = stored.json()["id"]

    own = hub.partner_get(kitchen["api_key"], "/deliveries")
    assert own.status_code == 200
    jsonschema.Draft202012Validator(API_SCHEMA).validate(own.json())
    assert [d["delivery"] for d in own.json()["deliveries"]] == ["LS-4711"]
    exact = hub.partner_get(kitchen["api_key"], f"/deliveries/{delivery_id}")
    assert exact.status_code == 200 and exact.text == text

    assert hub.partner_get(platform["api_key"], "/deliveries").json()["deliveries"] == []
    other = hub.partner_get(platform["api_key"], f"/deliveries/{delivery_id}")
    assert other.status_code == 404 and "detail" in other.json()


def test_pages_go_from_newest_to_oldest(hub: Hub) -> None:
    kitchen = hub.add_partner("kueche-sued")
    for number in range(5):
        assert hub.post(
            "kueche-sued", file_text(sign(certificate(f"LS-{number}"), hub.key))
        ).is_success
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = hub.partner_get(kitchen["api_key"], "/deliveries", **params).json()
        seen += [d["delivery"] for d in page["deliveries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["LS-4", "LS-3", "LS-2", "LS-1", "LS-0"]


def test_a_revoked_partner_is_refused_at_once(hub: Hub, receiver: Receiver) -> None:
    receiver.answers = [500] * 1000
    kitchen = hub.add_partner("kueche-ost", receiver.url)
    assert hub.post("kueche-ost", file_text(sign(certificate(), hub.key))).status_code == 201
    wait_until(lambda: receiver.received, 10, "a first webhook attempt")

    done = hub.cli("partner", "revoke", "kueche-ost")
    assert done.returncode == 0, done.stdout + done.stderr

    refused = hub.partner_get(kitchen["api_key"], "/deliveries")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    again = hub.post("kueche-ost", file_text(sign(certificate(), hub.key)))
    assert again.status_code == 409 and "revoked" in again.json()["detail"]
    assert _webhook_states(hub) == {"stopped"}
    tried = len(receiver.received)
    # Retries came every 0.2 s to 1 s; none comes any more (one may have been under way).
    with pytest.raises(AssertionError):
        wait_until(lambda: len(receiver.received) > tried + 1, 4, "no more attempts")


def test_the_same_certificate_is_stored_once_and_sent_once(hub: Hub, receiver: Receiver) -> None:
    kitchen = hub.add_partner("kueche-west", receiver.url)
    signed = sign(certificate("LS-1"), hub.key)
    first = hub.post("kueche-west", file_text(signed))
    second = hub.post("kueche-west", json.dumps(signed, separators=(",", ":")))
    assert (first.status_code, second.status_code) == (201, 200), second.text
    assert first.json()["id"] == second.json()["id"] == canonical_sha256(signed)
    assert second.json()["new"] is False

    wait_until(lambda: receiver.received, 10, "the webhook")
    body = _checked(receiver.received[0], kitchen["webhook_secret"])
    assert body["certificate"] == signed and body["delivery"] == "LS-1"
    listed = hub.partner_get(kitchen["api_key"], "/deliveries").json()["deliveries"]
    assert len(listed) == 1
    with pytest.raises(AssertionError):
        wait_until(lambda: len(receiver.received) > 1, 3, "a second webhook")


def test_a_500_is_retried_with_the_same_idempotency_key(hub: Hub, receiver: Receiver) -> None:
    receiver.answers = [500, 503]
    kitchen = hub.add_partner("kueche-mitte", receiver.url)
    assert hub.post("kueche-mitte", file_text(sign(certificate(), hub.key))).status_code == 201
    wait_until(lambda: len(receiver.received) == 3, 15, "two retries")
    keys = {request.headers["Idempotency-Key"] for request in receiver.received}
    assert len(keys) == 1
    for request in receiver.received:
        _checked(request, kitchen["webhook_secret"])
    listed = hub.cli("partner", "list").stdout
    assert "kueche-mitte" in listed and "webhook failed" not in listed


def test_a_4xx_stops_with_the_reason_shown(hub: Hub, receiver: Receiver) -> None:
    receiver.answers = [400]
    hub.add_partner("kueche-4xx", receiver.url)
    assert hub.post("kueche-4xx", file_text(sign(certificate("LS-9"), hub.key))).status_code == 201
    wait_until(lambda: "webhook failed" in hub.cli("partner", "list").stdout, 15, "the failure")
    assert "answered 400" in hub.cli("partner", "list").stdout
    assert len(receiver.received) == 1


def test_a_receiver_down_across_a_restart_gets_the_delivery(hub: Hub) -> None:
    receiver = Receiver(free_port())
    kitchen = hub.add_partner("kueche-spaet", receiver.url)
    assert (
        hub.post("kueche-spaet", file_text(sign(certificate("LS-7"), hub.key))).status_code == 201
    )
    # Let the service fail at least once against the closed port, then stop it.
    log = hub.process.log
    wait_until(lambda: "cannot reach" in log.read_text(), 15, "a failed attempt")
    hub.process.stop()
    receiver.start()
    try:
        hub.restart()
        wait_until(lambda: receiver.received, 15, "the webhook after the restart")
        assert _checked(receiver.received[0], kitchen["webhook_secret"])["delivery"] == "LS-7"
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (lambda key: {**sign(certificate(), key), "max_c": 12.5}, "does not match the contents"),
        (
            lambda key: sign(certificate(issued_at=HANDOVER.replace(minute=29)), key),
            "preliminary",
        ),
        (lambda key: sign(certificate(), new_key()), "does not hold"),
        (lambda key: {"kind": "coldchain.compliance-report"}, "not a delivery certificate"),
        (lambda key: "not json at all", "not JSON"),
    ],
)
def test_a_certificate_that_is_not_final_and_signed_is_refused(  # type: ignore[no-untyped-def]
    hub: Hub, document, reason
) -> None:
    hub.add_partner("kueche")
    made = document(hub.key)
    answer = hub.post("kueche", made if isinstance(made, str) else file_text(made))
    assert answer.status_code == 422, answer.text
    assert reason in answer.json()["detail"]


def test_without_a_key_list_every_certificate_is_refused(stack: ApiStack) -> None:
    token = token_for(stack.alerts_database, "dispatch", Role.OFFICER)
    process = _start(stack, None)
    hub = Hub(
        stack,
        new_key(),
        Path("/nonexistent"),
        process,
        AlertsApi(f"http://127.0.0.1:{stack.alerts_port}", token),
    )
    hub.add_partner("kueche")
    answer = hub.post("kueche", file_text(sign(certificate(), hub.key)))
    assert answer.status_code == 422
    assert "no key list configured" in answer.json()["detail"]


def test_unknown_partners_and_roles_are_refused(hub: Hub) -> None:
    text = file_text(sign(certificate(), hub.key))
    assert hub.post("nobody", text).status_code == 404
    auditor = token_for(hub.stack.alerts_database, "inspector", Role.AUDITOR)
    answer = httpx.post(
        f"{hub.api.url}/api/v1/deliveries",
        params={"partner": "nobody"},
        content=text,
        headers={"Authorization": f"Bearer {auditor}"},
        timeout=10,
    )
    assert answer.status_code == 403


def test_failed_keys_are_throttled(hub: Hub) -> None:
    kitchen = hub.add_partner("kueche")
    answers = [hub.partner_get(f"ccp_guess{n}", "/deliveries").status_code for n in range(8)]
    assert answers[0] == 401 and answers[-1] == 429
    # The partner's own key still works from the same address.
    assert hub.partner_get(kitchen["api_key"], "/deliveries").status_code == 200


def test_an_http_webhook_url_is_refused_without_the_loopback_setting(hub: Hub) -> None:
    done = hub.cli("partner", "add", "plain", "--name", "x", "--webhook-url", "http://example.org/")
    assert done.returncode == 2 and "https://" in done.stdout


def test_a_certificate_coldchain_report_made_reaches_the_partner_unchanged(
    stack: ApiStack, influxdb: InfluxDB, receiver: Receiver
) -> None:
    """The whole path with the real tools: `coldchain-report certificate` signs it from
    InfluxDB's readings, the hub posts the file, the partner's webhook receives it, and
    `coldchain-report verify --key` accepts what arrived, with no database."""
    directory = stack.directory / "reports"
    directory.mkdir()
    reports = make_hub(influxdb, directory)
    _, made = reports.certificate()
    text = made.read_bytes()
    note = json.loads(text)["delivery"]["delivery_note"]
    token = token_for(stack.alerts_database, "dispatch", Role.OFFICER)
    hub = Hub(
        stack,
        new_key(),
        reports.keys,
        _start(stack, reports.keys),
        AlertsApi(f"http://127.0.0.1:{stack.alerts_port}", token),
    )
    kitchen = hub.add_partner("kantine-mengede", receiver.url)

    stored = hub.post("kantine-mengede", text)
    assert stored.status_code == 201, stored.text
    wait_until(lambda: receiver.received, 15, "the webhook")
    body = _checked(receiver.received[0], kitchen["webhook_secret"])

    arrived = directory / "arrived.json"
    arrived.write_text(file_text(body["certificate"]), encoding="utf-8")
    assert arrived.read_bytes() == text, "written as coldchain-report writes it: the same bytes"
    assert body["id"] == stored.json()["id"] == canonical_sha256(json.loads(text))
    assert body["delivery"] == note
    exact = hub.partner_get(kitchen["api_key"], f"/deliveries/{body['id']}")
    assert exact.content == text
    listed = hub.partner_get(kitchen["api_key"], "/deliveries").json()["deliveries"]
    assert [d["delivery"] for d in listed] == [note]
    output = reports.run("verify", str(arrived), "--key", str(reports.keys), offline=True)
    assert output.startswith("verified: delivery certificate of van-1.chilled"), output
