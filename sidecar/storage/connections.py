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

# Idle read-only connections kept per database. Reads on the event loop use one at a time; the
# rest serve reads from worker threads. More are opened when all are busy and closed on return.
KEEP_READERS = 4


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
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


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


class Writer:
    """The one plain writer connection of a database, opened on first use.

    Not thread-safe by itself: the owner holds its write lock around :meth:`transaction`.
    After :meth:`close`, each transaction opens a connection and closes it afterwards (a request
    that raced a deregistration still completes, and nothing is left open).
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        if conn is None:
            conn = self._connect()
            if not self._closed:
                self._conn = conn
        try:
            with transaction(conn, "BEGIN IMMEDIATE"):
                yield conn
        finally:
            if conn.in_transaction or conn is not self._conn:
                self._discard(conn)

    def _discard(self, conn: sqlite3.Connection) -> None:
        if conn is self._conn:
            self._conn = None
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def close(self) -> None:
        self._closed = True
        if self._conn is not None:
            self._discard(self._conn)
