"""Chat-level data: the ``chat_metadata.<namespace>`` objects extensions keep per chat.

Their values live in the namespace's extension database (``chat_data``, one row per key), the
chats and their users in the catalog. Values are JSON text, handed back as ``msgspec.Raw``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from sqlalchemy import Connection, select, tuple_

from sidecar.errors import InvalidInput, NotFound
from sidecar.query.context import QueryContext
from sidecar.query.datasets import NAMESPACE_NOT_FOUND, DataFilter, value_filters
from sidecar.query.pages import Page, check_limit, decode_cursor, page_of
from sidecar.sillytavern.messages import chat_namespaces
from sidecar.storage.catalog_tables import chats
from sidecar.storage.indexed_tables import chat_data
from sidecar.tracker import codec
from sidecar.tracker.data import KEY_NOT_FOUND

SELECTED_IS_MESSAGE_LEVEL = "selected applies to message-level data only (level=message)"
_CATALOG_CHUNK = 500


class ChatDataItem(msgspec.Struct, rename="camel"):
    chat_id: str
    user: str
    key: str
    value: msgspec.Raw


def chat_namespace_counts(queries: QueryContext, metadata_json: str | None) -> dict[str, int]:
    """Per indexed namespace of a chat's metadata, how many keys it has (a value that is not an
    object counts as one key, ``$value``)."""
    if not metadata_json:
        return {}
    found = chat_namespaces(codec.decode(metadata_json))
    return {
        namespace: len(data)
        for namespace, data in sorted(found.items())
        if queries.policy.extension_for(namespace) is not None
    }


def namespace_object(
    queries: QueryContext, chat_id: str, namespace: str, scope: str | None
) -> dict[str, Any]:
    """A chat's object of one namespace, ``{key: value}``; 404 when the chat has none."""
    with queries.catalog() as conn:
        QueryContext.chat_row(conn, chat_id, scope)
    db = queries.extension_db(namespace)
    rows: list[Any] = []
    if db is not None:
        with db.read() as conn:
            rows = list(
                conn.execute(
                    select(chat_data.c.key, chat_data.c.value)
                    .where(chat_data.c.chat_id == chat_id, chat_data.c.namespace == namespace)
                    .order_by(chat_data.c.key)
                )
            )
    if not rows:
        raise NotFound(NAMESPACE_NOT_FOUND)
    return {key: codec.raw(value) for key, value in rows}


def key_value(
    queries: QueryContext, chat_id: str, namespace: str, key: str, scope: str | None
) -> dict[str, Any]:
    """``{key: value}`` of a chat's namespace; 404 when the namespace or the key is absent."""
    data = namespace_object(queries, chat_id, namespace, scope)
    if key not in data:
        raise NotFound(KEY_NOT_FOUND)
    return {key: data[key]}


def query_chat_data(
    queries: QueryContext,
    namespace: str,
    where: DataFilter,
    *,
    st_user: str | None,
    limit: int | None,
    cursor: str | None,
) -> Page:
    """``GET /data/{namespace}?level=chat``: chat-level values across chats, by (chatId, key)."""
    if where.selected is not None:
        raise InvalidInput(SELECTED_IS_MESSAGE_LEVEL)
    size = check_limit(limit)
    after = decode_cursor(cursor, 2)
    if after is not None and not all(isinstance(part, str) for part in after):
        raise InvalidInput("Invalid cursor")
    db = queries.extension_db(namespace)
    if db is None:
        raise NotFound(NAMESPACE_NOT_FOUND)
    conditions = value_filters(chat_data, namespace, where)
    if after is not None:
        conditions.append(tuple_(chat_data.c.chat_id, chat_data.c.key) > tuple_(*after))
    user = where.user
    if st_user is not None:
        if user is not None and user != st_user:
            return Page(items=[], next_cursor=None)
        user = st_user
    items: list[ChatDataItem] = []
    with queries.catalog() as catalog:
        if catalog is None:
            return Page(items=[], next_cursor=None)
        with db.read() as conn:
            query = (
                select(chat_data.c.chat_id, chat_data.c.key, chat_data.c.value)
                .where(*conditions)
                .order_by(chat_data.c.chat_id, chat_data.c.key)
            )
            for batch in _batches(conn.execute(query), size + 1):
                owners = _owners(catalog, {row[0] for row in batch}, user)
                items.extend(
                    ChatDataItem(chat_id, owners[chat_id], key, codec.raw(value))
                    for chat_id, key, value in batch
                    if chat_id in owners
                )
                if len(items) > size:
                    break
    kept, next_cursor = page_of(items[: size + 1], size, lambda item: [item.chat_id, item.key])
    return Page(items=kept, next_cursor=next_cursor)


def _batches(rows: Any, size: int) -> Iterator[list[tuple[str, str, str]]]:
    batch: list[tuple[str, str, str]] = []
    for chat_id, key, value in rows:
        batch.append((chat_id, key, value))
        if len(batch) >= max(size, _CATALOG_CHUNK):
            yield batch
            batch = []
    if batch:
        yield batch


def _owners(catalog: Connection, chat_ids: set[str], user: str | None) -> dict[str, str]:
    """chat_id -> user of the catalogued chats among ``chat_ids`` visible to ``user``."""
    found: dict[str, str] = {}
    ids = sorted(chat_ids)
    for start in range(0, len(ids), _CATALOG_CHUNK):
        query = select(chats.c.chat_id, chats.c.user).where(
            chats.c.chat_id.in_(ids[start : start + _CATALOG_CHUNK])
        )
        if user is not None:
            query = query.where(chats.c.user == user)
        found.update((chat_id, owner) for chat_id, owner in catalog.execute(query))
    return found
