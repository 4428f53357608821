"""What ``/status`` says about the index, read from the catalog (by whichever process asks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from sidecar.storage.catalog_queries import catalog_counts, namespaces_in_use

EMPTY_COUNTS: dict[str, Any] = {"chats": 0, "messages": 0, "namespaces": [], "problems": 0}


def catalog_report(conn: Connection) -> dict[str, Any]:
    """Chats, messages, problems and the namespaces in use."""
    counts = catalog_counts(conn)
    return {
        "chats": counts["chats"],
        "messages": counts["messages"],
        "namespaces": namespaces_in_use(conn),
        "problems": counts["problems"],
    }
