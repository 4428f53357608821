"""Full-text search over message text and extension data: ``GET /search?q=...``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Router
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from sidecar.api.operation import GET, operation
from sidecar.query.context import QueryContext
from sidecar.query.search import MAX_LIMIT, SearchFilters, check_search_limit, search

_Q_DOC = (
    "Words to find, all of them. Latin words match whole words (case and accents ignored); "
    "Chinese, Japanese and Korean text matches any substring (two or more characters), also "
    "inside mixed runs (2025 finds 字2025字). FTS operators are taken as plain words; a query "
    "of punctuation only finds nothing"
)
_DATE_DOC = (
    "ISO 8601 date or date-time (UTC when it has no offset), compared with the message's send "
    "date; messages without a send date are left out"
)


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
    character: Annotated[
        str | None, _query("character", "Only chats of this character (its folder name)")
    ] = None,
    group_id: Annotated[str | None, _query("groupId", "Only chats of this group")] = None,
    date_from: Annotated[
        str | None, _query("dateFrom", f"Only messages sent at or after this. {_DATE_DOC}")
    ] = None,
    date_to: Annotated[
        str | None,
        _query(
            "dateTo", f"Only messages sent at or before this (a date: that whole day). {_DATE_DOC}"
        ),
    ] = None,
    limit: Annotated[int | None, _query("limit", f"Hits to return, 1 to {MAX_LIMIT}")] = None,
) -> dict[str, Any]:
    """Best hits first: ``{"items": [{chatId, user, position, swipe, where, snippet, score}],
    "nextCursor": null}``. ``where`` is ``text`` or ``<namespace>.<key>``; ``swipe`` is null for
    message text; ``snippet`` is HTML-escaped with matches in ``<mark>…</mark>``; ``score`` is
    ``-bm25`` (higher is better). At most ``limit`` hits (default 20), no further pages. When a
    query matches more than 1,000 messages (or values) of a database, the best hits are chosen
    among its 1,000 most recently indexed matches, so any query answers quickly."""
    size = check_search_limit(limit)
    if st_user is not None and user is not None and user != st_user:
        return {"items": [], "nextCursor": None}
    filters = SearchFilters(
        namespace=namespace,
        chat_id=chat_id,
        user=st_user or user,
        character=character,
        group_id=group_id,
        date_from=date_from,
        date_to=date_to,
    )
    hits = search(queries, q or "", filters, size)
    return {"items": [hit.as_json() for hit in hits], "nextCursor": None}


router = Router("/", route_handlers=[search_messages])
