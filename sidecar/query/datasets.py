"""``GET /data/{namespace}``: one namespace's indexed message values across chats, in chat order.

Rows live in the namespace's extension database, positions and users in the catalog (another
SQLite file), so the join happens here: extension rows are streamed in ``chat_id`` order, whole
chats at a time; each batch of chats is resolved against the catalog in one query, sorted by
(chat_id, position, swipe, key) and cut at the cursor. The cursor is the last item's sort key, so
pages stay correct while messages are inserted or moved.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Connection, and_, func, select

from sidecar.errors import InvalidInput, NotFound
from sidecar.query.context import QueryContext
from sidecar.query.pages import Page, check_limit, decode_cursor, page_of
from sidecar.storage.catalog_tables import chats, messages
from sidecar.storage.indexed_tables import message_data
from sidecar.tracker import codec

NAMESPACE_NOT_FOUND = "Namespace not found"
_NUMBER_TYPES = ("integer", "real")
_CATALOG_CHUNK = 500  # bound parameters per catalog query


class DataItem(msgspec.Struct, rename="camel"):
    chat_id: str
    user: str
    position: int
    swipe: int
    selected: bool
    key: str
    value: msgspec.Raw


@dataclass(frozen=True)
class DataFilter:
    """Parsed query parameters (``None``: no filter)."""

    key: str | None = None
    value: str | None = None
    gt: str | None = None
    lt: str | None = None
    chat_id: str | None = None
    user: str | None = None
    selected: bool | None = None


def parse_number(text: str, name: str) -> float | int:
    """A JSON number (``gt``/``lt``); 400 for anything else, booleans and NaN included."""
    try:
        number = msgspec.json.decode(text)
    except msgspec.DecodeError:
        raise InvalidInput(f"{name} must be a number") from None
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise InvalidInput(f"{name} must be a number")
    return number


def _is_number(column: Any) -> ColumnElement[bool]:
    return func.json_type(column).in_(_NUMBER_TYPES)


def value_condition(text: str, column: Any = message_data.c.value) -> ColumnElement[bool]:
    """``value=``: the parameter as JSON when it parses, else as a string. Numbers compare
    numerically (``3`` matches a stored ``3.0``), never matching booleans; anything else by its
    compact JSON text, which is how the indexer stores values."""
    try:
        wanted = msgspec.json.decode(text)
    except msgspec.DecodeError:
        wanted = text
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        return and_(_is_number(column), func.json_extract(column, "$") == wanted)
    same_text: ColumnElement[bool] = column == codec.encode(wanted)
    return same_text


def value_filters(table: Any, namespace: str, where: DataFilter) -> list[Any]:
    """The conditions a message- or chat-level data table (``table.c``) shares: namespace,
    ``key``, ``value``, ``gt``/``lt``, ``chatId``."""
    column = table.c.value
    conditions: list[Any] = [table.c.namespace == namespace]
    if where.key is not None:
        conditions.append(table.c.key == where.key)
    if where.value is not None:
        conditions.append(value_condition(where.value, column))
    extracted = func.json_extract(column, "$")
    if where.gt is not None:
        conditions += [_is_number(column), extracted > parse_number(where.gt, "gt")]
    if where.lt is not None:
        conditions += [_is_number(column), extracted < parse_number(where.lt, "lt")]
    if where.chat_id is not None:
        conditions.append(table.c.chat_id == where.chat_id)
    return conditions


def _conditions(namespace: str, where: DataFilter, after_chat: str | None) -> list[Any]:
    conditions = value_filters(message_data, namespace, where)
    if where.selected is not None:
        conditions.append(message_data.c.selected == where.selected)
    if after_chat is not None:
        conditions.append(message_data.c.chat_id >= after_chat)
    return conditions


Row = tuple[str, int, int, str, str, bool]  # chat_id, msg_uid, swipe, key, value, selected


def _chat_batches(conn: Connection, conditions: list[Any], size: int) -> Iterator[list[Row]]:
    """Rows in chat_id order, in batches of whole chats holding at least ``size`` rows."""
    result = conn.execute(
        select(
            message_data.c.chat_id,
            message_data.c.msg_uid,
            message_data.c.swipe,
            message_data.c.key,
            message_data.c.value,
            message_data.c.selected,
        )
        .where(*conditions)
        .order_by(message_data.c.chat_id)
    )
    batch: list[Row] = []
    for row in result:
        chat_id = row[0]
        if len(batch) >= size and batch[-1][0] != chat_id:
            yield batch
            batch = []
        batch.append((chat_id, row[1], row[2], row[3], row[4], bool(row[5])))
    if batch:
        yield batch


def _locate(
    catalog: Connection, rows: Sequence[Row], user: str | None
) -> dict[tuple[str, int], tuple[int, str]]:
    """(chat_id, msg_uid) -> (position, user) of catalogued messages visible to ``user``."""
    uids = sorted({row[1] for row in rows})
    found: dict[tuple[str, int], tuple[int, str]] = {}
    for start in range(0, len(uids), _CATALOG_CHUNK):
        query = (
            select(messages.c.chat_id, messages.c.msg_uid, messages.c.position, chats.c.user)
            .join(chats, chats.c.chat_id == messages.c.chat_id)
            .where(messages.c.msg_uid.in_(uids[start : start + _CATALOG_CHUNK]))
        )
        if user is not None:
            query = query.where(chats.c.user == user)
        for chat_id, msg_uid, position, owner in catalog.execute(query):
            found[(chat_id, msg_uid)] = (position, owner)
    return found


def _sort_key(item: DataItem) -> tuple[str, int, int, str]:
    return (item.chat_id, item.position, item.swipe, item.key)


def query_data(
    ctx: QueryContext,
    namespace: str,
    where: DataFilter,
    *,
    st_user: str | None,
    limit: int | None,
    cursor: str | None,
) -> Page:
    size = check_limit(limit)
    after = decode_cursor(cursor, 4)
    if after is not None and not (
        isinstance(after[0], str)
        and isinstance(after[1], int)
        and isinstance(after[2], int)
        and isinstance(after[3], str)
    ):
        raise InvalidInput("Invalid cursor")
    db = ctx.extension_db(namespace)
    if db is None:
        raise NotFound(NAMESPACE_NOT_FOUND)
    conditions = _conditions(namespace, where, after[0] if after is not None else None)
    user = where.user
    if st_user is not None:
        if user is not None and user != st_user:
            return Page(items=[], next_cursor=None)
        user = st_user
    after_key = tuple(after) if after is not None else None
    items: list[DataItem] = []
    with ctx.catalog() as catalog:
        if catalog is None:
            return Page(items=[], next_cursor=None)
        with db.read() as conn:
            for batch in _chat_batches(conn, conditions, size + 1 - len(items)):
                where_is = _locate(catalog, batch, user)
                found = []
                for chat_id, msg_uid, swipe, key, value, selected in batch:
                    located = where_is.get((chat_id, msg_uid))
                    if located is None:  # not catalogued (yet), or another user's chat
                        continue
                    item = DataItem(
                        chat_id, located[1], located[0], swipe, selected, key, codec.raw(value)
                    )
                    if after_key is None or _sort_key(item) > after_key:
                        found.append(item)
                found.sort(key=_sort_key)
                items.extend(found)
                if len(items) > size:
                    break
    kept, next_cursor = page_of(items, size, _sort_key)
    return Page(items=kept, next_cursor=next_cursor)
