"""One decorator for every API operation, so each handler states only what is particular to it."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from litestar import HttpMethod, route
from litestar.handlers import HTTPRouteHandler

from sidecar.api.schemas import BODY_ERROR_RESPONSES, ERROR_RESPONSES

GET, POST, PUT, DELETE = HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.DELETE


def operation(
    method: HttpMethod | list[HttpMethod],
    path: str,
    operation_id: str | Callable[..., str],
    **options: Any,
) -> Callable[[Callable[..., Any]], HTTPRouteHandler]:
    """A route answering 200 with ``{"error"}`` bodies documented for failures (and 415 for
    handlers that take a JSON body, ``data``).

    Handlers are synchronous SQLite calls. Reads (GET) run on the event loop: they use read-only
    WAL snapshots that never wait for a writer, and a thread hop per read costs more than the read
    itself (GIL hand-offs measured at several times the query time under load). Writes run in a
    worker thread because they can wait for the database's write lock.
    """
    options.setdefault("status_code", 200)
    options.setdefault("sync_to_thread", method != GET)

    def decorate(handler: Callable[..., Any]) -> HTTPRouteHandler:
        reads_body = "data" in inspect.signature(handler).parameters
        return route(
            path,
            http_method=method,
            operation_id=operation_id,
            responses=BODY_ERROR_RESPONSES if reads_body else ERROR_RESPONSES,
            **options,
        )(handler)

    return decorate
