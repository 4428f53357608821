"""One decorator for every API operation, so each handler states only what is particular to it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio
from litestar import HttpMethod, route
from litestar.handlers import HTTPRouteHandler

from sidecar.api.schemas import BODY_ERROR_RESPONSES, ERROR_RESPONSES
from sidecar.storage.connections import WouldBlock

T = TypeVar("T")

GET, POST, PUT, DELETE = HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.DELETE


def operation(
    method: HttpMethod | list[HttpMethod],
    path: str,
    operation_id: str | Callable[..., str],
    **options: Any,
) -> Callable[[Callable[..., Any]], HTTPRouteHandler]:
    """A route answering 200 with ``{"error"}`` bodies documented for failures (and 415 for
    handlers that take a JSON body, ``data``).

    Synchronous handlers are SQLite calls. Reads (GET) run on the event loop: they use read-only
    WAL snapshots that never wait for a writer, and a thread hop per read costs more than the read
    itself (GIL hand-offs measured at several times the query time under load). Other synchronous
    handlers run in a worker thread because they can wait for the database's write lock.
    Asynchronous handlers choose for themselves (see :func:`run_write`).
    """
    options.setdefault("status_code", 200)

    def decorate(handler: Callable[..., Any]) -> HTTPRouteHandler:
        if not inspect.iscoroutinefunction(handler):
            options.setdefault("sync_to_thread", method != GET)
        reads_body = "data" in inspect.signature(handler).parameters
        return route(
            path,
            http_method=method,
            operation_id=operation_id,
            responses=BODY_ERROR_RESPONSES if reads_body else ERROR_RESPONSES,
            **options,
        )(handler)

    return decorate


async def run_write(write: Callable[..., T], *args: Any) -> T:
    """Run a value-tracker write (a function taking ``block``) where it costs least.

    First on the event loop with ``block=False``: a small write that need not wait for anything
    takes tens of microseconds there, while the hop to a worker thread and back cost more than
    the whole write (measured in-process: a one-key POST took about 230 us of CPU with the hop,
    130 us without; the whole server about 650 against 380 us under load). When it would wait
    (the write lock is taken, SQLite is busy, an fsync or checkpoint is due, the write is large)
    it raises :class:`WouldBlock` before writing anything, and runs again in a worker thread.
    """
    try:
        return write(*args, block=False)
    except WouldBlock:
        return await anyio.to_thread.run_sync(partial(write, *args))
