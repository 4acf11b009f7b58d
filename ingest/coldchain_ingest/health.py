"""The ingest service's operations endpoint: `/metrics` and `/healthz` on one port.

`/metrics` is Prometheus' text format (prometheus_client). `/healthz` answers 200
when every check passes (the broker connection is up, InfluxDB answers its
/ping) and 503 naming what failed otherwise, so a load balancer or an
orchestrator can act on it. Neither asks for credentials: they stay exempt from
any authentication added later, like the alerts service's.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import make_wsgi_app

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One thing ingest needs: `name` in the answer, `problem` said when `ok()` is false."""

    name: str
    ok: Callable[[], bool]
    problem: str


def operations_app(checks: list[Check]) -> WSGIApplication:
    """A WSGI app serving /healthz from `checks` and everything else as /metrics."""
    metrics = make_wsgi_app()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/healthz":
            scraped: Iterable[bytes] = metrics(environ, start_response)
            return scraped
        results = {check.name: check.ok() for check in checks}
        problems = [check.problem for check in checks if not results[check.name]]
        body = json.dumps({**results, "problems": problems}).encode()
        status = "503 Service Unavailable" if problems else "200 OK"
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    # A slow check (InfluxDB timing out) must not hold up a scrape of /metrics.
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    # wsgiref writes one line per request straight to stderr, past the logging setup.
    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def serve(host: str, port: int, app: WSGIApplication) -> WSGIServer:
    """Serve `app` on `host`:`port` from a daemon thread; `shutdown()` the result to stop."""
    server = make_server(host, port, app, server_class=_Server, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="operations", daemon=True).start()
    return server
