"""Chats of the catalog: the list (filtered, paginated by ``rel_path``) and one chat in detail.

JSON columns (``chat_metadata``, group members) are handed back as ``msgspec.Raw``: spliced into
the response without being decoded and encoded again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, exists, func, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from sidecar.errors import InvalidInput
from sidecar.indexer.namespaces import NamespacePolicy
from sidecar.query.chat_data import chat_namespace_counts
from sidecar.query.chat_search import search_page
from sidecar.query.context import QueryContext
from sidecar.query.fts_terms import chat_fragments
from sidecar.query.pages import Page, check_limit, decode_cursor, page_of
from sidecar.sillytavern.messages import BUILTIN_CHAT_METADATA_KEYS
from sidecar.storage.catalog_tables import chats, messages, problems
from sidecar.tracker.codec import raw

# json_each(messages.namespaces): one row per namespace a message carries.
_EACH = func.json_each(messages.c.namespaces).table_valued("value").alias("each_ns")
# json_each(chats.metadata_json): one row per key of a chat's chat_metadata.
_KEYS = func.json_each(chats.c.metadata_json).table_valued("key").alias("each_key")


@dataclass(frozen=True)
class ChatFilters:
    """``None`` means "any"; ``user`` is the ``?user=`` filter, not the caller's scope; ``q`` is
    a chat search (``sidecar.query.chat_search``)."""

    user: str | None = None
    character: str | None = None
    group_id: str | None = None
    namespace: str | None = None
    q: str | None = None
    substring: bool = False  # q matches inside words too (SillyTavern's rule exactly)


def chat_item(row: Any) -> dict[str, Any]:
    """A chat as lists show it."""
    return {
        "chatId": row.chat_id,
        "user": row.user,
        "kind": row.kind,
        "character": row.character,
        "groupId": row.group_id,
        "groupName": row.group_name,
        "fileName": row.file_name,
        "messageCount": row.message_count,
        "state": row.state,
        "lastIndexed": row.last_indexed,
    }


def _conditions(policy: NamespacePolicy, filters: ChatFilters, scope: str | None) -> list[Any]:
    where: list[ColumnElement[bool]] = []
    if scope is not None:
        where.append(chats.c.user == scope)
    if filters.user is not None:
        where.append(chats.c.user == filters.user)
    if filters.character is not None:
        where.append(chats.c.character == filters.character)
    if filters.group_id is not None:
        where.append(chats.c.group_id == filters.group_id)
    if filters.namespace is not None:
        in_messages = exists(
            select(1)
            .select_from(messages)
            .join(_EACH, _EACH.c.value == filters.namespace)
            .where(messages.c.chat_id == chats.c.chat_id)
        )
        if policy.extension_for(filters.namespace) is None or (
            filters.namespace in BUILTIN_CHAT_METADATA_KEYS
        ):
            where.append(in_messages)
        else:  # or the chat's own metadata carries it
            in_metadata = exists(
                select(1)
                .select_from(_KEYS)
                .where(chats.c.metadata_json.is_not(None), _KEYS.c.key == filters.namespace)
            )
            where.append(or_(in_messages, in_metadata))
    return where


def list_chats(
    queries: QueryContext,
    filters: ChatFilters,
    scope: str | None,
    limit: int | None,
    cursor: str | None,
) -> Page:
    """Chats visible to ``scope`` (None: every user) matching ``filters``, by relative path."""
    size = check_limit(limit)
    after = decode_cursor(cursor, 1)
    if after is not None and not isinstance(after[0], str):
        raise InvalidInput("Invalid cursor")
    fragments = chat_fragments(filters.q or "")
    with queries.catalog() as conn:
        if conn is None:
            return Page(items=[], next_cursor=None)
        query = select(chats).where(*_conditions(queries.policy, filters, scope))
        if fragments:
            start = None if after is None else str(after[0])
            rows = search_page(
                conn, query, fragments, after=start, size=size, substring=filters.substring
            )
        else:
            if after is not None:
                query = query.where(chats.c.rel_path > after[0])
            rows = list(conn.execute(query.order_by(chats.c.rel_path).limit(size + 1)))
    kept, next_cursor = page_of(rows, size, lambda row: [row.rel_path])
    return Page(items=[chat_item(row) for row in kept], next_cursor=next_cursor)


def _namespace_counts(conn: Connection, chat_id: str) -> dict[str, int]:
    """Per namespace, how many of the chat's messages carry it."""
    query = (
        select(_EACH.c.value, func.count())
        .select_from(messages)
        .join(_EACH, true())
        .where(messages.c.chat_id == chat_id)
        .group_by(_EACH.c.value)
        .order_by(_EACH.c.value)
    )
    return {str(name): int(count) for name, count in conn.execute(query)}


def chat_detail(queries: QueryContext, chat_id: str, scope: str | None) -> dict[str, Any]:
    """One chat: its list entry plus header fields, file state and what it holds (``namespaces``:
    per namespace, how many messages carry it; ``chatNamespaces``: per namespace of the chat's
    metadata, how many keys it has); 404 when it is not visible to ``scope``."""
    with queries.catalog() as conn:
        row = QueryContext.chat_row(conn, chat_id, scope)
        assert conn is not None  # chat_row raised otherwise
        counts = _namespace_counts(conn, chat_id)
        problem_count = conn.execute(
            select(func.count()).select_from(problems).where(problems.c.chat_id == chat_id)
        ).scalar_one()
    detail = chat_item(row)
    detail.update(
        {
            "groupMembers": raw(row.group_members) if row.group_members else None,
            "userName": row.user_name,
            "characterName": row.character_name,
            "createDate": row.create_date,
            "integrity": row.integrity,
            "metadata": raw(row.metadata_json) if row.metadata_json else {},
            "namespaces": counts,
            "chatNamespaces": chat_namespace_counts(queries, row.metadata_json),
            "size": row.size,
            "shrunkFrom": row.shrunk_from,
            "firstSeen": row.first_seen,
            "lastChanged": row.last_changed,
            "missingSince": row.missing_since,
            "problems": int(problem_count),
        }
    )
    return detail
