"""Running FTS5 queries for search: errors, snippets, and the bounded top-k every search uses.

Ranking every match is what made frequent words slow (FTS5 scores each one: "the" matches nearly
every message). A search therefore ranks a bounded window: the :data:`CANDIDATES` newest matches
that pass the filters (FTS5 walks a term's rows in rowid order and stops there, so this costs the
same for any word), ranked by bm25 over just those rows. A word that matches fewer rows is ranked
over all of them, exactly as before. Newer rows have higher rowids (``msg_uid`` is never reused;
extension rows are rewritten when their value changes), so for a very frequent word the best hits
come from the most recently indexed messages.
"""

from __future__ import annotations

import html
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from sidecar.errors import InvalidInput
from sidecar.storage.segment import unsegment
from sidecar.storage.sqlite import fetchall

CANDIDATES = 1000
SNIPPET_TOKENS = 16
# A CJK character is a token of its own: a CJK snippet needs more tokens for the same context.
CJK_SNIPPET_TOKENS = 40
# Private-use characters mark matches inside snippet(); they become <mark> after escaping.
_OPEN, _CLOSE = "\ue000", "\ue001"


def run(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    try:
        return fetchall(conn, sql, params)
    except sqlite3.OperationalError as exc:
        # Quoting leaves nothing for FTS5 to reject; should it still, the client gets a 400.
        if str(exc).startswith("fts5"):
            raise InvalidInput("Invalid search query") from None
        raise


def snippet_sql(table: str, cjk: bool) -> str:
    tokens = CJK_SNIPPET_TOKENS if cjk else SNIPPET_TOKENS
    return f"snippet({table}, 0, '{_OPEN}', '{_CLOSE}', '…', {tokens})"


def format_snippet(raw: str | None) -> str:
    """HTML-escaped text with matches in ``<mark>…</mark>``, segmentation removed."""
    text = html.escape(unsegment(raw or ""), quote=False)
    return text.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def ids_json(ids: Sequence[Any]) -> str:
    return json.dumps(list(ids))


def rank(
    conn: Connection, table: str, *, score: str, match: str, candidates: list[int], limit: int
) -> list[tuple[int, float]]:
    """The ``limit`` best of ``candidates`` (rowids that match ``match``), best first, as
    ``(rowid, bm25)``. Only rows from the lowest candidate up are visited, and only candidates
    are scored (the unary ``+`` keeps the ``IN`` from becoming one FTS5 lookup per row)."""
    if not candidates:
        return []
    rows = run(
        conn,
        f"SELECT rowid, {score} AS s FROM {table} WHERE {table} MATCH ? AND rowid >= ? "
        "AND +rowid IN (SELECT value FROM json_each(?)) ORDER BY s, rowid DESC LIMIT ?",
        [match, min(candidates), ids_json(candidates), limit],
    )
    return [(int(r[0]), float(r[1])) for r in rows]


def snippets(
    conn: Connection, table: str, match: str, rowids: list[int], cjk: bool
) -> dict[int, str]:
    """Formatted snippets of a few rows (one FTS5 lookup each)."""
    if not rowids:
        return {}
    rows = run(
        conn,
        f"SELECT rowid, {snippet_sql(table, cjk)} FROM {table} WHERE {table} MATCH ? "
        "AND rowid IN (SELECT value FROM json_each(?))",
        [match, ids_json(rowids)],
    )
    return {int(r[0]): format_snippet(r[1]) for r in rows}
