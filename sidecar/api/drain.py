"""Read what is left of a request body before answering early, so the client reads the answer.

An answer that comes before the client finished sending (413 for a body over
``api.max_body_bytes``, 401 for a missing token, 415 for a wrong content type) would otherwise be
followed by closing a connection with unread data in it: the kernel then resets it, and a client
still sending never reads the JSON error. So when a response starts while the body is not all in,
the rest is read and dropped first, up to ``DRAIN_LIMIT_BYTES``, for at most ``DRAIN_SECONDS``, and
only while bytes keep coming (``DRAIN_IDLE_SECONDS``). Past those the answer goes at once and the
connection is closed anyway: a client that announces gigabytes, or promises bytes it does not
send, gets its answer (or a reset) without costing our memory or time. A client that asked
``Expect: 100-continue`` is not drained: it has not sent the body, and will not, since it never
got the 100.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 15.0
DRAIN_IDLE_SECONDS = 1.0


class DrainUnreadBody(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        headers = Headers.from_scope(scope)
        announced = headers.get("content-length", "")
        too_big = announced.isdigit() and int(announced) > DRAIN_LIMIT_BYTES
        if too_big or headers.get("expect", "").lower() == "100-continue":
            await next_app(scope, receive, send)
            return
        complete = False

        async def tracking_receive() -> ReceiveMessage:
            nonlocal complete
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def draining_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete:
                await _drain(tracking_receive, lambda: complete)
            await send(message)

        try:
            await next_app(scope, tracking_receive, draining_send)
        except Exception:
            # Raised by an inner middleware (the token check): the answer is sent further out,
            # past draining_send, so drain here before it goes.
            if not complete:
                await _drain(tracking_receive, lambda: complete)
            raise


async def _drain(receive: Receive, complete: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DRAIN_SECONDS
    drained = 0
    while not complete() and drained <= DRAIN_LIMIT_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        try:
            message = await asyncio.wait_for(receive(), min(left, DRAIN_IDLE_SECONDS))
        except TimeoutError:
            return
        body = message.get("body", b"")
        drained += len(body) if isinstance(body, bytes | bytearray) else 0
