"""One extension's SQLite database: a serialised writer and a pool of read-only readers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, select

from sidecar.storage.schema import SCHEMA_VERSION, ExtensionBase, schema_info
from sidecar.storage.sqlite import SqliteOptions, read_engine, write_engine


class ExtensionDatabase:
    """Engines for ``path``. Writes run one at a time under an in-process lock (SQLite allows one
    writer anyway; queueing here avoids busy-waiting inside SQLite), each as one ``BEGIN IMMEDIATE``
    transaction that is committed before the caller answers."""

    def __init__(self, extension_id: str, path: Path, options: SqliteOptions) -> None:
        self.extension_id = extension_id
        self.path = path
        self._write_lock = threading.Lock()
        self._writer = write_engine(path, options)
        self._create_schema()
        self._reader = read_engine(path, options)

    def _create_schema(self) -> None:
        with self.write() as conn:
            ExtensionBase.metadata.create_all(conn)
            found = conn.execute(
                select(schema_info.c.value).where(schema_info.c.name == "schema_version")
            ).scalar()
            if found is None:
                conn.execute(
                    schema_info.insert().values(name="schema_version", value=SCHEMA_VERSION)
                )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on normal exit, rolled back on an exception."""
        with self._write_lock, self._writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot for several queries."""
        with self._reader.begin() as conn:
            yield conn

    def close(self) -> None:
        with self._write_lock:
            self._reader.dispose()
            self._writer.dispose()
