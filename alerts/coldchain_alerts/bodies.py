"""Request bodies: at most `max_body_bytes` long, and read only once a request is admitted.

FastAPI reads and parses a request's body before it runs any dependency, so a
dependency that checks who is calling comes too late to spare the service a
gigabyte from someone who is nobody. `LimitedRoute` therefore admits a request
before its body is read (`admit`, for the API: its token) and counts the body
as it arrives. A body declared longer than the limit (Content-Length) is
refused before a byte of it is read; one sent in chunks is refused the moment
it passes the limit. Either answer is 413 and closes the connection, so the
rest is never read.

FastAPI's own `max_body_size` is not used: it answers a declared length with
plain text in place of whatever the route said, where API clients need JSON
and people a page; `BodyTooLarge` goes through the app's error handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive

#: Headers of an answer given before the request's body was read: uvicorn would otherwise
#: go on reading (and dropping) the rest of it to keep the connection for the next request.
CLOSE = {"Connection": "close"}


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body is larger than {limit} bytes, the most this service accepts",
            headers=CLOSE,
        )


class LimitedRoute(APIRoute):
    """A route whose request body is read only after `admit`, and only up to the limit.

    The limit is the app's `state.max_body_bytes` (the setting `max_body_bytes`).
    """

    async def admit(self, request: Request) -> None:
        """Raise an HTTPException to refuse `request` before its body is read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited(request: Request) -> Response:
            limit: int = request.app.state.max_body_bytes
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise BodyTooLarge(limit)
            await self.admit(request)
            return await handler(Request(request.scope, _counted(request.receive, limit)))

        return limited


def _counted(receive: Receive, limit: int) -> Receive:
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            raise BodyTooLarge(limit)
        return message

    return counted
