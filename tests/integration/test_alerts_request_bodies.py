"""Request bodies the alerts service will not read: too large, or from nobody.

A hostile review drove the service to 6 GB RSS with one unauthenticated 1 GB body:
FastAPI read and parsed it before anything checked the caller. Here the attack is
sent over a raw connection, as an attacker would: the body is announced (or
streamed in chunks) but never finished. The service must answer without waiting
for the rest: 401 to a request without a valid token, 413 once a body is larger
than COLDCHAIN_ALERTS_MAX_BODY_BYTES (before reading it, when Content-Length says
so), close the connection, and serve the next request. The pages' forms get the
same limit and limits on their fields. The service runs by its console command.
"""

from __future__ import annotations

import importlib
import pkgutil
import select
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import h11
import httpx
import pytest

from coldchain_alerts.api import routes
from coldchain_alerts.api.deps import TokenRoute
from coldchain_alerts.auth import Role
from coldchain_alerts.bodies import LimitedRoute
from coldchain_alerts.web import fleet as fleet_pages
from coldchain_alerts.web import pages
from coldchain_devstack.servers import wait_until
from tests.alertsapi import AlertsApi, ApiStack, add_user, csrf_of

MAX_BODY = 1024 * 1024
GIGABYTE = 1024**3
CHUNK = 64 * 1024
#: How long a request waits for an answer to its head alone before it sends its body.
EARLY_ANSWER_S = 1.0
OFFICER, PASSWORD = "anna", "kuehlkette-nachts-3"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool
    """The service closed the connection after answering: it will read no more of the body."""


@dataclass
class Running:
    port: int
    api: AlertsApi

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Iterable[bytes] = (),
        length: int | None = None,
    ) -> Answer:
        """Send the head and the parts of `body`, never the body's end; read the answer.

        With `length` the head says Content-Length: length, else the body is chunked.
        """
        framing = {"Content-Length": str(length)} if length is not None else {}
        framing = framing or {"Transfer-Encoding": "chunked"}
        head = {"Host": f"127.0.0.1:{self.port}"} | framing | headers
        client = h11.Connection(h11.CLIENT)
        with socket.create_connection(("127.0.0.1", self.port), timeout=15) as sock:
            sock.sendall(
                client.send(h11.Request(method=method, target=path, headers=list(head.items())))
            )
            # A service that refuses on the head answers and closes at once: sending the
            # body then would meet a closed socket, and its answer could be lost.
            answered, _, _ = select.select([sock], [], [], EARLY_ANSWER_S)
            if not answered:
                for part in body:
                    sock.sendall(client.send(h11.Data(data=part)))
            return _answer(client, sock)

    def serves(self) -> bool:
        return self.api.get("/api/v1/me").status_code == 200


def _answer(client: h11.Connection, sock: socket.socket) -> Answer:
    """Read the answer; the socket's timeout fails the test if none comes (the service waits
    for the rest of the body)."""
    response: h11.Response | None = None
    body = b""
    while True:
        event = client.next_event()
        if event is h11.NEED_DATA:
            client.receive_data(sock.recv(CHUNK))
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
    assert response is not None
    sock.settimeout(5)
    try:
        closed = sock.recv(CHUNK) == b""
    except TimeoutError:
        closed = False
    headers = {name.decode(): value.decode() for name, value in response.headers}
    return Answer(response.status_code, headers, body, closed)


def _json_body(size: int) -> Iterator[bytes]:
    """A JSON document of `size` bytes, in parts: a comment of x's."""
    yield b'{"comment": "'
    left = size - len(b'{"comment": "') - len(b'"}')
    while left > 0:
        part = min(left, CHUNK)
        yield b"x" * part
        left -= part
    yield b'"}'


def _form_body(size: int) -> Iterator[bytes]:
    """A login form of `size` bytes, in parts: the fields, then separators of no field,
    which no limit on fields counts."""
    yield b"username=anna&password=x"
    left = size - len(b"username=anna&password=x")
    while left > 0:
        part = min(left, CHUNK)
        yield b"&" * part
        left -= part


@pytest.fixture
def alerts(stack: ApiStack) -> Running:
    add_user(stack.alerts_database, OFFICER, Role.OFFICER, PASSWORD)
    stack.alerts(COLDCHAIN_ALERTS_INFLUX_URL="").start()
    running = Running(stack.alerts_port, stack.alerts_api)
    wait_until(lambda: _up(running), 30, "the alerts service to serve")
    return running


def _up(running: Running) -> bool:
    try:
        return running.serves()
    except httpx.HTTPError:
        return False


JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer cct_unknown", "Basic YW5uYTpwYXNzd29yZA=="]
)
def test_without_a_valid_token_the_body_is_not_read(
    alerts: Running, authorization: str | None
) -> None:
    credentials = {"Authorization": authorization} if authorization else {}
    # The gigabyte streams in chunks; only its first part is ever sent.
    chunked = alerts.request(
        "POST", "/api/v1/alerts/1/acknowledge", JSON | credentials, _json_body(CHUNK)
    )
    # A body within the limit is announced, and not one byte of it sent.
    announced = alerts.request("POST", "/api/v1/contacts", JSON | credentials, length=MAX_BODY // 2)
    for answer in (chunked, announced):
        assert answer.status == 401, answer.body
        assert b"token" in answer.body and answer.headers["www-authenticate"] == "Bearer"
        assert answer.closed
    assert alerts.serves()


def test_an_announced_body_over_the_limit_is_refused_before_it_is_read(alerts: Running) -> None:
    token = alerts.api.headers
    for credentials in (token, {}):
        answer = alerts.request(
            "POST", "/api/v1/alerts/1/acknowledge", JSON | credentials, length=GIGABYTE
        )
        assert answer.status == 413, answer.body
        assert answer.headers["content-type"] == "application/json"
        assert f"larger than {MAX_BODY} bytes".encode() in answer.body
        assert answer.closed
    assert alerts.serves()
    metrics = httpx.get(f"{alerts.url}/metrics", timeout=10).text
    assert 'coldchain_alerts_requests_refused_total{reason="body_too_large"} 2.0' in metrics


def test_a_streamed_body_is_refused_once_it_passes_the_limit(alerts: Running) -> None:
    # The body would be a gigabyte; the service must answer once it has MAX_BODY + 1 bytes.
    body = _json_body(GIGABYTE)
    sent = 0

    def up_to_the_limit() -> Iterator[bytes]:
        nonlocal sent
        for part in body:
            yield part[: MAX_BODY + 1 - sent]
            sent += len(part)
            if sent > MAX_BODY:
                return

    answer = alerts.request(
        "POST", "/api/v1/alerts/1/acknowledge", JSON | alerts.api.headers, up_to_the_limit()
    )
    assert answer.status == 413, answer.body
    assert answer.headers["content-type"] == "application/json"
    assert answer.closed
    assert alerts.serves()


def test_a_body_within_the_limit_is_read(alerts: Running) -> None:
    answer = alerts.api.post("/api/v1/contacts", {"name": "Schichtleitung"})
    assert answer.status_code == 201, answer.text
    # Just under the limit: read, and refused for what it says (422), not for its size.
    answer = alerts.request(
        "POST",
        "/api/v1/alerts/1/acknowledge",
        JSON | alerts.api.headers,
        _json_body(MAX_BODY),
        length=MAX_BODY,
    )
    assert answer.status == 422, answer.body
    assert b"at most 4000 characters" in answer.body


@pytest.mark.parametrize("streamed", [False, True])
def test_a_form_over_the_limit_gets_a_page_saying_so(alerts: Running, streamed: bool) -> None:
    if streamed:
        answer = alerts.request("POST", "/login", FORM, _form_body(MAX_BODY + 1))
    else:
        answer = alerts.request("POST", "/login", FORM, length=GIGABYTE)
    assert answer.status == 413, answer.body
    assert answer.headers["content-type"].startswith("text/html")
    assert "Anfrage zu groß".encode() in answer.body
    assert answer.closed
    assert alerts.serves()


@pytest.mark.parametrize(
    ("name", "form", "files"),
    [
        ("eleven fields", {f"f{n}": "x" for n in range(11)}, None),
        ("a field over 64 KiB", {"username": "anna", "password": "x" * (65 * 1024)}, None),
        ("a file", {"username": "anna", "password": "x"}, {"upload": ("a.txt", b"x" * 10)}),
    ],
)
def test_forms_are_limited_in_fields_and_files(
    alerts: Running, name: str, form: dict[str, str], files: dict[str, tuple[str, bytes]] | None
) -> None:
    with httpx.Client(base_url=alerts.url, timeout=10) as browser:
        data = form | {"csrf": csrf_of(browser.get("/login"))}
        answer = browser.post("/login", data=data, files=files)
        assert answer.status_code == 400, (name, answer.text[-1000:])
        assert answer.headers["content-type"].startswith("text/html")
    assert alerts.serves()


def test_every_route_reads_its_body_through_the_limit_and_the_api_after_the_token() -> None:
    """A router made without its route class would read any body from anyone."""
    modules = [
        importlib.import_module(f"{routes.__name__}.{module.name}")
        for module in pkgutil.iter_modules(routes.__path__)
    ]
    for module in [*modules, pages, fleet_pages]:
        for route in module.router.routes:
            assert isinstance(route, LimitedRoute), (module.__name__, route)
            if route.path.startswith("/api/"):
                assert isinstance(route, TokenRoute), (module.__name__, route.path)
