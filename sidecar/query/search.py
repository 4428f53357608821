"""Full-text search over message text (catalog) and string values of extension data.

The user's query is never FTS5 syntax: it is split on whitespace and every token is quoted
(``"tok"``, ``"`` doubled), the tokens joined by spaces (all must match). Operators (``AND``,
``NEAR``, ``*``, ``^``, parentheses) are therefore plain words or ignored punctuation.

Hits of every database are ranked by bm25 (each database with its own statistics) and merged;
``score`` is ``-bm25``: higher is better. Snippets are HTML-escaped text with each match wrapped
in ``<mark>…</mark>`` and ``…`` where text was cut.
"""

from __future__ import annotations

import html
import json
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from sidecar.errors import InvalidInput
from sidecar.query.context import QueryContext
from sidecar.storage.sqlite import fetchall

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_QUERY_CHARS = 1000
MAX_TOKENS = 32
SNIPPET_TOKENS = 16
# Private-use characters mark matches inside snippet(); they become <mark> after escaping.
_OPEN, _CLOSE = "\ue000", "\ue001"
_SNIPPET = f"'{_OPEN}', '{_CLOSE}', '…', {SNIPPET_TOKENS}"


@dataclass(frozen=True)
class SearchFilters:
    namespace: str | None = None
    chat_id: str | None = None
    user: str | None = None


@dataclass(frozen=True)
class Hit:
    chat_id: str
    user: str
    position: int
    swipe: int | None
    where: str
    snippet: str
    score: float

    def as_json(self) -> dict[str, Any]:
        return {
            "chatId": self.chat_id,
            "user": self.user,
            "position": self.position,
            "swipe": self.swipe,
            "where": self.where,
            "snippet": self.snippet,
            "score": self.score,
        }


def match_expression(q: str) -> str | None:
    """The FTS5 query for ``q``; None when ``q`` has no word to search for. 400 when empty or
    too long."""
    if not q.strip():
        raise InvalidInput("Search query q is required")
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(f"Search query q must be at most {MAX_QUERY_CHARS} characters")
    # A token without a letter or digit holds nothing the tokenizer indexes. FTS5 reads the
    # query as a C string, so a NUL would cut it short ("unterminated string", a 500): it
    # separates words like the tokenizer does.
    tokens = [t for t in q.replace("\x00", " ").split() if any(c.isalnum() for c in t)]
    if not tokens:
        return None
    if len(tokens) > MAX_TOKENS:
        raise InvalidInput(f"Search query q must have at most {MAX_TOKENS} words")
    return " ".join('"' + t.replace('"', '""') + '"' for t in tokens)


def check_search_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _snippet(raw: str | None) -> str:
    text = html.escape(raw or "", quote=False)
    return text.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def _run(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    try:
        return fetchall(conn, sql, params)
    except sqlite3.OperationalError as exc:
        # Quoting leaves nothing for FTS5 to reject; should it still, the client gets a 400.
        if str(exc).startswith("fts5"):
            raise InvalidInput("Invalid search query") from None
        raise


def _scope(filters: SearchFilters) -> tuple[str, list[Any]]:
    """SQL conditions on ``m`` (messages) and ``c`` (chats) for the chat and user filters."""
    where, params = "", []
    if filters.chat_id is not None:
        where += " AND m.chat_id = ?"
        params.append(filters.chat_id)
    if filters.user is not None:
        where += " AND c.user = ?"
        params.append(filters.user)
    return where, params


def _text_hits(catalog: Connection, match: str, filters: SearchFilters, limit: int) -> list[Hit]:
    where, params = _scope(filters)
    if not where:
        # FTS5 orders by its rank column itself and stops at LIMIT, computing snippets only for
        # the rows returned; a join (needed only for the filters) makes SQLite rank every match.
        best = _run(
            catalog,
            f"SELECT rowid, snippet(messages_fts, 0, {_SNIPPET}), rank FROM messages_fts "
            "WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?",
            [match, limit],
        )
        if not best:
            return []
        places = {
            r[0]: (r[1], r[2], r[3])
            for r in _run(
                catalog,
                "SELECT m.msg_uid, m.chat_id, c.user, m.position FROM messages m "
                "JOIN chats c ON c.chat_id = m.chat_id "
                "WHERE m.msg_uid IN (SELECT value FROM json_each(?))",
                [json.dumps([row[0] for row in best])],
            )
        }
        return [
            Hit(*places[uid], None, "text", _snippet(snippet), -rank)
            for uid, snippet, rank in best
            if uid in places
        ]
    rows = _run(
        catalog,
        f"SELECT m.chat_id, c.user, m.position, snippet(messages_fts, 0, {_SNIPPET}), "
        "bm25(messages_fts) AS rank FROM messages_fts "
        "JOIN messages m ON m.msg_uid = messages_fts.rowid "
        f"JOIN chats c ON c.chat_id = m.chat_id WHERE messages_fts MATCH ?{where} "
        "ORDER BY rank LIMIT ?",
        [match, *params, limit],
    )
    return [Hit(r[0], r[1], r[2], None, "text", _snippet(r[3]), -r[4]) for r in rows]


def _scoped_chats(catalog: Connection, filters: SearchFilters) -> list[str] | None:
    """The chats hits may come from: None for every chat."""
    if filters.chat_id is None and filters.user is None:
        return None
    conditions, params = [], []
    if filters.chat_id is not None:
        conditions.append("chat_id = ?")
        params.append(filters.chat_id)
    if filters.user is not None:
        conditions.append("user = ?")
        params.append(filters.user)
    rows = _run(catalog, "SELECT chat_id FROM chats WHERE " + " AND ".join(conditions), params)
    return [str(r[0]) for r in rows]


def _data_hits(
    ctx: QueryContext,
    catalog: Connection,
    match: str,
    filters: SearchFilters,
    limit: int,
) -> list[Hit]:
    if filters.namespace is not None:
        namespaces = [filters.namespace]
    else:
        namespaces = ctx.namespaces_in_use(catalog)
    by_db: dict[str, list[str]] = defaultdict(list)
    for namespace in namespaces:
        extension = ctx.policy.extension_for(namespace)
        if extension is not None:
            by_db[extension].append(namespace)
    chat_ids = _scoped_chats(catalog, filters)
    if chat_ids == []:
        return []
    found: list[tuple[str, int, int, str, str, str, float]] = []
    for extension, spaces in by_db.items():
        db = ctx.registry.existing_index_database(extension)
        if db is None:
            continue
        sql = (
            f"SELECT d.chat_id, d.msg_uid, d.swipe, d.namespace, d.key, "
            f"snippet(data_fts, 0, {_SNIPPET}), bm25(data_fts) AS rank FROM data_fts "
            "JOIN message_data d ON d.rowid = data_fts.rowid WHERE data_fts MATCH ? "
            "AND d.namespace IN (SELECT value FROM json_each(?))"
        )
        params: list[Any] = [match, json.dumps(spaces)]
        if chat_ids is not None:
            sql += " AND d.chat_id IN (SELECT value FROM json_each(?))"
            params.append(json.dumps(chat_ids))
        with db.read() as conn:
            found += _run(conn, sql + " ORDER BY rank LIMIT ?", [*params, limit])
    if not found:
        return []
    # Positions and users from the catalog; values of messages it no longer has are dropped.
    uids = json.dumps(sorted({row[1] for row in found}))
    places = {
        (r[0], r[1]): (r[2], r[3])
        for r in _run(
            catalog,
            "SELECT m.chat_id, m.msg_uid, m.position, c.user FROM messages m "
            "JOIN chats c ON c.chat_id = m.chat_id "
            "WHERE m.msg_uid IN (SELECT value FROM json_each(?))",
            [uids],
        )
    }
    hits = []
    for chat_id, msg_uid, swipe, namespace, key, snippet, rank in found:
        place = places.get((chat_id, msg_uid))
        if place is None:
            continue
        position, user = place
        hits.append(
            Hit(chat_id, user, position, swipe, f"{namespace}.{key}", _snippet(snippet), -rank)
        )
    return hits


def search(ctx: QueryContext, q: str, filters: SearchFilters, limit: int) -> list[Hit]:
    """The ``limit`` best hits for ``q`` within ``filters``, best first."""
    match = match_expression(q)
    if match is None:
        return []
    with ctx.catalog() as catalog:
        if catalog is None:
            return []
        hits = [] if filters.namespace is not None else _text_hits(catalog, match, filters, limit)
        hits += _data_hits(ctx, catalog, match, filters, limit)
    hits.sort(key=lambda h: (-h.score, h.chat_id, h.position, h.where, h.swipe or 0))
    return hits[:limit]
