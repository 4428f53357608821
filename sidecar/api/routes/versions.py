"""Versions of a chat: the list (what each save changed), any version's exact file, and a
per-message diff between two versions. Read-only; ``x-sillytavern-user`` limits them to that
user's chats."""

from __future__ import annotations

import weakref
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Response, Router
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from sqlalchemy import Connection

from sidecar.api.operation import GET, operation
from sidecar.api.schemas import INT64_MAX, INT64_MIN, PathInt
from sidecar.errors import NotFound
from sidecar.query.context import CHAT_NOT_FOUND, QueryContext
from sidecar.query.pages import Page
from sidecar.recovery import versions as recovery
from sidecar.recovery.version_diff import diff_versions
from sidecar.storage.linestore import LineStore

CHAT = "/chats/{chat_id:str}"
VERSIONS = CHAT + "/versions"
VERSION = VERSIONS + "/{version:int}"
JSONL = "application/jsonl"
LINES_DIR = "lines"
_STORE_ATTRIBUTE = "_recovery_line_store"

Limit = Annotated[
    int | None, QueryParameter(name="limit", required=False, description="1..1000, default 100")
]
Cursor = Annotated[
    str | None,
    QueryParameter(name="cursor", required=False, description="nextCursor of the previous page"),
]


def line_store(queries: QueryContext) -> LineStore:
    """The line store next to the catalog, opened once per query context (it only reads; the
    constructor opens the last pack for append but nothing is ever written through it)."""
    store: LineStore | None = getattr(queries, _STORE_ATTRIBUTE, None)
    if store is None:
        store = LineStore(queries.catalog_path.parent / LINES_DIR)
        setattr(queries, _STORE_ATTRIBUTE, store)
        weakref.finalize(queries, store.close)
    return store


def _chat(conn: Connection | None, chat_id: str, st_user: str | None) -> Connection:
    QueryContext.chat_row(conn, chat_id, st_user)
    if conn is None:  # chat_row raised already; this narrows the type
        raise NotFound(CHAT_NOT_FOUND)
    return conn


def content_disposition(filename: str) -> str:
    """RFC 6266: a quoted ASCII ``filename`` and, for other names, ``filename*`` in UTF-8."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    header = f'attachment; filename="{fallback}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


@operation(GET, VERSIONS, "listChatVersions")
def list_versions(
    *,
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
    limit: Limit = None,
    cursor: Cursor = None,
) -> Page:
    """``{"items": [version], "nextCursor"}``, newest first: ``version``, ``seenAt``,
    ``relPath``, ``size``, ``messageCount``, messages ``added``/``removed``/``edited`` against
    the previous version, and ``shrunk`` (at most half the messages of a previous version that
    had at least 4)."""
    with queries.catalog() as snapshot:
        conn = _chat(snapshot, chat_id, st_user)
        return recovery.list_versions(conn, line_store(queries), chat_id, limit, cursor)


@operation(
    GET,
    VERSION + "/file",
    "getChatVersionFile",
    media_type=JSONL,
    response_headers=[
        ResponseHeader(
            name="Content-Disposition",
            description='attachment; filename="<chat file name>.jsonl" (RFC 6266)',
            documentation_only=True,
        )
    ],
    description="The exact bytes of the chat file as that version was indexed, as a download "
    "named like the chat (SillyTavern's chat import accepts it).",
)
def version_file(
    *,
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
    version: PathInt,
) -> Response[bytes]:
    with queries.catalog() as snapshot:
        conn = _chat(snapshot, chat_id, st_user)
        data = recovery.version_file(conn, line_store(queries), chat_id, version)
        name = recovery.download_name(conn, chat_id)
    return Response(
        data, media_type=JSONL, headers={"Content-Disposition": content_disposition(name)}
    )


@operation(GET, VERSION + "/diff", "getChatVersionDiff")
def version_diff(
    *,
    queries: NamedDependency[QueryContext],
    st_user: NamedDependency[str | None],
    chat_id: FromPath[str],
    version: PathInt,
    against: Annotated[
        int | None,
        QueryParameter(
            name="against",
            required=False,
            description="the version to compare with (default: the one before; 0: empty file)",
            ge=INT64_MIN,
            le=INT64_MAX,
        ),
    ] = None,
) -> dict[str, Any]:
    """``{"version", "against", "headerChanged", "changes": [{"kind", "position", "before",
    "after"}]}``: ``kind`` is added, removed or changed; ``position`` is in ``version`` (in
    ``against`` for removed); ``before``/``after`` are ``{"name", "isUser", "text", "swipeId",
    "swipeCount", "namespaces"}`` or null."""
    other = version - 1 if against is None else against
    if other < 0:
        raise NotFound(recovery.VERSION_NOT_FOUND)
    with queries.catalog() as snapshot:
        conn = _chat(snapshot, chat_id, st_user)
        return diff_versions(conn, line_store(queries), chat_id, version, other)


router = Router("/", route_handlers=[list_versions, version_file, version_diff])
