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
# FTS5's snippet() scores a window at every match, against every match: its cost grows with the
# square of the matches in a text, and a long text full of one common character took seconds.
# Texts longer than this get highlight() (linear) cut around the first match instead.
LONG_TEXT = 4000
WINDOW_CHARS, CJK_WINDOW_CHARS = 100, 40
# Private-use characters mark matches inside snippet(); they become <mark> after escaping.
_OPEN, _CLOSE, _LONG = "\ue000", "\ue001", "\ue002"


def run(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    try:
        return fetchall(conn, sql, params)
    except sqlite3.OperationalError as exc:
        # Quoting leaves nothing for FTS5 to reject; should it still, the client gets a 400.
        if str(exc).startswith("fts5"):
            raise InvalidInput("Invalid search query") from None
        raise


def chat_column(catalog: Connection) -> bool:
    """Whether the catalog's index is the current one, with its ``chat`` column. A catalog
    built by an older version keeps its old index until a writer opens it (the indexer, at
    start); until then searches work without that column, and do not find CJK substrings."""
    return bool(run(catalog, "SELECT 1 FROM sqlite_master WHERE name = 'messages_fts_seg'", []))


def snippet_sql(table: str, cjk: bool) -> str:
    tokens = CJK_SNIPPET_TOKENS if cjk else SNIPPET_TOKENS
    return (
        f"CASE WHEN length({table}.text) > {LONG_TEXT} "
        f"THEN '{_LONG}' || highlight({table}, 0, '{_OPEN}', '{_CLOSE}') "
        f"ELSE snippet({table}, 0, '{_OPEN}', '{_CLOSE}', '…', {tokens}) END"
    )


def _window(marked: str, size: int) -> str:
    """About ``size`` characters of a highlighted text around its first match, cut at spaces
    when there are any nearby, with ``…`` where text was left out."""
    first = max(marked.find(_OPEN), 0)
    start = max(0, first - size // 4)
    end = min(len(marked), max(start + size, marked.find(_CLOSE, first) + 1), start + 2 * size)
    space = marked.find(" ", start, first)
    if start and space >= 0:
        start = space + 1
    space = marked.rfind(" ", max(end - size // 4, first), end)
    if end < len(marked) and space > first:
        end = space
    piece = marked[start:end]
    if piece.count(_OPEN) > piece.count(_CLOSE):
        piece += _CLOSE
    return ("…" if start else "") + piece + ("…" if end < len(marked) else "")


def format_snippet(raw: str | None, cjk: bool = False) -> str:
    """HTML-escaped text with matches in ``<mark>…</mark>``, segmentation removed."""
    text = unsegment(raw or "")
    if text.startswith(_LONG):
        text = _window(text[1:], CJK_WINDOW_CHARS if cjk else WINDOW_CHARS)
    text = html.escape(text, quote=False)
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
    return {int(r[0]): format_snippet(r[1], cjk) for r in rows}
