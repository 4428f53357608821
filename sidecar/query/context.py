"""Read access for queries: the catalog and the extension databases, read-only, never creating a
file; user scoping (``x-sillytavern-user``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select

from sidecar.errors import NotFound
from sidecar.indexer.namespaces import NamespacePolicy
from sidecar.storage.catalog_queries import namespaces_in_use
from sidecar.storage.catalog_tables import chats, messages
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.faults import guarded
from sidecar.storage.registry import CATALOG_FILE, ExtensionRegistry
from sidecar.storage.sqlite import SqliteOptions, read_engine

CHAT_NOT_FOUND = "Chat not found"
MESSAGE_NOT_FOUND = "Message not found"


def open_catalog_reader(path: Path, options: SqliteOptions, pool_size: int = 4) -> Engine | None:
    """Read-only engines on the catalog once it holds its tables, else None. The indexer (another
    process) creates the file, then its tables: a reader must not take the file for an index."""
    if not path.is_file():
        return None
    engine = read_engine(path, options, pool_size=pool_size)
    with engine.begin() as conn:
        ready = conn.exec_driver_sql(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chats'"
        ).first()
    if ready is None:
        engine.dispose()
        return None
    return engine


class QueryContext:
    def __init__(
        self,
        database_dir: Path,
        registry: ExtensionRegistry,
        policy: NamespacePolicy,
        options: SqliteOptions,
    ) -> None:
        self.catalog_path = database_dir / CATALOG_FILE
        self.registry = registry
        self.policy = policy
        self._options = options
        self._catalog: Engine | None = None

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.dispose()
            self._catalog = None

    @contextmanager
    def catalog(self) -> Iterator[Connection | None]:
        """A read-only snapshot of the catalog; None when nothing was ever indexed (no file
        yet, or the indexer process is still creating it)."""
        if self._catalog is None:
            with guarded(self.catalog_path):  # a damaged catalog answers 503
                engine = open_catalog_reader(self.catalog_path, self._options)
            if engine is None:
                yield None
                return
            self._catalog = engine
        with guarded(self.catalog_path), self._catalog.begin() as conn:  # 503 when damaged
            yield conn

    def extension_db(self, namespace: str) -> ExtensionDatabase | None:
        """The database a namespace is indexed into, if that file exists (never created here)."""
        extension = self.policy.extension_for(namespace)
        if extension is None:
            return None
        return self.registry.existing_index_database(extension)

    @staticmethod
    def namespaces_in_use(conn: Connection) -> list[str]:
        """Namespaces any indexed message carries (one index seek per distinct list: cheap
        enough for every request, so never stale)."""
        return namespaces_in_use(conn)

    @staticmethod
    def chat_row(conn: Connection | None, chat_id: str, user: str | None) -> Any:
        """The catalog row of a chat visible to ``user`` (None: every user); 404 otherwise."""
        row = None
        if conn is not None:
            query = select(chats).where(chats.c.chat_id == chat_id)
            if user is not None:
                query = query.where(chats.c.user == user)
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(CHAT_NOT_FOUND)
        return row

    @staticmethod
    def message_row(conn: Connection, chat_id: str, position: int) -> Any:
        """The catalog row of the message now at ``position`` of a chat; 404 otherwise."""
        row = conn.execute(
            select(messages).where(messages.c.chat_id == chat_id, messages.c.position == position)
        ).first()
        if row is None:
            raise NotFound(MESSAGE_NOT_FOUND)
        return row
