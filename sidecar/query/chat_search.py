"""Chat-level search (``GET /chats?q=``), the way SillyTavern's own chat search decides: the query
is split on whitespace into lower-cased fragments, and a chat matches when every fragment is in
its file name or in one of its messages (each fragment may be in a different message).

In message text a fragment matches as ``/search`` matches a word (``sidecar.query.fts_terms``):
CJK text as any substring, Latin text as whole words. Per fragment, the cheaper of two ways is
taken: a fragment with few matching messages lists its chats from those matches; a frequent one
is checked chat by chat with one FTS5 query each (``chat : X AND text : (...)``), in the list's
order, stopping once the page is full.

``substring`` mode is SillyTavern's rule exactly: a fragment also matches inside a longer word
(``rain`` in ``brain``). A chat the index does not match is then read message by message
(``LIKE``, which folds ASCII case only) until the fragment is found: slower, as it reads text.
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
class _Probe:
    """A fragment checked chat by chat: in the file name, then in ``chats`` (when its chats were
    listed) or by one FTS5 query, then (``substring`` mode) by reading the chat's text."""

    fragment: Fragment
    chats: set[str] | None
    substring: bool


@dataclass(frozen=True)
class _Plan:
    """How each fragment is checked: in SQL (``conditions``) or per chat (``probes``)."""

    conditions: list[ColumnElement[bool]]
    probes: list[_Probe]


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


def _plan(conn: Connection, fragments: list[Fragment], chat_count: int, substring: bool) -> _Plan:
    folded_name = _folded_name(conn)
    rare = max(RARE_MIN, RARE_PER_CHAT * chat_count) if chat_column(conn) else 1 << 62
    conditions: list[ColumnElement[bool]] = []
    probes: list[_Probe] = []
    for fragment in fragments:
        in_name = func.instr(folded_name, fragment.text) > 0
        found = None if fragment.match is None else _chats_of(conn, fragment.match, rare)
        if substring and not fragment.exact:
            probes.append(_Probe(fragment, found if fragment.match else set(), substring=True))
        elif fragment.match is None:
            conditions.append(in_name)
        elif found is None:
            probes.append(_Probe(fragment, None, substring=False))
        else:
            listed = func.json_each(json.dumps(sorted(found))).table_valued("value")
            conditions.append(or_(in_name, chats.c.chat_id.in_(select(listed.c.value))))
    return _Plan(conditions, probes)


def _in_index(conn: Connection, chat_id: str, fragment: Fragment) -> bool:
    match = f'chat : "{chat_hex(chat_id)}" AND {fragment.match}'
    return bool(run(conn, "SELECT 1 FROM messages_fts WHERE messages_fts MATCH ? LIMIT 1", [match]))


def _in_text(conn: Connection, chat_id: str, text: str) -> bool:
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    sql = "SELECT 1 FROM messages WHERE chat_id = ? AND text LIKE ? ESCAPE '\\' LIMIT 1"
    return bool(run(conn, sql, [chat_id, pattern]))


def _matches(conn: Connection, row: Any, probe: _Probe) -> bool:
    fragment = probe.fragment
    if fragment.text in row.file_name.casefold():
        return True
    if probe.chats is not None:
        if row.chat_id in probe.chats:
            return True
    elif _in_index(conn, row.chat_id, fragment):
        return True
    return probe.substring and _in_text(conn, row.chat_id, fragment.text)


def search_page(
    conn: Connection,
    query: Select[Any],
    fragments: list[Fragment],
    *,
    after: str | None,
    size: int,
    substring: bool = False,
) -> list[Any]:
    """Up to ``size + 1`` rows of ``query`` (chats, without order or limit) after ``after``, by
    ``rel_path``, whose chats match every fragment."""
    chat_count = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    plan = _plan(conn, fragments, int(chat_count), substring)
    query = query.where(*plan.conditions).order_by(chats.c.rel_path).limit(BATCH)
    kept: list[Any] = []
    while len(kept) <= size:
        batch = query if after is None else query.where(chats.c.rel_path > after)
        rows = list(conn.execute(batch))
        for row in rows:
            if all(_matches(conn, row, probe) for probe in plan.probes):
                kept.append(row)
                if len(kept) > size:
                    break
        if len(rows) < BATCH:
            break
        after = rows[-1].rel_path
    return kept
