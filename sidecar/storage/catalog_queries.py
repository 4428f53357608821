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


def namespaces_in_use(conn: Connection) -> list[str]:
    """The extension namespaces any indexed message carries, sorted (scans the messages)."""
    rows = conn.exec_driver_sql(
        "SELECT DISTINCT j.value FROM (SELECT DISTINCT namespaces FROM messages "
        "WHERE namespaces != '[]') m, json_each(m.namespaces) j ORDER BY 1"
    ).scalars()
    return [str(name) for name in rows]
