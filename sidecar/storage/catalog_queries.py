"""Small read queries on the catalog used by several parts (status, scans, search)."""

from __future__ import annotations

from sqlalchemy import Connection

_COUNTS = {
    "chats": "SELECT count(*) FROM chats",
    "missing": "SELECT count(*) FROM chats WHERE state = 'missing'",
    "messages": "SELECT count(*) FROM messages",
    "versions": "SELECT count(*) FROM versions",
    "problems": "SELECT count(*) FROM problems",
    "lines": "SELECT count(*) FROM lines",
}


def catalog_counts(conn: Connection) -> dict[str, int]:
    """Row counts: chats, missing chats, messages, versions, problems, lines."""
    return {name: int(conn.exec_driver_sql(sql).scalar_one()) for name, sql in _COUNTS.items()}


# The distinct namespace lists, one index seek each (a loose index scan over
# ix_messages_namespaces, created by sidecar.storage.fts): as cheap with a million messages as
# with ten. The "namespaces != '[]'" terms let SQLite use that partial index.
_LISTS = (
    "WITH RECURSIVE lists(v) AS ("
    "SELECT (SELECT min(namespaces) FROM messages WHERE namespaces != '[]') UNION ALL "
    "SELECT (SELECT min(namespaces) FROM messages WHERE namespaces != '[]' AND namespaces > v) "
    "FROM lists WHERE v IS NOT NULL) "
    "SELECT DISTINCT j.value FROM lists, json_each(lists.v) j WHERE lists.v IS NOT NULL ORDER BY 1"
)
_SCAN = (
    "SELECT DISTINCT j.value FROM (SELECT DISTINCT namespaces FROM messages "
    "WHERE namespaces != '[]') m, json_each(m.namespaces) j ORDER BY 1"
)


def namespaces_in_use(conn: Connection) -> list[str]:
    """The extension namespaces any indexed message carries, sorted. Without the index (a
    catalog no writer has opened since it was added) the messages are scanned."""
    indexed = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE name = 'ix_messages_namespaces'"
    ).first()
    rows = conn.exec_driver_sql(_LISTS if indexed else _SCAN).scalars()
    return [str(name) for name in rows]
