"""Search hits in message text (the catalog's ``messages_fts``)."""

from __future__ import annotations

from sqlalchemy import Connection

from sidecar.query.fts_sql import CANDIDATES, chat_column, ids_json, rank, run
from sidecar.query.fts_terms import chat_match
from sidecar.query.search_scope import Scope
from sidecar.query.search_types import Found, Hit

# Up to this many chats, a chat filter is part of the FTS5 query (chat : ("a" OR "b" ...)), which
# FTS5 answers from its own index; beyond it, candidates are checked against the chat list.
MAX_CHAT_TERMS = 200
# bm25 over the text column only: the chat column must not change the scores.
SCORE = "bm25(messages_fts, 1.0, 0.0)"


def _candidates(catalog: Connection, match: str, scope: Scope) -> tuple[str, list[int]]:
    """The FTS5 query used and the newest CANDIDATES matches within ``scope``."""
    where, params = "", []
    chats = scope.chats
    if chats is not None and len(chats) <= MAX_CHAT_TERMS and chat_column(catalog):
        match = f"{chat_match([h for _, h in chats])} AND {match}"
    elif chats is not None:
        where += " AND m.chat_id IN (SELECT value FROM json_each(?))"
        params.append(ids_json([chat_id for chat_id, _ in chats]))
    if scope.sent_from is not None:
        where += " AND m.send_date >= ?"
        params.append(scope.sent_from)
    if scope.sent_before is not None:
        where += " AND m.send_date < ?"
        params.append(scope.sent_before)
    # CROSS JOIN keeps the FTS5 table the outer loop, read newest first, stopping at the LIMIT.
    join = " CROSS JOIN messages m ON m.msg_uid = messages_fts.rowid" if where else ""
    rows = run(
        catalog,
        f"SELECT messages_fts.rowid FROM messages_fts{join} WHERE messages_fts MATCH ?{where} "
        "ORDER BY messages_fts.rowid DESC LIMIT ?",
        [match, *params, CANDIDATES],
    )
    return match, [int(r[0]) for r in rows]


def text_hits(catalog: Connection, match: str, scope: Scope, limit: int) -> list[Found]:
    if scope.chats == []:
        return []
    match, candidates = _candidates(catalog, match, scope)
    best = rank(
        catalog, "messages_fts", score=SCORE, match=match, candidates=candidates, limit=limit
    )
    if not best:
        return []
    uids = [uid for uid, _ in best]
    places: dict[int, tuple[str, str, int, str | None]] = {
        r[0]: (r[1], r[2], r[3], r[4])
        for r in run(
            catalog,
            "SELECT m.msg_uid, m.chat_id, c.user, m.position, m.send_date FROM messages m "
            "JOIN chats c ON c.chat_id = m.chat_id "
            "WHERE m.msg_uid IN (SELECT value FROM json_each(?))",
            [ids_json(uids)],
        )
    }
    found = []
    for uid, score in best:
        if uid in places:
            chat_id, user, position, sent = places[uid]
            hit = Hit(chat_id, user, position, None, "text", "", -score, sent)
            found.append(Found(hit, None, uid, match))
    return found
