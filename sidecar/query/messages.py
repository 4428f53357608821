"""Messages of a chat and the namespace data of their swipes: the HTTP form of ``get_data``.

A message's row lives in the catalog (by position); its namespace values live in the extension
database each namespace maps to, keyed by the message's ``msg_uid``. Values are JSON text, handed
back as ``msgspec.Raw``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import select

from sidecar.errors import InvalidInput, NotFound
from sidecar.query.context import QueryContext
from sidecar.query.pages import Page, check_limit, decode_cursor, page_of
from sidecar.storage.catalog_tables import messages
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.indexed_tables import message_data
from sidecar.tracker.codec import decode, raw
from sidecar.tracker.data import KEY_NOT_FOUND

NAMESPACE_NOT_FOUND = "Namespace not found"
SWIPE_NOT_FOUND = "Swipe not found"
NO_PREVIOUS_SWIPE = "Swipe not found: the selected swipe is the first (0), there is no previous one"
BAD_SWIPE = "swipe must be selected, previous, all or a swipe number (0, 1, ...)"

SwipeChoice = Literal["selected", "previous", "all"] | int


def parse_swipe(value: str | None) -> SwipeChoice:
    """``?swipe=``: selected (default), previous, all, or a non-negative swipe number."""
    if value is None or value == "selected":
        return "selected"
    if value in ("previous", "all"):
        return "previous" if value == "previous" else "all"
    if value.isascii() and value.isdigit():
        return int(value)
    raise InvalidInput(BAD_SWIPE)


def message_item(row: Any) -> dict[str, Any]:
    """A message as the catalog knows it (without namespace values)."""
    return {
        "position": row.position,
        "name": row.name,
        "isUser": bool(row.is_user),
        "isSystem": bool(row.is_system),
        "sendDate": row.send_date,
        "sendDateRaw": row.send_date_raw,
        "text": row.text,
        "swipeId": row.swipe_id,
        "swipeCount": row.swipe_count,
        "extra": raw(row.builtin_extra) if row.builtin_extra else {},
        "namespaces": raw(row.namespaces),
    }


def _selected_data(
    db: ExtensionDatabase | None, chat_id: str, namespace: str, uids: list[int]
) -> dict[int, dict[str, Any]]:
    """msg_uid -> {key: value} of ``namespace`` in each message's selected swipe."""
    found: dict[int, dict[str, Any]] = defaultdict(dict)
    if db is None or not uids:
        return found
    query = (
        select(message_data.c.msg_uid, message_data.c.key, message_data.c.value)
        .where(
            message_data.c.chat_id == chat_id,
            message_data.c.namespace == namespace,
            message_data.c.selected.is_(True),
            message_data.c.msg_uid.in_(uids),
        )
        .order_by(message_data.c.msg_uid, message_data.c.key)
    )
    with db.read() as conn:
        for uid, key, value in conn.execute(query):
            found[uid][key] = raw(value)
    return found


def list_messages(
    queries: QueryContext,
    chat_id: str,
    scope: str | None,
    *,
    start: int | None = None,
    end: int | None = None,
    namespace: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Page:
    """Messages by position, ``start``..``end`` inclusive; with ``namespace``, each item carries
    that namespace's data of its selected swipe as ``data`` (null when it has none)."""
    size = check_limit(limit)
    if (start is not None and start < 0) or (end is not None and end < 0):
        raise InvalidInput("from and to must be positions (0 or more)")
    if start is not None and end is not None and start > end:
        raise InvalidInput("from must not be greater than to")
    after = decode_cursor(cursor, 1)
    if after is not None and (not isinstance(after[0], int) or isinstance(after[0], bool)):
        raise InvalidInput("Invalid cursor")
    with queries.catalog() as conn:
        QueryContext.chat_row(conn, chat_id, scope)
        assert conn is not None
        query = select(messages).where(messages.c.chat_id == chat_id)
        if start is not None:
            query = query.where(messages.c.position >= start)
        if end is not None:
            query = query.where(messages.c.position <= end)
        if after is not None:
            query = query.where(messages.c.position > after[0])
        rows = list(conn.execute(query.order_by(messages.c.position).limit(size + 1)))
    kept, next_cursor = page_of(rows, size, lambda row: [row.position])
    items = [message_item(row) for row in kept]
    if namespace is not None:
        data = _selected_data(
            queries.extension_db(namespace), chat_id, namespace, [row.msg_uid for row in kept]
        )
        for item, row in zip(items, kept, strict=True):
            item["data"] = data.get(row.msg_uid)
    return Page(items=items, next_cursor=next_cursor)


def _message_row(queries: QueryContext, chat_id: str, position: int, scope: str | None) -> Any:
    with queries.catalog() as conn:
        QueryContext.chat_row(conn, chat_id, scope)
        assert conn is not None
        return QueryContext.message_row(conn, chat_id, position)


def _swipe_rows(
    db: ExtensionDatabase, chat_id: str, uid: int, namespaces: Iterable[str]
) -> list[tuple[int, bool, str, str, str]]:
    """(swipe, selected, namespace, key, value) of one message, ordered."""
    query = (
        select(
            message_data.c.swipe,
            message_data.c.selected,
            message_data.c.namespace,
            message_data.c.key,
            message_data.c.value,
        )
        .where(
            message_data.c.chat_id == chat_id,
            message_data.c.msg_uid == uid,
            message_data.c.namespace.in_(list(namespaces)),
        )
        .order_by(message_data.c.swipe, message_data.c.namespace, message_data.c.key)
    )
    with db.read() as conn:
        return [(s, bool(sel), ns, k, v) for s, sel, ns, k, v in conn.execute(query)]


def message_detail(
    queries: QueryContext, chat_id: str, position: int, scope: str | None
) -> dict[str, Any]:
    """One message with every swipe that has namespace data:
    ``swipes: [{swipe, selected, data: {namespace: {key: value}}}]``."""
    row = _message_row(queries, chat_id, position, scope)
    names: list[str] = decode(row.namespaces)
    by_db: dict[str, tuple[ExtensionDatabase, list[str]]] = {}
    for name in names:
        db = queries.extension_db(name)
        if db is not None:
            by_db.setdefault(db.extension_id, (db, []))[1].append(name)
    found: list[tuple[int, bool, str, str, str]] = []
    for db, grouped in by_db.values():
        found.extend(_swipe_rows(db, chat_id, row.msg_uid, grouped))
    swipes: dict[int, dict[str, Any]] = {}
    for swipe, selected, namespace, key, value in sorted(found, key=lambda r: r[:1] + r[2:4]):
        entry = swipes.setdefault(swipe, {"swipe": swipe, "selected": selected, "data": {}})
        entry["data"].setdefault(namespace, {})[key] = raw(value)
    detail = message_item(row)
    detail["problems"] = raw(row.problems) if row.problems else []
    detail["swipes"] = [swipes[swipe] for swipe in sorted(swipes)]
    return detail


def _namespace_swipes(
    queries: QueryContext, chat_id: str, position: int, namespace: str, scope: str | None
) -> tuple[Any, dict[int, dict[str, Any]]]:
    """The message row and ``{swipe: {key: value}}`` of one namespace; 404 when it has none."""
    row = _message_row(queries, chat_id, position, scope)
    db = queries.extension_db(namespace)
    rows = [] if db is None else _swipe_rows(db, chat_id, row.msg_uid, [namespace])
    if not rows:
        raise NotFound(NAMESPACE_NOT_FOUND)
    swipes: dict[int, dict[str, Any]] = {}
    for swipe, _selected, _namespace, key, value in rows:
        swipes.setdefault(swipe, {})[key] = raw(value)
    return row, swipes


def _chosen_swipe(row: Any, choice: int | Literal["selected", "previous"]) -> int:
    """The swipe number ``choice`` names; 404 when the message has no such swipe. A message
    without ``swipes`` has one swipe, 0."""
    if choice == "selected":
        return int(row.swipe_id)
    if choice == "previous":
        if row.swipe_id == 0:
            raise NotFound(NO_PREVIOUS_SWIPE)
        return int(row.swipe_id) - 1
    if choice >= max(int(row.swipe_count), 1):
        raise NotFound(SWIPE_NOT_FOUND)
    return choice


def namespace_data(
    queries: QueryContext,
    *,
    chat_id: str,
    position: int,
    namespace: str,
    choice: SwipeChoice,
    scope: str | None,
) -> dict[str, Any]:
    """A namespace's object in one swipe, or ``{"<swipe>": object}`` for ``all`` (only swipes
    that have data). A swipe that exists but holds no data of the namespace is a 404 too."""
    row, swipes = _namespace_swipes(queries, chat_id, position, namespace, scope)
    if choice == "all":
        return {str(swipe): data for swipe, data in sorted(swipes.items())}
    swipe = _chosen_swipe(row, choice)
    if swipe not in swipes:
        raise NotFound(NAMESPACE_NOT_FOUND)
    return swipes[swipe]


def key_data(
    queries: QueryContext,
    *,
    chat_id: str,
    position: int,
    namespace: str,
    key: str,
    choice: SwipeChoice,
    scope: str | None,
) -> dict[str, Any]:
    """``{key: value}`` in one swipe, or ``{"<swipe>": value}`` for ``all`` (the swipes that
    have the key)."""
    if choice == "all":
        _, swipes = _namespace_swipes(queries, chat_id, position, namespace, scope)
        values = {str(s): data[key] for s, data in sorted(swipes.items()) if key in data}
        if not values:
            raise NotFound(KEY_NOT_FOUND)
        return values
    data = namespace_data(
        queries,
        chat_id=chat_id,
        position=position,
        namespace=namespace,
        choice=choice,
        scope=scope,
    )
    if key not in data:
        raise NotFound(KEY_NOT_FOUND)
    return {key: data[key]}
