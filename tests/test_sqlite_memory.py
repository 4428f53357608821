"""SQLite's memory has one budget for the whole process, however many databases are open.

Found by the soak benchmark: every extension database has a writer whose page cache may grow to
16 MiB, so the daemon's RSS kept growing with the number of namespaces and the data written.
"""

from __future__ import annotations

import _sqlite3
import ctypes
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from sidecar.storage.sqlite import (
    SQLITE_HEAP_LIMIT_BYTES,
    WRITER_CACHE_KIB,
    SqliteOptions,
    read_engine,
    write_engine,
)

MIB = 1024 * 1024


def _memory_used() -> int:
    """``sqlite3_memory_used()`` of the SQLite library this Python uses."""
    try:
        function = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except AttributeError:
        pytest.skip("this Python's SQLite does not export sqlite3_memory_used")
    function.restype = ctypes.c_int64
    return int(function())


def test_many_databases_share_one_memory_budget(tmp_path: Path) -> None:
    databases = 6
    per_database = 8 * MIB  # more than the budget in total, less than one writer may cache
    assert databases * per_database > SQLITE_HEAP_LIMIT_BYTES + 8 * MIB
    assert per_database < WRITER_CACHE_KIB * 1024
    engines = [write_engine(tmp_path / f"ext{i}.db", SqliteOptions()) for i in range(databases)]
    readers = [read_engine(tmp_path / f"ext{i}.db", SqliteOptions()) for i in range(databases)]
    try:
        for writer, reader in zip(engines, readers, strict=True):
            with writer.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
                rows = [(os.urandom(4000),) for _ in range(per_database // 4000)]
                conn.connection.cursor().executemany("INSERT INTO blobs (data) VALUES (?)", rows)
            for engine in (writer, reader):  # both connections now have every page cached
                with engine.connect() as conn:
                    total = conn.execute(text("SELECT sum(length(data)) FROM blobs")).scalar()
                    assert total == len(rows) * 4000
        assert _memory_used() < SQLITE_HEAP_LIMIT_BYTES + 8 * MIB
        limit = sqlite3.connect(":memory:").execute("PRAGMA soft_heap_limit").fetchone()[0]
        assert limit == SQLITE_HEAP_LIMIT_BYTES
    finally:
        for engine in (*engines, *readers):
            engine.dispose()
