"""Optional bearer-token check for every route except those marked ``opt={"public": True}``."""

from __future__ import annotations

import hmac

from litestar.datastructures import Headers
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from sidecar.errors import Unauthorized


class BearerTokenMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    exclude_opt_key = "public"

    def __init__(self, token: str) -> None:
        self._token = token.encode("utf-8")

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        # CORS preflights carry no credentials by design; the CORS layer answers them.
        if scope.get("method") != "OPTIONS":
            scheme, _, given = Headers.from_scope(scope).get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode("utf-8"), self._token
            ):
                raise Unauthorized(
                    "Missing or invalid bearer token (Authorization: Bearer <token>)"
                )
        await next_app(scope, receive, send)
