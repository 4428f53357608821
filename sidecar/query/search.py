"""Full-text search over message text (catalog) and string values of extension data.

The query is a list of words, all of which must match (``sidecar.query.fts_terms``: Latin words
match words, CJK text matches any substring). Each database ranks a bounded window of its newest
matches by bm25 (``sidecar.query.fts_sql``: the cost does not grow with how often a word
occurs); the hits of every database are merged by score, ``score`` being ``-bm25`` (higher is
better). Snippets are HTML-escaped text with each match wrapped in ``<mark>…</mark>`` and ``…``
where text was cut.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from sqlalchemy import Connection

from sidecar.errors import InvalidInput
from sidecar.query.context import QueryContext
from sidecar.query.fts_sql import snippets
from sidecar.query.fts_terms import is_cjk_query, query_phrases, text_match
from sidecar.query.search_data import data_hits
from sidecar.query.search_scope import SearchFilters, date_bounds, resolve_scope
from sidecar.query.search_text import text_hits
from sidecar.query.search_types import Found, Hit

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Hit", "SearchFilters", "check_search_limit", "search"]


def check_search_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def search(ctx: QueryContext, q: str, filters: SearchFilters, limit: int) -> list[Hit]:
    """The ``limit`` best hits for ``q`` within ``filters``, best first."""
    phrases = query_phrases(q)
    bounds = date_bounds(filters.date_from, filters.date_to)
    if not phrases:
        return []  # only punctuation: nothing the index holds
    match, cjk = text_match(phrases), is_cjk_query(phrases)
    with ctx.catalog() as catalog:
        if catalog is None:
            return []
        scope = resolve_scope(catalog, filters, bounds)
        found = [] if filters.namespace is not None else text_hits(catalog, match, scope, limit)
        found += data_hits(
            ctx, catalog, match=match, namespace=filters.namespace, scope=scope, limit=limit
        )
        found.sort(key=_order)
        best = found[:limit]
        marked = _snippets(ctx, catalog, best, cjk)
    return [replace(f.hit, snippet=marked.get((f.source, f.rowid), "")) for f in best]


def _order(found: Found) -> tuple[float, str, int, str, int]:
    hit = found.hit
    return (-hit.score, hit.chat_id, hit.position, hit.where, hit.swipe or 0)


def _snippets(
    ctx: QueryContext, catalog: Connection, best: list[Found], cjk: bool
) -> dict[tuple[str | None, int], str]:
    """Snippets of the final hits only, one query per database."""
    by_source: dict[str | None, list[Found]] = defaultdict(list)
    for f in best:
        by_source[f.source].append(f)
    marked: dict[tuple[str | None, int], str] = {}
    for source, group in by_source.items():
        rowids, match = [f.rowid for f in group], group[0].match
        if source is None:
            made = snippets(catalog, "messages_fts", match, rowids, cjk)
        else:
            db = ctx.registry.existing_index_database(source)
            if db is None:
                continue
            with db.read() as conn:
                made = snippets(conn, "data_fts", match, rowids, cjk)
        marked.update(((source, rowid), text) for rowid, text in made.items())
    return marked
