"""SQLite engines with the pragmas and transaction modes sidecar relies on.

Writers use ``BEGIN IMMEDIATE`` so a transaction takes the write lock up front (no lock-upgrade
deadlock between two writers); readers open the file read-only (``mode=ro``), so a read path can
never write. Connections are made by a ``creator`` so that any character in a path is safe.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from sidecar.storage.segment import SQL_FUNCTION, segment

WRITER_CACHE_KIB = 16384
# One budget for SQLite's memory in the whole process, however many databases are open. Each
# writer may cache WRITER_CACHE_KIB and every extension database has a writer, so the caches
# alone grew without bound as namespaces and data grew (the soak benchmark saw +1.5 MB per 10 s).
# Past the limit SQLite reuses cached pages instead of allocating more (a soft limit: no
# allocation fails because of it).
SQLITE_HEAP_LIMIT_BYTES = 32 * 1024 * 1024
WAL_CHECKPOINT_PAGES = 2000  # ~8 MB of 4 KiB pages
WAL_LIMIT_BYTES = 4 * 1024 * 1024  # what a WAL file is cut back to after a checkpoint


@dataclass(frozen=True)
class SqliteOptions:
    synchronous: str = "normal"
    busy_timeout_ms: int = 5000


def register_functions(dbapi_conn: sqlite3.Connection) -> None:
    """Register the SQL functions sidecar's schema calls, on any connection that writes rows.

    The full-text triggers segment CJK text with ``sidecar_segment`` (sidecar.storage.fts), so a
    connection without it cannot insert a message; readers register it too, so any query may use it.
    """
    dbapi_conn.create_function(SQL_FUNCTION, 1, segment, deterministic=True)


def _configure(dbapi_conn: sqlite3.Connection, options: SqliteOptions, *, writer: bool) -> None:
    register_functions(dbapi_conn)
    cursor = dbapi_conn.cursor()
    try:
        # busy_timeout first: switching to WAL can itself meet a busy database.
        cursor.execute(f"PRAGMA busy_timeout={int(options.busy_timeout_ms)}")
        cursor.execute(f"PRAGMA soft_heap_limit={SQLITE_HEAP_LIMIT_BYTES}")  # process-wide
        if writer:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={options.synchronous.upper()}")
            # A larger page cache keeps big indexing transactions from spilling to disk mid-way.
            cursor.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            # Checkpoint (which fsyncs) every WAL_CHECKPOINT_PAGES pages, and cut the WAL back
            # to WAL_LIMIT_BYTES after each: every database has its own WAL, so unbounded WALs
            # of ~40 MB each made the folder take several times the data root while indexing.
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            cursor.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            # INSERT OR REPLACE then fires delete triggers for the row it replaces, which keeps
            # the full-text indexes (sidecar.storage.fts) in sync.
            cursor.execute("PRAGMA recursive_triggers=ON")
        else:
            cursor.execute("PRAGMA query_only=ON")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _make_engine(
    connect: Any, options: SqliteOptions, *, writer: bool, pool_size: int, max_overflow: int
) -> Engine:
    engine = create_engine(
        "sqlite://",
        creator=connect,
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=60,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        _configure(dbapi_conn, options, writer=writer)

    begin_sql = "BEGIN IMMEDIATE" if writer else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin_sql)

    return engine


def _open_writer(path: Path) -> sqlite3.Connection:
    # isolation_level=None: the driver issues no BEGIN of its own; callers (and the engines'
    # "begin" event) say BEGIN IMMEDIATE themselves.
    return sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)


def _open_reader(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(path))}?mode=ro"
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)


def connect_writer(path: Path, options: SqliteOptions) -> sqlite3.Connection:
    """A plain ``sqlite3`` writer connection with the writer pragmas, in autocommit mode: the
    caller brackets its statements with ``BEGIN IMMEDIATE`` and ``COMMIT``. For hot paths where
    SQLAlchemy's per-statement work costs more than SQLite's (see ``Database.write_raw``)."""
    conn = _open_writer(path)
    _configure(conn, options, writer=True)
    return conn


def connect_reader(path: Path, options: SqliteOptions) -> sqlite3.Connection:
    """A plain ``sqlite3`` read-only connection (``mode=ro``, ``query_only``), autocommit."""
    conn = _open_reader(path)
    _configure(conn, options, writer=False)
    return conn


def write_engine(path: Path, options: SqliteOptions) -> Engine:
    """One writer connection per database: callers serialise writes (see ``ExtensionDatabase``)."""
    return _make_engine(
        lambda: _open_writer(path), options, writer=True, pool_size=1, max_overflow=2
    )


def read_engine(path: Path, options: SqliteOptions, pool_size: int = 4) -> Engine:
    """Read-only connections (``mode=ro``): a read path cannot modify the file."""
    return _make_engine(
        lambda: _open_reader(path), options, writer=False, pool_size=pool_size, max_overflow=8
    )


@contextmanager
def read_snapshot(path: Path, options: SqliteOptions) -> Iterator[Connection]:
    """One read-only connection and transaction on ``path`` (one consistent snapshot), for
    commands and checks that read a database once; the engine is disposed afterwards."""
    engine = read_engine(path, options, pool_size=1)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def executemany(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """Run ``sql`` for every row on the DBAPI cursor of ``conn``'s transaction, bypassing
    SQLAlchemy's per-row parameter processing (measured as the largest cost of bulk indexing)."""
    if not rows:
        return 0
    cursor = conn.connection.cursor()
    try:
        cursor.executemany(sql, rows)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def fetchall(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Rows of ``sql`` from the DBAPI cursor of ``conn``'s transaction (no result processing)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()
