"""One HTTP request of a channel (webhook, ntfy, SMS) and its outcome in words.

The channels differ in what they send, not in how a request fails: a refused
connection, a timeout or a non-2xx answer becomes the same kind of error text
here, naming the server (scheme, host and port only: webhook paths and queries
often carry secrets) and what to check. Nothing here raises for the network.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

#: How much of a server's error answer goes into the error text.
ANSWER_CHARS = 200


def request(
    client: httpx.Client, what: str, method: str, url: str, timeout_s: float, **kwargs: Any
) -> str | None:
    """Send one request; None when the server answered 2xx, else why not, for an admin.

    `what` names the server in the text ("webhook", "ntfy server", "SMS gateway").
    """
    where = f"{what} at {server_of(url)}"
    try:
        response = client.request(method, url, timeout=timeout_s, **kwargs)
    except httpx.TimeoutException:
        return (
            f"{where} did not answer within {timeout_s:g} s; check that it runs and is "
            "reachable from here, or raise COLDCHAIN_ALERTS_NOTIFY_TIMEOUT_S"
        )
    except httpx.ConnectError as exc:
        return f"cannot connect to {where} ({exc}); check the URL and that the server runs"
    except httpx.UnsupportedProtocol:
        return f"{what} URL {url!r} is not an http:// or https:// URL; correct it"
    except httpx.HTTPError as exc:
        return f"request to {where} failed ({type(exc).__name__}: {exc}); check the URL and server"
    except (httpx.InvalidURL, UnicodeError) as exc:
        return f"{what} URL or headers are not valid ({exc}); correct them"
    if response.is_success:
        return None
    answer = " ".join(response.text.split())[:ANSWER_CHARS]
    hint = _hint(response)
    return f"{where} answered {response.status_code} {response.reason_phrase}: {answer!r}; {hint}"


def server_of(url: str) -> str:
    """`https://host:port` of a URL, without path, query or credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an invalid URL"
    return f"{parts.scheme or '?'}://{host}{port}"


def _hint(response: httpx.Response) -> str:
    status = response.status_code
    if status in (401, 403):
        return "check the credentials (token, user name, password) and their rights"
    if status == 404:
        return "check the URL's path"
    if 300 <= status < 400:
        return f"use the URL it redirects to ({response.headers.get('location', '?')})"
    if status == 429:
        return "the server limits the rate of requests; check its quota"
    if status >= 500:
        return "the server has a problem; check its logs"
    return "check the request the server expects against our settings"
