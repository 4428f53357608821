"""SQLite databases with a serialised writer and a pool of read-only readers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

from sqlalchemy import Connection, MetaData, select

from sidecar.storage import indexed_tables, schema
from sidecar.storage.faults import guarded
from sidecar.storage.fts import ensure_fts
from sidecar.storage.schema import SCHEMA_VERSION, schema_info
from sidecar.storage.sqlite import SqliteOptions, read_engine, write_engine

# Both modules define tables of the extension family; importing them registers the tables.
EXTENSION_METADATA: MetaData = schema.ExtensionBase.metadata
assert indexed_tables.message_data.metadata is EXTENSION_METADATA


class Database:
    """Engines for one SQLite file whose tables are ``metadata``.

    Writes run one at a time under an in-process lock (SQLite allows one writer anyway; queueing
    here avoids busy-waiting inside SQLite), each as one ``BEGIN IMMEDIATE`` transaction that is
    committed before the caller answers. Reads use read-only connections.
    """

    def __init__(self, path: Path, metadata: MetaData, options: SqliteOptions) -> None:
        self.path = path
        self._write_lock = threading.Lock()
        created = not path.exists()
        self._writer = write_engine(path, options)
        try:
            with self.write() as conn:
                metadata.create_all(conn)
                ensure_fts(conn, metadata)
                self._after_create(conn)
        except BaseException:
            self._writer.dispose()
            if created:  # a failed create (a full disk) leaves no empty file behind
                remove_sqlite_files(path)
            raise
        self._reader = read_engine(path, options)

    def _after_create(self, conn: Connection) -> None:
        """Hook for schema bookkeeping inside the creating transaction."""

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed on normal exit, rolled back on an exception."""
        with self.guard(write=True), self._write_lock, self._writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot for several queries."""
        with self.guard(), self._reader.begin() as conn:
            yield conn

    def guard(self, *, write: bool = False) -> AbstractContextManager[None]:
        """Wrap every access to this file (raw connections too) in this: a file known to be
        damaged answers 503 at once, SQLite errors become ``Damaged``/``DiskFull``
        (:mod:`sidecar.storage.faults`), and a successful write ends a disk-full state."""
        return guarded(self.path, write=write)

    def close(self) -> None:
        with self._write_lock:
            self._reader.dispose()
            self._writer.dispose()


def remove_sqlite_files(path: Path) -> None:
    """Remove a database file sidecar has just created, with its -wal and -shm files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()


class ExtensionDatabase(Database):
    """One extension's file: its value-tracker data and the chat data indexed for it."""

    def __init__(self, extension_id: str, path: Path, options: SqliteOptions) -> None:
        self.extension_id = extension_id
        super().__init__(path, EXTENSION_METADATA, options)

    def _after_create(self, conn: Connection) -> None:
        found = conn.execute(
            select(schema_info.c.value).where(schema_info.c.name == "schema_version")
        ).scalar()
        if found is None:
            conn.execute(schema_info.insert().values(name="schema_version", value=SCHEMA_VERSION))
