"""SQLite databases with a serialised writer and a pool of read-only readers."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, MetaData, select

from sidecar.storage import indexed_tables, schema
from sidecar.storage.connections import ReaderPool, WouldBlock, Writer, transaction
from sidecar.storage.faults import guarded
from sidecar.storage.fts import ensure_fts
from sidecar.storage.schema import SCHEMA_VERSION, schema_info
from sidecar.storage.sqlite import (
    SqliteOptions,
    connect_reader,
    connect_writer,
    read_engine,
    write_engine,
)

# Both modules define tables of the extension family; importing them registers the tables.
EXTENSION_METADATA: MetaData = schema.ExtensionBase.metadata
assert indexed_tables.message_data.metadata is EXTENSION_METADATA


class Database:
    """Engines for one SQLite file whose tables are ``metadata``.

    Writes run one at a time under an in-process lock (SQLite allows one writer anyway; queueing
    here avoids busy-waiting inside SQLite), each as one ``BEGIN IMMEDIATE`` transaction that is
    committed before the caller answers. Reads use read-only connections.

    Two ways in, under the same discipline: :meth:`write`/:meth:`read` give SQLAlchemy
    connections, :meth:`write_raw`/:meth:`read_raw` plain ``sqlite3`` ones (kept open, for the
    request hot paths, see :mod:`sidecar.storage.connections`). Both writers take the one write
    lock, so at most one write transaction is open at a time whichever way it came in.
    """

    def __init__(self, path: Path, metadata: MetaData, options: SqliteOptions) -> None:
        self.path = path
        self.metadata = metadata
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
        self._raw_writer = Writer(lambda: connect_writer(path, options), options)
        self._raw_readers = ReaderPool(lambda: connect_reader(path, options))

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

    @contextmanager
    def write_raw(self, *, block: bool = True) -> Iterator[sqlite3.Connection]:
        """:meth:`write` on the plain writer connection: ``BEGIN IMMEDIATE``, committed on
        normal exit, rolled back on an exception.

        ``block=False`` is for the event loop: raises :class:`WouldBlock` (before anything is
        written) instead of waiting for the write lock, for another process's SQLite lock, or
        for an fsync; see :class:`sidecar.storage.connections.Writer`.
        """
        lock = self._write_lock
        if not lock.acquire(blocking=block):
            raise WouldBlock
        try:
            with self.guard(write=True), self._raw_writer.transaction(block=block) as conn:
                yield conn
        finally:
            lock.release()

    @contextmanager
    def read_raw(self) -> Iterator[sqlite3.Connection]:
        """:meth:`read` on a pooled plain read-only connection: one consistent snapshot."""
        readers = self._raw_readers
        with self.guard():
            conn = readers.take()
            try:
                with transaction(conn, "BEGIN"):
                    yield conn
            finally:
                readers.give(conn)

    def read_one(self, sql: str, params: Sequence[Any]) -> Any:
        """The first row of one read-only statement (None when there is none). One statement
        is its own snapshot, so this skips :meth:`read_raw`'s ``BEGIN`` and ``COMMIT``."""
        readers = self._raw_readers
        with self.guard():
            conn = readers.take()
            try:
                return conn.execute(sql, params).fetchone()
            finally:
                readers.give(conn)

    def guard(self, *, write: bool = False) -> AbstractContextManager[None]:
        """Wrap every access to this file (raw connections too) in this: a file known to be
        damaged answers 503 at once, SQLite errors become ``Damaged``/``DiskFull``
        (:mod:`sidecar.storage.faults`), and a successful write ends a disk-full state."""
        return guarded(self.path, write=write)

    def close(self) -> None:
        with self._write_lock:
            self._raw_readers.close()
            self._raw_writer.close()
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
