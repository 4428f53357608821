"""Pure helpers for the chat-level part of an update: metadata, header columns, state, ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from sidecar.indexer.namespaces import NamespacePolicy
from sidecar.indexer.parse import encode_json
from sidecar.sillytavern.discovery import ChatLocation
from sidecar.sillytavern.messages import chat_namespaces, header_info
from sidecar.storage.catalog_tables import messages


def chat_metadata(location: ChatLocation, header_obj: dict[str, Any] | None) -> dict[str, Any]:
    """``chat_metadata`` from the header; header-less (old) group chats keep it in the group
    file, for the group's current chat."""
    if header_obj is not None:
        return header_info(header_obj).chat_metadata
    group = location.group
    if group is not None and group.current_chat_id == location.file_name:
        return dict(group.chat_metadata)
    return {}


def chat_level_data(
    policy: NamespacePolicy, metadata: dict[str, Any]
) -> dict[str, dict[tuple[str, str], str]]:
    """Extension id -> {(namespace, key): JSON text} for a chat's metadata."""
    wanted: dict[str, dict[tuple[str, str], str]] = {}
    for namespace, data in chat_namespaces(metadata).items():
        ext = policy.extension_for(namespace)
        if ext is not None:
            bucket = wanted.setdefault(ext, {})
            bucket.update(((namespace, key), encode_json(value)) for key, value in data.items())
    return wanted


def header_columns(location: ChatLocation, header_obj: dict[str, Any] | None) -> dict[str, Any]:
    info = header_info(header_obj) if header_obj is not None else None
    metadata = chat_metadata(location, header_obj)
    integrity = info.integrity if info else metadata.get("integrity")
    return {
        "user_name": info.user_name if info else None,
        "character_name": info.character_name if info else None,
        "create_date": info.create_date if info else None,
        "integrity": integrity if isinstance(integrity, str) else None,
        "metadata_json": encode_json(metadata) if metadata else None,
    }


def chat_state(chat: Any | None, shrunk: bool, count: int) -> dict[str, Any]:
    """``shrunk`` when this save dropped most messages; it stays until the chat regrows."""
    if shrunk:
        return {"state": "shrunk", "shrunk_from": chat.message_count if chat else 0}
    if chat is not None and chat.state == "shrunk" and count < (chat.shrunk_from or 0):
        return {"state": "shrunk"}
    return {"state": "ok", "shrunk_from": None}


def reserve_message_ids(conn: Connection, count: int) -> int:
    """Reserve ids for up to ``count`` new messages; returns the first. Called in the committed
    "pending" transaction, so ids an interrupted run wrote to extension databases are never
    handed out again (AUTOINCREMENT keeps its high-water mark in ``sqlite_sequence``)."""
    current = conn.exec_driver_sql(
        "SELECT seq FROM sqlite_sequence WHERE name = 'messages'"
    ).scalar()
    top = conn.execute(select(func.max(messages.c.msg_uid))).scalar()
    first = max(int(current or 0), int(top or 0)) + 1
    sql = (
        "INSERT INTO sqlite_sequence (seq, name) VALUES (?, 'messages')"
        if current is None
        else "UPDATE sqlite_sequence SET seq = ? WHERE name = 'messages'"
    )
    conn.exec_driver_sql(sql, (first + count - 1,))
    return first
