"""The catalog database file (``sidecar.index.db``): its engines, and what creating it sets up."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection

from sidecar.storage.catalog_tables import CatalogBase
from sidecar.storage.event_log import ensure_event_sequence
from sidecar.storage.extension_db import Database
from sidecar.storage.sqlite import SqliteOptions


class CatalogDatabase(Database):
    """The catalog: chats, messages, lines, versions, problems and the change feed's log."""

    def __init__(self, path: Path, options: SqliteOptions) -> None:
        super().__init__(path, CatalogBase.metadata, options)

    def _after_create(self, conn: Connection) -> None:
        ensure_event_sequence(conn)
