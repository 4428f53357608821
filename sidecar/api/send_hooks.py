"""``before_send`` hooks: corrections to answers Litestar builds itself, outside the handlers and
the exception handlers of :mod:`sidecar.api.errors`.

- Errors are always ``{"error": "<message>"}``. Litestar's CORS layer refuses a preflight from an
  unlisted origin (or with a method or header not allowed) with a ``text/plain`` 400 of its own;
  any error answer that is not JSON is rewritten into the one error shape.
- The ``Allow`` header of an automatic ``OPTIONS`` answer lists every method of the path.
  Litestar 2 builds that handler with a path's first handler and keeps it when more handlers
  join the path (``OPTIONS /register`` said ``OPTIONS, POST``, without ``DELETE``;
  litestar-org/litestar#4169, fixed only in 3.0).
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

_ALLOW_STATE = "allow_by_path"
_REWRITE = "sidecar.error_to_json"  # scope key: this answer's body becomes {"error": text}
_MAX_TEXT = 4096


def allowed_methods(app: Litestar) -> dict[str, str]:
    """Path template -> ``Allow`` value, from the routes as finally merged."""
    return {
        route.path_format: ", ".join(sorted(route.methods))
        for route in app.routes
        if isinstance(route, HTTPRoute)
    }


Mutable = dict[str, Any]


def _correct_allow(headers: MutableScopeHeaders, scope: Mutable) -> None:
    app: Any = scope["app"]
    table: dict[str, str] | None = app.state.get(_ALLOW_STATE)
    if table is None:
        table = app.state[_ALLOW_STATE] = allowed_methods(app)
    allow = table.get(scope.get("path_template", ""))
    if allow is not None:
        headers["allow"] = allow


def _start(message: Mutable, scope: Mutable) -> None:
    if message["status"] < 400 and scope.get("method") != "OPTIONS":
        return  # nothing to correct (the common case: no header parsing per answer)
    headers = MutableScopeHeaders.from_message(cast("Message", message))
    if scope.get("method") == "OPTIONS" and "allow" in headers:
        _correct_allow(headers, scope)
    media_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if message["status"] >= 400 and media_type in ("", "text/plain") and scope["method"] != "HEAD":
        scope[_REWRITE] = bytearray()
        headers["content-type"] = "application/json"
        del headers["content-length"]  # the new body has another length


def _body(message: Mutable, scope: Mutable) -> None:
    text: bytearray = scope[_REWRITE]
    if len(text) < _MAX_TEXT:
        text += message.get("body", b"")[: _MAX_TEXT - len(text)]
    if message.get("more_body", False):
        message["body"] = b""
        return
    error = text.decode("utf-8", "replace").strip() or "Request refused"
    message["body"] = msgspec.json.encode({"error": error})


async def correct_answers(message: Message, scope: Scope) -> None:
    event, connection = cast("Mutable", message), cast("Mutable", scope)
    if event["type"] == "http.response.start":
        _start(event, connection)
    elif event["type"] == "http.response.body" and _REWRITE in connection:
        _body(event, connection)
