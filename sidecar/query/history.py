"""Recorded versions of indexed values: one value's history, and what a chat lost.

History rows (``data_history``) are written by the indexer before a value is replaced or removed,
in the extension database of the value's namespace; which messages exist now is in the catalog.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from sqlalchemy import Select, literal, or_, select

from sidecar.errors import InvalidInput, NotFound
from sidecar.ids import is_valid_id
from sidecar.query.context import QueryContext
from sidecar.query.datasets import NAMESPACE_NOT_FOUND
from sidecar.query.pages import Page, check_limit, decode_cursor, page_of
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.indexed_tables import chat_data, data_history, message_data
from sidecar.tracker import codec

KEY_NOT_FOUND = "Data key not found"
LOST_REASONS = ("message_deleted", "chat_shrunk")
MAX_LOST_GROUPS = 100  # newest first; older losses are still in data_history
MAX_LOST_VALUES = 100  # per group: the first by (position, swipe, namespace, key)

_HISTORY, _CURRENT = 0, 1  # cursor groups: recorded versions first, current values last


class ValueVersion(msgspec.Struct, rename="camel"):
    value: msgspec.Raw
    seen_at: str
    replaced_at: str | None
    reason: str | None
    swipe: int | None


class LostValue(msgspec.Struct, rename="camel"):
    position: int | None  # None: chat-level data (chat_metadata)
    swipe: int | None
    namespace: str
    key: str
    value: msgspec.Raw
    seen_at: str


class LostGroup(msgspec.Struct, rename="camel"):
    replaced_at: str
    reason: str
    namespaces: dict[str, int]
    positions: list[int] | None  # [min, max]; None when only chat-level data was lost
    values: list[LostValue]


class ChatHistory(msgspec.Struct, rename="camel"):
    chat_id: str
    state: str
    shrunk_from: int | None
    message_count: int
    lost: list[LostGroup]


def value_history(
    ctx: QueryContext,
    chat_id: str,
    position: int | None,
    namespace: str,
    key: str,
    *,
    st_user: str | None,
    limit: int | None,
    cursor: str | None,
) -> Page:
    """Every version of one key of the message now at ``position`` (None: of the chat's own
    ``chat_metadata.<namespace>``): replaced versions oldest first (in the order they were
    replaced), then the current value of each swipe (one, swipe null, for chat-level data)."""
    size = check_limit(limit)
    after = decode_cursor(cursor, 2)
    if after is not None and not all(type(part) is int for part in after):
        raise InvalidInput("Invalid cursor")
    with ctx.catalog() as catalog:
        ctx.chat_row(catalog, chat_id, st_user)
        assert catalog is not None  # chat_row found the chat
        msg_uid = None if position is None else ctx.message_row(catalog, chat_id, position).msg_uid
    db = ctx.extension_db(namespace)
    if db is None:
        raise NotFound(NAMESPACE_NOT_FOUND)
    rows: list[tuple[tuple[int, int], ValueVersion]] = []
    item = (
        data_history.c.chat_id == chat_id,
        data_history.c.msg_uid.is_(None) if msg_uid is None else data_history.c.msg_uid == msg_uid,
        data_history.c.namespace == namespace,
        data_history.c.key == key,
    )
    with db.read() as conn:
        old = conn.execute(
            select(
                data_history.c.id,
                data_history.c.value,
                data_history.c.seen_at,
                data_history.c.replaced_at,
                data_history.c.reason,
                data_history.c.swipe,
            )
            .where(*item)
            .order_by(data_history.c.id)
        )
        for ident, value, seen_at, replaced_at, reason, swipe in old:
            version = ValueVersion(codec.raw(value), seen_at, replaced_at, reason, swipe)
            rows.append(((_HISTORY, ident), version))
        for swipe, value, seen_at in conn.execute(_current(chat_id, msg_uid, namespace, key)):
            rows.append(
                ((_CURRENT, swipe or 0), ValueVersion(codec.raw(value), seen_at, None, None, swipe))
            )
    if not rows:
        raise NotFound(KEY_NOT_FOUND)
    if after is not None:
        rows = [row for row in rows if row[0] > (after[0], after[1])]
    kept, next_cursor = page_of(rows[: size + 1], size, lambda row: list(row[0]))
    return Page(items=[version for _, version in kept], next_cursor=next_cursor)


def _current(chat_id: str, msg_uid: int | None, namespace: str, key: str) -> Select[Any]:
    """The current value of one key: per swipe of a message, or the chat-level one."""
    if msg_uid is None:
        return select(literal(None), chat_data.c.value, chat_data.c.seen_at).where(
            chat_data.c.chat_id == chat_id,
            chat_data.c.namespace == namespace,
            chat_data.c.key == key,
        )
    return (
        select(message_data.c.swipe, message_data.c.value, message_data.c.seen_at)
        .where(
            message_data.c.chat_id == chat_id,
            message_data.c.msg_uid == msg_uid,
            message_data.c.namespace == namespace,
            message_data.c.key == key,
        )
        .order_by(message_data.c.swipe)
    )


def index_databases(ctx: QueryContext) -> Iterator[ExtensionDatabase]:
    """Every existing extension database (registered or index-only), each once."""
    registry = ctx.registry
    ids = {record.extension_id for record in registry.registrations()}
    for path in sorted(registry.database_dir.glob("*.db")):
        if is_valid_id(path.stem):
            ids.add(path.stem)
    seen: set[str] = set()
    for extension_id in sorted(ids):
        db = registry.existing_index_database(extension_id)
        if db is not None and str(db.path) not in seen:
            seen.add(str(db.path))
            yield db


def _lost_rows(db: ExtensionDatabase, chat_id: str) -> list[Any]:
    with db.read() as conn:
        return list(
            conn.execute(
                select(
                    data_history.c.replaced_at,
                    data_history.c.reason,
                    data_history.c.position,
                    data_history.c.swipe,
                    data_history.c.namespace,
                    data_history.c.key,
                    data_history.c.value,
                    data_history.c.seen_at,
                ).where(
                    data_history.c.chat_id == chat_id,
                    or_(
                        data_history.c.reason.in_(LOST_REASONS),
                        data_history.c.msg_uid.is_(None) & (data_history.c.reason == "removed"),
                    ),
                )
            )
        )


def _value_order(value: LostValue) -> tuple[int, int, int, str, str]:
    chat_level = value.position is None
    return (0 if chat_level else 1, value.position or 0, value.swipe or 0, value.namespace,
            value.key)  # fmt: skip


def chat_history(ctx: QueryContext, chat_id: str, *, st_user: str | None) -> ChatHistory:
    """What a chat lost: values gone with deleted messages or a shrink, and chat-level values
    removed, grouped by (replaced_at, reason), newest first. At most ``MAX_LOST_GROUPS`` groups and
    ``MAX_LOST_VALUES`` values per group are listed; ``namespaces`` always counts every value."""
    with ctx.catalog() as catalog:
        chat = ctx.chat_row(catalog, chat_id, st_user)
    groups: dict[tuple[str, str], LostGroup] = {}
    for db in index_databases(ctx):
        for replaced_at, reason, position, swipe, namespace, key, value, seen_at in _lost_rows(
            db, chat_id
        ):
            group = groups.get((replaced_at, reason))
            if group is None:
                group = groups[(replaced_at, reason)] = LostGroup(replaced_at, reason, {}, None, [])
            group.namespaces[namespace] = group.namespaces.get(namespace, 0) + 1
            if position is not None:
                low, high = group.positions or (position, position)
                group.positions = [min(low, position), max(high, position)]
            group.values.append(
                LostValue(position, swipe, namespace, key, codec.raw(value), seen_at)
            )
    lost = sorted(groups.values(), key=lambda g: (g.replaced_at, g.reason), reverse=True)
    lost = lost[:MAX_LOST_GROUPS]
    for group in lost:
        group.values = sorted(group.values, key=_value_order)[:MAX_LOST_VALUES]
        group.namespaces = dict(sorted(group.namespaces.items()))
    return ChatHistory(chat.chat_id, chat.state, chat.shrunk_from, chat.message_count, lost)
