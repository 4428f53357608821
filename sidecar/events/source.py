"""The event log as the API reads it: the catalog file, through read-only connections, opened
when it exists (before the first index there is none, and no event either)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Connection, Engine

from sidecar.storage.event_log import ChangeEvent, event_bounds, read_events
from sidecar.storage.sqlite import SqliteOptions, read_engine


class CatalogEvents:
    """An :class:`~sidecar.events.hub.EventSource` over the catalog at ``path``."""

    def __init__(self, path: Path, options: SqliteOptions) -> None:
        self.path = path
        self._options = options
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def _open(self) -> Engine | None:
        with self._lock:
            if self._engine is None and self.path.is_file():
                self._engine = read_engine(self.path, self._options, pool_size=2)
            return self._engine

    def bounds(self) -> tuple[int, int]:
        engine = self._open()
        if engine is None:
            return 1, 0
        with engine.begin() as conn:
            if not _has_log(conn):
                return 1, 0
            return event_bounds(conn)

    def read(self, after: int, limit: int) -> list[tuple[int, ChangeEvent]]:
        engine = self._open()
        if engine is None:
            return []
        with engine.begin() as conn:
            return read_events(conn, after, limit) if _has_log(conn) else []

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def _has_log(conn: Connection) -> bool:
    """A catalog written by a sidecar older than the event log has no ``events`` table until the
    indexer opens it."""
    found = conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'events'").first()
    return found is not None
