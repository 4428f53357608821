"""Indexed chats and messages (read-only, no ``x-extension-id``); ``x-sillytavern-user`` limits
them to that user's chats."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Request, Router
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from sidecar.api.operation import GET, operation
from sidecar.api.routes.data import key_from_path, raw_key
from sidecar.api.schemas import INT64_MAX, INT64_MIN, PathInt
from sidecar.query import chat_data
from sidecar.query import chats as chat_queries
from sidecar.query import messages as message_queries
from sidecar.query.context import QueryContext
from sidecar.query.pages import Page

CHAT = "/chats/{chat_id:str}"
MESSAGE = CHAT + "/messages/{position:int}"
DATA = MESSAGE + "/data/{namespace:str}"
CHAT_DATA = CHAT + "/data/{namespace:str}"

Limit = Annotated[
    int | None, QueryParameter(name="limit", required=False, description="1..1000, default 100")
]
Cursor = Annotated[
    str | None,
    QueryParameter(name="cursor", required=False, description="nextCursor of the previous page"),
]
Swipe = Annotated[
    str | None,
    QueryParameter(
        name="swipe",
        required=False,
        description="selected (default), previous, all, or a swipe number",
    ),
]


@operation(GET, "/chats", "listChats")
def list_chats(
    *,
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    user: Annotated[str | None, QueryParameter(name="user", required=False)] = None,
    character: Annotated[
        str | None,
        QueryParameter(name="character", required=False, description="character folder name"),
    ] = None,
    group_id: Annotated[str | None, QueryParameter(name="groupId", required=False)] = None,
    namespace: Annotated[
        str | None,
        QueryParameter(
            name="namespace",
            required=False,
            description="chats with a message, or chat metadata, carrying it",
        ),
    ] = None,
    q: Annotated[
        str | None,
        QueryParameter(
            name="q",
            required=False,
            description=(
                "Chat search, as SillyTavern's: whitespace-separated fragments, each of which "
                "must be in the chat's file name (case-insensitive substring) or in one of its "
                "messages (each may be in a different message). In message text, Chinese, "
                "Japanese and Korean match as substrings, Latin words as whole words (see match)"
            ),
        ),
    ] = None,
    match: Annotated[
        Literal["words", "substring"] | None,
        QueryParameter(
            name="match",
            required=False,
            description=(
                "How q matches Latin text: words (default, from the index) or substring "
                "(inside words too, exactly as SillyTavern's chat search; slower, it reads the "
                "text of chats the index does not match)"
            ),
        ),
    ] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page:
    """``{"items": [chat], "nextCursor"}``, ordered by the chat file's path."""
    filters = chat_queries.ChatFilters(
        user, character, group_id, namespace, q, substring=match == "substring"
    )
    return chat_queries.list_chats(queries, filters, st_user, limit, cursor)


@operation(GET, CHAT, "getChat")
def get_chat(
    *,
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
) -> dict[str, Any]:
    return chat_queries.chat_detail(queries, chat_id, st_user)


@operation(GET, CHAT + "/messages", "listChatMessages")
def list_messages(
    *,
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
    start: Annotated[
        int | None,
        QueryParameter(
            name="from", required=False, description="first position", ge=INT64_MIN, le=INT64_MAX
        ),
    ] = None,
    end: Annotated[
        int | None,
        QueryParameter(
            name="to",
            required=False,
            description="last position (inclusive)",
            ge=INT64_MIN,
            le=INT64_MAX,
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        QueryParameter(
            name="namespace", required=False, description="add its selected-swipe data as data"
        ),
    ] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page:
    """``{"items": [message], "nextCursor"}``, ordered by position."""
    return message_queries.list_messages(
        queries,
        chat_id,
        st_user,
        start=start,
        end=end,
        namespace=namespace,
        limit=limit,
        cursor=cursor,
    )


@operation(GET, MESSAGE, "getChatMessage")
def get_message(
    *,
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
    position: PathInt,
) -> dict[str, Any]:
    return message_queries.message_detail(queries, chat_id, position, st_user)


@operation(GET, DATA, "getMessageNamespaceData")
def get_namespace_data(
    *,
    request: Request[Any, Any, Any],
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
    position: PathInt,
    namespace: FromPath[str],
    swipe: Swipe = None,
) -> dict[str, Any]:
    """The namespace's object in one swipe, or ``{"<swipe>": object}`` for ``swipe=all``."""
    choice = message_queries.parse_swipe(swipe)
    key = raw_key(request, "{namespace}")  # a key made only of "/" is routed here
    if key is not None:
        return message_queries.key_data(
            queries,
            chat_id=chat_id,
            position=position,
            namespace=namespace,
            key=key,
            choice=choice,
            scope=st_user,
        )
    return message_queries.namespace_data(
        queries,
        chat_id=chat_id,
        position=position,
        namespace=namespace,
        choice=choice,
        scope=st_user,
    )


@operation(GET, DATA + "/{key:path}", "getMessageNamespaceDataKey")
def get_key_data(
    *,
    request: Request[Any, Any, Any],
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
    position: PathInt,
    namespace: FromPath[str],
    key: FromPath[str],
    swipe: Swipe = None,
) -> dict[str, Any]:
    """``{"<key>": value}``, or ``{"<swipe>": value}`` for ``swipe=all``; keys are URL-encoded."""
    choice = message_queries.parse_swipe(swipe)
    return message_queries.key_data(
        queries,
        chat_id=chat_id,
        position=position,
        namespace=namespace,
        key=key_from_path(request, "{namespace}", key),
        choice=choice,
        scope=st_user,
    )


@operation(GET, CHAT_DATA, "getChatNamespaceData")
def get_chat_namespace_data(
    *,
    request: Request[Any, Any, Any],
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
    namespace: FromPath[str],
) -> dict[str, Any]:
    """The chat's own object of the namespace (``chat_metadata.<namespace>``)."""
    key = raw_key(request, "{namespace}")  # a key made only of "/" is routed here
    if key is not None:
        return chat_data.key_value(queries, chat_id, namespace, key, st_user)
    return chat_data.namespace_object(queries, chat_id, namespace, st_user)


@operation(GET, CHAT_DATA + "/{key:path}", "getChatNamespaceDataKey")
def get_chat_key_data(
    *,
    request: Request[Any, Any, Any],
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
    namespace: FromPath[str],
    key: FromPath[str],
) -> dict[str, Any]:
    """``{"<key>": value}`` of the chat's own object of the namespace; keys are URL-encoded."""
    real_key = key_from_path(request, "{namespace}", key)
    return chat_data.key_value(queries, chat_id, namespace, real_key, st_user)


router = Router(
    "/",
    route_handlers=[
        list_chats,
        get_chat,
        list_messages,
        get_message,
        get_namespace_data,
        get_key_data,
        get_chat_namespace_data,
        get_chat_key_data,
    ],
)
