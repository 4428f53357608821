"""Indexed chat data across chats, and its history (no ``x-extension-id``: read-only queries,
scoped to ``x-sillytavern-user`` when the request carries it)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from sidecar.api.operation import GET, operation
from sidecar.api.routes.data import key_from_path
from sidecar.api.schemas import PathInt
from sidecar.errors import InvalidInput
from sidecar.query.chat_data import query_chat_data
from sidecar.query.context import QueryContext
from sidecar.query.datasets import DataFilter, query_data
from sidecar.query.history import ChatHistory, chat_history, value_history
from sidecar.query.pages import Page

Limit = Annotated[int | None, QueryParameter(name="limit", required=False)]
Cursor = Annotated[str | None, QueryParameter(name="cursor", required=False)]


@operation(GET, "/data/{namespace:str}", "queryNamespaceData")
def namespace_data(
    *,
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    namespace: FromPath[str],
    key: Annotated[str | None, QueryParameter(name="key", required=False)] = None,
    value: Annotated[str | None, QueryParameter(name="value", required=False)] = None,
    gt: Annotated[str | None, QueryParameter(name="gt", required=False)] = None,
    lt: Annotated[str | None, QueryParameter(name="lt", required=False)] = None,
    chat_id: Annotated[str | None, QueryParameter(name="chatId", required=False)] = None,
    user: Annotated[str | None, QueryParameter(name="user", required=False)] = None,
    selected: Annotated[bool | None, QueryParameter(name="selected", required=False)] = None,
    level: Annotated[
        str | None,
        QueryParameter(
            name="level",
            required=False,
            description="message (default): values of messages; chat: the chats' own "
            "chat_metadata.<namespace> values",
        ),
    ] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page:
    """Values of one namespace across chats. Message values (``level=message``, the default) in
    chat order (chatId, position, swipe, key); chat-level values (``level=chat``: ``chatId``,
    ``user``, ``key``, ``value``) by (chatId, key). ``value`` is JSON when it parses, else a
    string; ``gt``/``lt`` compare numbers; ``selected=true`` keeps selected swipes only
    (``false``: the others)."""
    where = DataFilter(key, value, gt, lt, chat_id, user, selected)
    if level not in (None, "message", "chat"):
        raise InvalidInput("level must be message or chat")
    if level == "chat":
        return query_chat_data(
            queries, namespace, where, st_user=st_user, limit=limit, cursor=cursor
        )
    return query_data(queries, namespace, where, st_user=st_user, limit=limit, cursor=cursor)


@operation(
    GET,
    "/chats/{chat_id:str}/messages/{position:int}/history/{namespace:str}/{key:path}",
    "getMessageValueHistory",
)
def message_value_history(
    *,
    request: Request[Any, Any, Any],
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
    position: PathInt,
    namespace: FromPath[str],
    key: FromPath[str],
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page:
    """Every recorded version of one value of the message now at ``position``, oldest first;
    the current value (``replacedAt``/``reason`` null) of each swipe last."""
    return value_history(
        queries,
        chat_id,
        position,
        namespace,
        key_from_path(request, "{namespace}", key),
        st_user=st_user,
        limit=limit,
        cursor=cursor,
    )


@operation(GET, "/chats/{chat_id:str}/history/{namespace:str}/{key:path}", "getChatValueHistory")
def chat_value_history(
    *,
    request: Request[Any, Any, Any],
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
    namespace: FromPath[str],
    key: FromPath[str],
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page:
    """Every recorded version of one chat-level value (``chat_metadata.<namespace>.<key>``),
    oldest first; the current value (``replacedAt``/``reason`` null) last."""
    return value_history(
        queries,
        chat_id,
        None,
        namespace,
        key_from_path(request, "{namespace}", key),
        st_user=st_user,
        limit=limit,
        cursor=cursor,
    )


@operation(GET, "/chats/{chat_id:str}/history", "getChatDataHistory")
def chat_data_history(
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
) -> ChatHistory:
    """Data a chat lost (deleted messages, a shrink, removed chat-level data), grouped by when
    and why, newest first; at most 100 groups and 100 values per group are listed (``namespaces``
    counts them all)."""
    return chat_history(queries, chat_id, st_user=st_user)


router = Router(
    "/",
    route_handlers=[namespace_data, message_value_history, chat_value_history, chat_data_history],
)
