"""Search hits in extension data (``data_fts`` of each extension database that holds one of the
namespaces searched)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Connection

from sidecar.query.context import QueryContext
from sidecar.query.fts_sql import CANDIDATES, ids_json, rank, run
from sidecar.query.search_scope import Scope
from sidecar.query.search_types import Found, Hit

# With a date range, candidates are read newest first in batches of this many and checked
# against the catalog's send dates (they live in another database).
DATE_BATCH = 2000
SCORE = "bm25(data_fts)"


def _databases(
    ctx: QueryContext, catalog: Connection, namespace: str | None
) -> dict[str, list[str]]:
    """Extension id -> the namespaces searched in its database."""
    namespaces = [namespace] if namespace is not None else ctx.namespaces_in_use(catalog)
    by_db: dict[str, list[str]] = defaultdict(list)
    for name in namespaces:
        extension = ctx.policy.extension_for(name)
        if extension is not None:
            by_db[extension].append(name)
    return by_db


def _dated(catalog: Connection, scope: Scope, uids: set[int]) -> set[int]:
    """The messages among ``uids`` sent within the scope's dates."""
    sql = "SELECT msg_uid FROM messages WHERE msg_uid IN (SELECT value FROM json_each(?))"
    params: list[Any] = [ids_json(sorted(uids))]
    if scope.sent_from is not None:
        sql += " AND send_date >= ?"
        params.append(scope.sent_from)
    if scope.sent_before is not None:
        sql += " AND send_date < ?"
        params.append(scope.sent_before)
    return {int(r[0]) for r in run(catalog, sql, params)}


def _candidates(
    conn: Connection, catalog: Connection, match: str, spaces: list[str], scope: Scope
) -> list[int]:
    """The newest CANDIDATES rows matching ``match`` within the namespaces and the scope."""
    where, params = " AND d.namespace IN (SELECT value FROM json_each(?))", [ids_json(spaces)]
    if scope.chat_ids is not None:
        where += " AND d.chat_id IN (SELECT value FROM json_each(?))"
        params.append(ids_json(scope.chat_ids))
    sql = (
        "SELECT data_fts.rowid, d.msg_uid FROM data_fts "
        "CROSS JOIN message_data d ON d.rowid = data_fts.rowid "
        f"WHERE data_fts MATCH ?{where} AND data_fts.rowid < ? "
        "ORDER BY data_fts.rowid DESC LIMIT ?"
    )
    found: list[int] = []
    before = 1 << 62
    while len(found) < CANDIDATES:
        size = DATE_BATCH if scope.dated else CANDIDATES
        rows = run(conn, sql, [match, *params, before, size])
        if not rows:
            break
        keep = _dated(catalog, scope, {r[1] for r in rows}) if scope.dated else None
        found += [int(r[0]) for r in rows if keep is None or r[1] in keep]
        if len(rows) < size:
            break
        before = rows[-1][0]
    return found[:CANDIDATES]


def data_hits(
    ctx: QueryContext,
    catalog: Connection,
    *,
    match: str,
    namespace: str | None,
    scope: Scope,
    limit: int,
) -> list[Found]:
    if scope.chats == []:
        return []
    found: list[tuple[str, int, int, str, str, str, int, float]] = []
    for extension, spaces in _databases(ctx, catalog, namespace).items():
        db = ctx.registry.existing_index_database(extension)
        if db is None:
            continue
        with db.read() as conn:
            candidates = _candidates(conn, catalog, match, spaces, scope)
            best = rank(
                conn, "data_fts", score=SCORE, match=match, candidates=candidates, limit=limit
            )
            if not best:
                continue
            rowids = [rowid for rowid, _ in best]
            rows = {
                int(r[0]): r[1:]
                for r in run(
                    conn,
                    "SELECT rowid, chat_id, msg_uid, swipe, namespace, key FROM message_data "
                    "WHERE rowid IN (SELECT value FROM json_each(?))",
                    [ids_json(rowids)],
                )
            }
        for rowid, score in best:
            if rowid in rows:
                chat_id, msg_uid, swipe, name, key = rows[rowid]
                found.append((chat_id, msg_uid, swipe, name, key, extension, rowid, score))
    if not found:
        return []
    # Positions and users from the catalog; values of messages it no longer has are dropped.
    places = {
        (r[0], r[1]): (r[2], r[3], r[4])
        for r in run(
            catalog,
            "SELECT m.msg_uid, m.chat_id, m.position, c.user, m.send_date FROM messages m "
            "JOIN chats c ON c.chat_id = m.chat_id "
            "WHERE m.msg_uid IN (SELECT value FROM json_each(?))",
            [ids_json(sorted({row[1] for row in found}))],
        )
    }
    hits = []
    for chat_id, msg_uid, swipe, name, key, extension, rowid, score in found:
        place = places.get((msg_uid, chat_id))
        if place is not None:
            position, user, sent = place
            hit = Hit(chat_id, user, position, swipe, f"{name}.{key}", "", -score, sent)
            hits.append(Found(hit, extension, rowid, match))
    return hits
