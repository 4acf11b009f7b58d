"""Real servers on loopback that keep what they receive: SMTP and HTTP.

`SmtpSink` is an SMTP server (aiosmtpd) that can require STARTTLS or speak TLS
from the start, ask for a login and refuse chosen recipients; the messages it
accepted are parsed as `email.message.EmailMessage`. `RecordingHttpServer` is a
threaded `http.server` that records every request and answers as it is told:
2xx, an error status, or not at all until it is stopped (for timeouts). Both
listen on 127.0.0.1 on a free port and poll with a deadline in `wait_for`.
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from coldchain_devstack.servers import free_port, wait_until

#: How long a hanging HTTP request is held at most if nobody stops the server.
HANG_LIMIT_S = 60.0


def server_tls_context(certificate: str, key: str) -> ssl.SSLContext:
    """A server-side TLS context from a PEM certificate and key (the devstack makes them)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    return context


# --- SMTP ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One message as the SMTP server accepted it."""

    message: EmailMessage
    mail_from: str
    rcpt_tos: list[str]
    login: str | None
    """The user that logged in, None without a login."""
    tls: bool
    """The message came over an encrypted connection."""


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts.

    `starttls`: offer STARTTLS with this context and refuse mail before it.
    `implicit_tls`: TLS from the first byte (SMTPS). `users`: require a login
    with one of these user names and passwords. `refuse`: recipients answered 550.
    """

    def __init__(
        self,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        users: dict[str, str] | None = None,
        refuse: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.users = dict(users or {})
        self.refuse = set(refuse)
        self._mails: list[Mail] = []
        self._lock = threading.Lock()
        options: dict[str, Any] = {}
        if starttls is not None:
            options.update(tls_context=starttls, require_starttls=True)
        if users is not None:
            # With STARTTLS only after it, as real servers do; with implicit TLS aiosmtpd
            # does not see the TLS, so there the login is allowed without it.
            options.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=starttls is not None,
            )
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=implicit_tls,
            server_hostname="localhost" if implicit_tls is not None else None,
            **options,
        )

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def mails(self) -> list[Mail]:
        with self._lock:
            return list(self._mails)

    @property
    def messages(self) -> list[EmailMessage]:
        return [mail.message for mail in self.mails]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """The first `count` messages, once that many arrived; AssertionError after `timeout`."""
        wait_until(lambda: len(self.mails) >= count, timeout, f"{count} e-mail(s) at the sink")
        return self.messages[:count]

    def _keep(self, mail: Mail) -> None:
        with self._lock:
            self._mails.append(mail)

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8")
        ok = self.users.get(user) == auth_data.password.decode("utf-8")
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.sink.refuse:
            return f"550 5.1.1 <{address}>: no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        # Line ends as a mailbox stores them (\n), not as SMTP carries them (\r\n).
        message = BytesParser(policy=policy.default).parsebytes(data.replace(b"\r\n", b"\n"))
        assert isinstance(message, EmailMessage)
        login = session.auth_data if isinstance(session.auth_data, str) else None
        mail_from = envelope.mail_from or ""
        self.sink._keep(
            Mail(message, mail_from, list(envelope.rcpt_tos), login, session.ssl is not None)
        )
        return "250 2.0.0 OK: queued"


# --- HTTP ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the server received it."""

    method: str
    path: str
    """The request target: path and query."""
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> list[tuple[str, str]]:
        """The form fields of an `application/x-www-form-urlencoded` body, in order."""
        return parse_qsl(self.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)

    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.path).query, keep_blank_values=True)


@dataclass
class _Answer:
    status: int = 200
    body: bytes = b'{"ok": true}'
    content_type: str = "application/json"
    hang: bool = False


@dataclass
class _State:
    answer: _Answer = field(default_factory=_Answer)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)


class RecordingHttpServer:
    """An HTTP server on 127.0.0.1 that records every request and answers as told."""

    def __init__(self) -> None:
        self._state = _State()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _recording_handler(self._state))
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> RecordingHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> RecordingHttpServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def answer(
        self, status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        """Answer every later request with this status and body."""
        with self._state.lock:
            self._state.answer = _Answer(status, body, content_type)

    def hang(self) -> None:
        """Record later requests but answer none of them until the server stops."""
        with self._state.lock:
            self._state.answer = _Answer(hang=True)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """The first `count` requests, once that many arrived; AssertionError after `timeout`."""
        wait_until(lambda: len(self.requests) >= count, timeout, f"{count} HTTP request(s)")
        return self.requests[:count]


def _recording_handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            with state.lock:
                state.requests.append(RecordedRequest(self.command, self.path, headers, body))
                answer = state.answer
            if answer.hang:
                state.released.wait(HANG_LIMIT_S)
                self.close_connection = True
                return
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
            except OSError:
                self.close_connection = True  # the client gave up first

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _record  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
