"""Salvage a damaged SQLite file: move it aside (never deleted) and copy every row that can
still be read into a fresh file with the same tables.

Rows are read in rowid order; where a read fails (a damaged page), the reader skips ahead with
probes of growing distance until reads succeed again, then narrows the skipped range down by
halving, so only rows on damaged pages are left behind. Every table of sidecar's databases has a
rowid, and a rowid lookup needs only the table's own b-tree, not its (maybe damaged) indexes.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from sidecar.recovery.pack_files import fsync_dir
from sidecar.storage.faults import FAULTS

log = logging.getLogger(__name__)

MAX_ROWID = (1 << 63) - 1
MAX_FAILED_READS = 20_000  # per table: beyond this the rest of a damaged range is given up
_BATCH = 2000


@dataclass
class Salvaged:
    aside: Path
    copied: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    unreadable: dict[str, int] = field(default_factory=dict)  # table -> damaged reads skipped
    schema_lost: bool = False  # nothing could be read (the schema page is damaged)

    @property
    def rows(self) -> int:
        return sum(self.copied.values())


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def aside_name(path: Path, when: str, label: str = "damaged") -> Path:
    """``<id>.db`` -> ``<id>.damaged-<when>.db`` (never an id: ids have no dots)."""
    return path.with_name(f"{path.name.removesuffix('.db')}.{label}-{when}.db")


def move_aside(path: Path, when: str, label: str = "damaged") -> Path:
    """Rename ``path`` (and its -wal/-shm, which belong to it) out of the way."""
    target = aside_name(path, when, label)
    n = 1
    while target.exists():
        n += 1
        target = aside_name(path, f"{when}-{n}", label)
    for suffix in ("-wal", "-shm", ""):
        source = Path(f"{path}{suffix}")
        if source.exists():
            source.rename(f"{target}{suffix}")
    fsync_dir(path.parent)
    FAULTS.clear(path)  # the name now belongs to the fresh file
    return target


def move_back(aside: Path, path: Path) -> None:
    """Undo :func:`move_aside` after a salvage that failed (the fresh file is discarded)."""
    for suffix in ("-wal", "-shm", "-journal", ""):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    for suffix in ("-wal", "-shm", ""):
        source = Path(f"{aside}{suffix}")
        if source.exists():
            source.rename(f"{path}{suffix}")
    fsync_dir(path.parent)


def _ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30)
    conn.execute("PRAGMA query_only=ON")
    return conn


class _TableReader:
    def __init__(self, conn: sqlite3.Connection, table: str, columns: list[str]) -> None:
        self.conn = conn
        self.select = f'SELECT rowid, {_names(columns)} FROM "{table}"'
        self.failed = 0

    def _query(self, where: str, args: tuple[int, ...]) -> list[tuple[object, ...]]:
        try:
            return self.conn.execute(f"{self.select} WHERE {where}", args).fetchall()
        except sqlite3.DatabaseError:
            self.failed += 1
            raise

    def rows(self) -> Iterator[tuple[object, ...]]:
        position, batch = -MAX_ROWID - 1, _BATCH
        while position <= MAX_ROWID and self.failed < MAX_FAILED_READS:
            try:
                rows = self._query(f"rowid >= ? ORDER BY rowid LIMIT {batch}", (position,))
            except sqlite3.DatabaseError:
                if batch > 1:  # the damage may be further on: read less at a time
                    batch //= 2
                    continue
                resume = self._skip(position)  # the next row cannot be read: skip past it
                if resume is None:
                    return
                yield from self._narrow(position, resume - 1)
                position, batch = resume, _BATCH
                continue
            if not rows:
                return
            yield from rows
            position = int(rows[-1][0]) + 1  # type: ignore[call-overload]
            batch = min(batch * 2, _BATCH)

    def _skip(self, start: int) -> int | None:
        """The first rowid after ``start`` from which reading works again (None: none)."""
        step = 1
        while start + step <= MAX_ROWID and self.failed < MAX_FAILED_READS:
            probe = start + step
            try:
                found = self._query("rowid >= ? ORDER BY rowid LIMIT 1", (probe,))
            except sqlite3.DatabaseError:
                step *= 2
                continue
            return probe if found else None
        return None

    def _narrow(self, low: int, high: int) -> Iterator[tuple[object, ...]]:
        """Rows of ``[low, high]`` that can be read, halving failing ranges."""
        if low > high or self.failed >= MAX_FAILED_READS:
            return
        try:
            yield from self._query("rowid BETWEEN ? AND ?", (low, high))
            return
        except sqlite3.DatabaseError:
            if low == high:
                return
        middle = (low + high) // 2
        yield from self._narrow(low, middle)
        yield from self._narrow(middle + 1, high)


def _names(columns: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


def copy_rows(source: Path, dest: sqlite3.Connection, tables: list[str], report: Salvaged) -> None:
    """Copy every readable row of ``tables`` from ``source`` into ``dest`` (same columns, by
    name; rowids kept). ``dest`` is in a transaction with foreign keys off."""
    try:
        conn = _ro(source)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        log.warning("%s: nothing can be read (%s)", source, exc)
        report.schema_lost = True
        return
    with closing(conn):
        for table in tables:
            try:
                have = _columns(conn, table)
            except sqlite3.DatabaseError:
                have = []
            columns = [c for c in _columns(dest, table) if c in have]
            if not columns:
                report.copied[table] = 0
                continue
            reader = _TableReader(conn, table, columns)
            insert = (
                f'INSERT OR IGNORE INTO "{table}" ({_names(columns)})'
                f" VALUES ({', '.join('?' * len(columns))})"
            )
            count, batch = 0, []
            for row in reader.rows():
                batch.append(row[1:])  # without the rowid: the fresh file numbers rows anew
                if len(batch) >= _BATCH:
                    count += _insert(dest, insert, batch)
                    batch = []
            count += _insert(dest, insert, batch)
            report.copied[table] = count
            report.unreadable[table] = reader.failed


def _insert(dest: sqlite3.Connection, sql: str, rows: list[tuple[object, ...]]) -> int:
    if not rows:
        return 0
    return int(dest.executemany(sql, rows).rowcount)  # rows inserted, not trigger changes
