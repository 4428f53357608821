"""Chat-level search (``GET /chats?q=``), the way SillyTavern's own chat search decides: the query
is split on whitespace into lower-cased fragments, and a chat matches when every fragment is in
its file name or in one of its messages (each fragment may be in a different message).

In message text a fragment matches as ``/search`` matches a word (``sidecar.query.fts_terms``):
CJK text as any substring, Latin text as whole words. Per fragment, the cheaper of two ways is
taken: a fragment with few matching messages lists its chats from those matches; a frequent one
is checked chat by chat with one FTS5 query each (``chat : X AND text : (...)``), in the list's
order, stopping once the page is full.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Select, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from sidecar.query.fts_sql import chat_column, run
from sidecar.query.fts_terms import Fragment
from sidecar.storage.catalog_tables import chats

_CASEFOLD = "sidecar_casefold"
# Listing a fragment's chats from its matches costs about one catalog row read per matching
# message; checking a chat costs about as much as reading RARE_PER_CHAT rows. The cheaper wins.
RARE_PER_CHAT = 10
RARE_MIN = 500
BATCH = 200


@dataclass(frozen=True)
class _Plan:
    """How each fragment is checked: in SQL (``conditions``) or per chat (``probes``)."""

    conditions: list[ColumnElement[bool]]
    probes: list[Fragment]


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value


def _folded_name(conn: Connection) -> Any:
    """The chat's file name, case-folded (SQLite's ``lower()`` folds ASCII only; chat names are
    often not ASCII)."""
    dbapi = cast(sqlite3.Connection, conn.connection.dbapi_connection)
    dbapi.create_function(_CASEFOLD, 1, _casefold, deterministic=True)
    return getattr(func, _CASEFOLD)(chats.c.file_name)


def chat_hex(chat_id: str) -> str:
    """The chat's token in the catalog's full-text index (SQLite's ``hex(chat_id)``)."""
    return chat_id.encode().hex().upper()


def _chats_of(conn: Connection, match: str, rare: int) -> set[str] | None:
    """The chats with a message matching ``match``; None when that is ``rare`` messages or
    more."""
    count = run(
        conn,
        "SELECT count(*) FROM (SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT ?)",
        [match, rare],
    )[0][0]
    if count >= rare:
        return None
    rows = run(
        conn,
        "SELECT DISTINCT m.chat_id FROM messages_fts CROSS JOIN messages m "
        "ON m.msg_uid = messages_fts.rowid WHERE messages_fts MATCH ?",
        [match],
    )
    return {str(r[0]) for r in rows}


def _plan(conn: Connection, fragments: list[Fragment], chat_count: int) -> _Plan:
    folded_name = _folded_name(conn)
    rare = max(RARE_MIN, RARE_PER_CHAT * chat_count) if chat_column(conn) else 1 << 62
    conditions: list[ColumnElement[bool]] = []
    probes: list[Fragment] = []
    for fragment in fragments:
        in_name = func.instr(folded_name, fragment.text) > 0
        found = None if fragment.match is None else _chats_of(conn, fragment.match, rare)
        if fragment.match is None:
            conditions.append(in_name)
        elif found is None:
            probes.append(fragment)
        else:
            listed = func.json_each(json.dumps(sorted(found))).table_valued("value")
            conditions.append(or_(in_name, chats.c.chat_id.in_(select(listed.c.value))))
    return _Plan(conditions, probes)


def _has(conn: Connection, chat_id: str, fragment: Fragment) -> bool:
    match = f'chat : "{chat_hex(chat_id)}" AND {fragment.match}'
    return bool(run(conn, "SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT 1", [match]))


def search_page(
    conn: Connection,
    query: Select[Any],
    fragments: list[Fragment],
    *,
    after: str | None,
    size: int,
) -> list[Any]:
    """Up to ``size + 1`` rows of ``query`` (chats, without order or limit) after ``after``, by
    ``rel_path``, whose chats match every fragment."""
    chat_count = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    plan = _plan(conn, fragments, int(chat_count))
    query = query.where(*plan.conditions).order_by(chats.c.rel_path).limit(BATCH)
    kept: list[Any] = []
    while len(kept) <= size:
        batch = query if after is None else query.where(chats.c.rel_path > after)
        rows = list(conn.execute(batch))
        for row in rows:
            name = row.file_name.casefold()
            if all(p.text in name or _has(conn, row.chat_id, p) for p in plan.probes):
                kept.append(row)
                if len(kept) > size:
                    break
        if len(rows) < BATCH:
            break
        after = rows[-1].rel_path
    return kept
