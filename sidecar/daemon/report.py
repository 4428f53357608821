"""What ``/status`` says about the index, read from the catalog (by whichever process asks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from sidecar.config import Settings
from sidecar.indexer.namespaces import NamespacePolicy, chat_namespaces_in_use
from sidecar.storage.catalog_queries import catalog_counts, namespaces_in_use

EMPTY_COUNTS: dict[str, Any] = {
    "chats": 0,
    "messages": 0,
    "namespaces": [],
    "messageNamespaces": [],
    "chatNamespaces": [],
    "problems": 0,
}


def catalog_report(conn: Connection, settings: Settings) -> dict[str, Any]:
    """Chats, messages, problems and the namespaces in use: ``namespaces`` all of them,
    ``messageNamespaces`` those of messages, ``chatNamespaces`` those of chats' metadata."""
    counts = catalog_counts(conn)
    index = settings.index
    policy = NamespacePolicy(index.namespaces, index.exclude_namespaces, index.namespace_map)
    in_messages = namespaces_in_use(conn)
    in_chats = chat_namespaces_in_use(conn, policy)
    return {
        "chats": counts["chats"],
        "messages": counts["messages"],
        "namespaces": sorted(set(in_messages) | set(in_chats)),
        "messageNamespaces": in_messages,
        "chatNamespaces": in_chats,
        "problems": counts["problems"],
    }
