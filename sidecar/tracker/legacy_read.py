"""Reading a database of the old "SillyTavern Value Tracker" Node plugin, without changing it.

The file is opened with a ``file:...?mode=ro`` URI and ``PRAGMA query_only``, and read in one
read transaction. It is deliberately not opened with ``immutable=1``: that tells SQLite the file
cannot change, so it takes no lock and could read a half-written state if the plugin (better-sqlite3
versions) writes meanwhile. With normal locking the read sees one committed snapshot. The sql.js
versions of the plugin rewrite the whole file without any SQLite lock; a size or modification time
that changed during the read is therefore reported as an error (stop SillyTavern and retry).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sidecar.errors import InvalidInput

SQLITE_MAGIC = b"SQLite format 3\x00"
# Columns that must exist (per table) and columns read when present (NULL when not).
_REQUIRED = {
    "characters": ("id",),
    "instances": ("id", "character_id"),
    "data": ("instance_id", "key", "value"),
}
_OPTIONAL = {
    "characters": ("name", "created_at", "updated_at"),
    "instances": ("name", "created_at", "updated_at"),
    "data": ("created_at", "updated_at"),
}


@dataclass(frozen=True)
class BadText:
    """A TEXT cell whose bytes are not UTF-8 (shown and skipped, never guessed at)."""

    raw: bytes


def _text(raw: bytes) -> str | BadText:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return BadText(raw)


@dataclass(frozen=True)
class OldCharacter:
    id: object
    name: object
    created_at: object
    updated_at: object


@dataclass(frozen=True)
class OldInstance:
    id: object
    character_id: object
    name: object
    created_at: object
    updated_at: object


@dataclass(frozen=True)
class OldData:
    instance_id: object
    key: object
    value: object
    created_at: object
    updated_at: object


@dataclass(frozen=True)
class LegacyDump:
    """Every row of the three tables, cells as SQLite returned them."""

    path: Path
    characters: list[OldCharacter]
    instances: list[OldInstance]
    data: list[OldData]


def _fingerprint(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    if not head:
        raise InvalidInput(f"{path} is empty: it is not a Value Tracker database")
    if head != SQLITE_MAGIC:
        raise InvalidInput(f"{path} is not an SQLite database")


def _explain(path: Path, exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_NOTADB":
        return f"{path} is not an SQLite database"
    if name.startswith("SQLITE_BUSY"):
        return (
            f"{path} is locked by another program (the old plugin writing?): stop SillyTavern "
            "and run the import again"
        )
    if name.startswith("SQLITE_CORRUPT"):
        return (
            f"{path} is damaged, or was being written while it was read: stop SillyTavern and "
            "run the import again"
        )
    if name == "SQLITE_READONLY_ROLLBACK":
        return (
            f"{path} has an unfinished transaction ({path.name}-journal beside it), which a "
            "read-only reader cannot roll back: start and stop SillyTavern once (or open the "
            "file with the sqlite3 shell), then run the import again"
        )
    if name.startswith("SQLITE_CANTOPEN") or name.startswith("SQLITE_READONLY"):
        return (
            f"cannot open {path} read-only ({exc}); a database in WAL mode needs its "
            "-wal/-shm files or a writable folder"
        )
    return f"cannot read {path}: {exc}"


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    rows = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
    return {str(row[1]) for row in rows}


def _select(conn: sqlite3.Connection, table: str, present: set[str]) -> list[tuple[object, ...]]:
    """Rows of ``table``: required columns, then optional ones (NULL where absent)."""
    names = [*_REQUIRED[table], *_OPTIONAL[table]]
    columns = ", ".join(f'"{name}"' if name in present else "NULL" for name in names)
    return list(conn.execute(f'SELECT {columns} FROM "{table}"'))


def _read_rows(conn: sqlite3.Connection, path: Path) -> LegacyDump:
    found = {table: _columns(conn, table) for table in _REQUIRED}
    missing_tables = [table for table, cols in found.items() if not cols]
    if missing_tables:
        raise InvalidInput(
            f"{path} is not a Value Tracker plugin database: no table "
            + ", ".join(missing_tables)
            + " (it needs characters, instances and data)"
        )
    missing_columns = [
        f"{table}.{column}"
        for table, columns in _REQUIRED.items()
        for column in columns
        if column not in found[table]
    ]
    if missing_columns:
        raise InvalidInput(
            f"{path} is not a Value Tracker plugin database: no column "
            + ", ".join(missing_columns)
        )
    return LegacyDump(
        path,
        [OldCharacter(*row) for row in _select(conn, "characters", found["characters"])],
        [OldInstance(*row) for row in _select(conn, "instances", found["instances"])],
        [OldData(*row) for row in _select(conn, "data", found["data"])],
    )


def read_legacy(path: Path, busy_timeout_ms: int = 5000) -> LegacyDump:
    """Every row of an old plugin database; raises InvalidInput with a readable message for a
    file that is not one, is damaged, is locked or changes while it is read."""
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")
    _check_header(path)
    before = _fingerprint(path)
    uri = f"file:{quote(str(path.absolute()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as exc:
        raise InvalidInput(_explain(path, exc)) from None
    try:
        conn.text_factory = _text
        conn.execute("PRAGMA query_only=ON")
        conn.execute("BEGIN")  # one snapshot for the three tables
        dump = _read_rows(conn, path)
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise InvalidInput(_explain(path, exc)) from None
    finally:
        conn.close()
    if _fingerprint(path) != before:
        raise InvalidInput(
            f"{path} changed while it was read (SillyTavern is running?): stop SillyTavern and "
            "run the import again"
        )
    return dump
