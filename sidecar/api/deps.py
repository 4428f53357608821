"""Dependencies: which extension database a request speaks for."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import State

from sidecar.errors import InvalidInput
from sidecar.ids import check_id
from sidecar.query.context import QueryContext
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.registry import ExtensionRegistry

EXTENSION_HEADER = "x-extension-id"


def provide_registry(state: State) -> ExtensionRegistry:
    registry: ExtensionRegistry = state.registry
    return registry


def extension_db(request: Request[Any, Any, Any]) -> ExtensionDatabase:
    """The database named by ``x-extension-id``: 400 missing/malformed, 404 not registered.

    The ``db`` dependency of handlers that take a body, so that the header is checked before the
    body is validated. Read handlers (no body, only string parameters, so the order cannot show)
    call it themselves: resolving a dependency cost about a sixth of a one-key read. It takes
    only ``request`` (a ``state`` parameter made Litestar build a ``State`` per request).
    """
    extension_id = request.headers.get(EXTENSION_HEADER, "")
    if not extension_id:
        raise InvalidInput("Extension ID is required in header: x-extension-id")
    registry: ExtensionRegistry = request.app.state.registry
    return registry.get(check_id(extension_id, "extension"))


provide_extension_db = extension_db


def extension_db_by_id(request: Request[Any, Any, Any], extension_id: str) -> ExtensionDatabase:
    """For routes that carry the extension id in the path (cross-extension reads)."""
    registry: ExtensionRegistry = request.app.state.registry
    return registry.get(check_id(extension_id, "extension"))


USER_HEADER = "x-sillytavern-user"


def provide_query(state: State) -> QueryContext:
    query: QueryContext = state.query
    return query


def provide_st_user(request: Request[Any, Any, Any]) -> str | None:
    """The SillyTavern user a request speaks for (set by the proxy plugin), or None for all.

    When ``api.token`` is set, every request that reaches a handler carried the token (the auth
    middleware runs first), so the header is only trusted from callers that hold the token.
    """
    user = request.headers.get(USER_HEADER)
    return user or None
