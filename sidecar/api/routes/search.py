"""Full-text search over message text and extension data: ``GET /search?q=...``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Router
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from sidecar.api.operation import GET, operation
from sidecar.query.context import QueryContext
from sidecar.query.search import MAX_LIMIT, SearchFilters, check_search_limit, search

_Q_DOC = "Words to find (all of them); FTS operators are taken as plain words"


def _query(name: str, description: str) -> QueryParameter:
    return QueryParameter(name=name, required=False, description=description)


@operation(GET, "/search", "search")
def search_messages(
    *,
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    q: Annotated[str | None, _query("q", _Q_DOC)] = None,
    namespace: Annotated[
        str | None, _query("namespace", "Only values of this namespace (no message text)")
    ] = None,
    chat_id: Annotated[str | None, _query("chatId", "Only this chat")] = None,
    user: Annotated[str | None, _query("user", "Only chats of this user")] = None,
    limit: Annotated[int | None, _query("limit", f"Hits to return, 1 to {MAX_LIMIT}")] = None,
) -> dict[str, Any]:
    """Best hits first: ``{"items": [{chatId, user, position, swipe, where, snippet, score}],
    "nextCursor": null}``. ``where`` is ``text`` or ``<namespace>.<key>``; ``swipe`` is null for
    message text; ``snippet`` is HTML-escaped with matches in ``<mark>…</mark>``; ``score`` is
    ``-bm25`` (higher is better). At most ``limit`` hits (default 20), no further pages."""
    size = check_search_limit(limit)
    if st_user is not None and user is not None and user != st_user:
        return {"items": [], "nextCursor": None}
    filters = SearchFilters(namespace=namespace, chat_id=chat_id, user=st_user or user)
    hits = search(queries, q or "", filters, size)
    return {"items": [hit.as_json() for hit in hits], "nextCursor": None}


router = Router("/", route_handlers=[search_messages])
