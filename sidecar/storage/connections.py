"""Plain ``sqlite3`` connections kept open for one database, for the request hot paths.

SQLAlchemy Core spent about five times SQLite's own time on a one-row read (engine checkout,
events, compiled-statement lookup, result processing: py-spy put it at half of a value-tracker
request's CPU). These connections skip all of that; SQLite's prepared statements are reused by
``sqlite3``'s per-connection statement cache, so a constant SQL string is parsed once per
connection. The lock and transaction discipline is :class:`sidecar.storage.extension_db.Database`'s.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sidecar.storage.sqlite import WAL_CHECKPOINT_PAGES, SqliteOptions

# Idle read-only connections kept per database. Reads on the event loop use one at a time; the
# rest serve reads from worker threads. More are opened when all are busy and closed on return.
KEEP_READERS = 4
# Writes that may run on the event loop in a row before one is sent to a worker thread, where
# the WAL's automatic checkpoint may run (see Writer).
CHECKPOINT_EVERY = 200


@contextmanager
def transaction(conn: sqlite3.Connection, begin: str) -> Iterator[sqlite3.Connection]:
    """``begin`` ... ``COMMIT``; ``ROLLBACK`` when the block (or the commit) raises.

    If even the rollback fails the connection is left inside its transaction: owners check
    ``conn.in_transaction`` afterwards and discard such a connection.
    """
    conn.execute(begin)
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


class ReaderPool:
    """Idle read-only connections of one database, reused across requests.

    ``take`` pops without a lock (``list.pop`` is atomic); ``give`` and ``close`` share one, so a
    connection given back while the database closes is closed rather than kept.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], keep: int = KEEP_READERS) -> None:
        self._connect = connect
        self._keep = keep
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def take(self) -> sqlite3.Connection:
        try:
            return self._idle.pop()
        except IndexError:
            return self._connect()

    def give(self, conn: sqlite3.Connection) -> None:
        """Return ``conn`` for reuse; a connection still inside a transaction is closed."""
        with self._lock:
            if not self._closed and len(self._idle) < self._keep and not conn.in_transaction:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections; connections in use are closed when given back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class WouldBlock(Exception):
    """A write asked not to block (``block=False``: it runs on the event loop) would have had to
    wait. The caller runs it again in a worker thread, where it may wait. Raised before the
    transaction begins, so nothing was written; never reaches a client.
    """


class Writer:
    """The one plain writer connection of a database, opened on first use.

    Not thread-safe by itself: the owner holds its write lock around :meth:`transaction`.
    After :meth:`close`, each transaction opens a connection and closes it afterwards (a request
    that raced a deregistration still completes, and nothing is left open).

    A transaction with ``block=False`` runs only if nothing in it can wait: not when each commit
    fsyncs (``synchronous`` other than ``normal``), not when SQLite's write lock is held by
    another connection (``busy_timeout`` is 0 then: a busy answer, at ``BEGIN`` or later, rolls
    back and raises :class:`WouldBlock` instead of waiting), and with the WAL's automatic
    checkpoint (which fsyncs) off. Every ``checkpoint_every``-th write
    is sent to a thread instead, where the automatic checkpoint is on again, so the WAL stays
    bounded as it is for the other writers.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        options: SqliteOptions,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._fsync_per_commit = options.synchronous != "normal"
        self._busy_ms = int(options.busy_timeout_ms)
        self._checkpoint_every = checkpoint_every
        self._unblocked_run = 0  # non-blocking commits since the last blocking one
        self._blocking_mode: bool | None = None  # pragmas of self._conn: None = as configured

    @contextmanager
    def transaction(self, *, block: bool = True) -> Iterator[sqlite3.Connection]:
        if not block and (self._fsync_per_commit or self._unblocked_run >= self._checkpoint_every):
            raise WouldBlock
        conn = self._conn
        if conn is None:
            conn = self._connect()
            self._blocking_mode = True  # as configured by the connect function
            if not self._closed:
                self._conn = conn
        try:
            self._set_mode(conn, block)
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                _rollback(conn)
                if not block and exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY:
                    raise WouldBlock from exc  # rolled back: the thread starts afresh
                raise
            except BaseException:
                _rollback(conn)
                raise
            self._unblocked_run = 0 if block else self._unblocked_run + 1
        finally:
            if conn.in_transaction or conn is not self._conn:
                self._discard(conn)

    def _set_mode(self, conn: sqlite3.Connection, block: bool) -> None:
        if self._blocking_mode is block:
            return
        busy, checkpoint = (self._busy_ms, WAL_CHECKPOINT_PAGES) if block else (0, 0)
        conn.execute(f"PRAGMA busy_timeout={busy}")
        conn.execute(f"PRAGMA wal_autocheckpoint={checkpoint}")
        self._blocking_mode = block

    def _discard(self, conn: sqlite3.Connection) -> None:
        if conn is self._conn:
            self._conn = None
            self._blocking_mode = None
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def close(self) -> None:
        self._closed = True
        if self._conn is not None:
            self._discard(self._conn)
