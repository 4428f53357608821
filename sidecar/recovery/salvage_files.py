"""Salvage each kind of sidecar database: move the damaged file aside (kept, never deleted),
create a fresh file with the current schema, and copy every readable row into it.

* An extension database: value-tracker rows whose parent row was lost are re-attached to a
  placeholder parent (an instance to a character named by its id; data to an instance under the
  character ``salvaged``), so no readable value is dropped.
* The catalog: every chat row read keeps its ``chatId``, versions and line references; every
  chat is marked for a full resync from its file, so what could not be read is indexed again.
  The message id counter is moved past every id any database still uses.
* The registry: its rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import quote

from sidecar.clock import utc_now_iso
from sidecar.recovery.salvage import Salvaged, copy_rows, move_aside, move_back, stamp
from sidecar.storage.catalog import CatalogDatabase
from sidecar.storage.catalog_tables import CatalogBase
from sidecar.storage.extension_db import EXTENSION_METADATA, Database, ExtensionDatabase
from sidecar.storage.schema import RegistryBase
from sidecar.storage.sqlite import SqliteOptions, register_functions

PLACEHOLDER_CHARACTER = "salvaged"
EXTENSION_TABLES = [t.name for t in EXTENSION_METADATA.sorted_tables]
CATALOG_TABLES = [t.name for t in CatalogBase.metadata.sorted_tables]


def _fill(path: Path, source: Path, tables: list[str], report: Salvaged) -> sqlite3.Connection:
    dest = sqlite3.connect(str(path), isolation_level=None, timeout=30)
    register_functions(dest)  # the catalog's full-text triggers call sidecar_segment
    dest.execute("PRAGMA foreign_keys=OFF")  # parents may be lost; re-attached afterwards
    dest.execute("PRAGMA recursive_triggers=ON")
    dest.execute("BEGIN IMMEDIATE")
    copy_rows(source, dest, tables, report)
    return dest


@contextmanager
def _fresh(path: Path) -> Iterator[Salvaged]:
    """Move ``path`` aside; if the salvage fails, put it back as it was."""
    aside = move_aside(path, stamp())
    try:
        yield Salvaged(aside)
    except BaseException:
        move_back(aside, path)
        raise


def salvage_extension(path: Path, extension_id: str, options: SqliteOptions) -> Salvaged:
    with _fresh(path) as report:
        ExtensionDatabase(extension_id, path, options).close()
        _salvage_extension(path, report)
    return report


def _salvage_extension(path: Path, report: Salvaged) -> None:
    with closing(_fill(path, report.aside, EXTENSION_TABLES, report)) as dest:
        now = utc_now_iso()
        orphans = dest.execute(
            "SELECT DISTINCT character_id FROM instances "
            "WHERE character_id NOT IN (SELECT id FROM characters)"
        ).fetchall()
        loose = dest.execute(
            "SELECT DISTINCT instance_id FROM instance_data "
            "WHERE instance_id NOT IN (SELECT id FROM instances)"
        ).fetchall()
        if loose:
            orphans.append((PLACEHOLDER_CHARACTER,))
        dest.executemany(
            "INSERT OR IGNORE INTO characters (id, name, created_at, updated_at) "
            "VALUES (?, NULL, ?, ?)",
            [(cid, now, now) for (cid,) in orphans],
        )
        dest.executemany(
            "INSERT OR IGNORE INTO instances (id, character_id, name, created_at, updated_at) "
            "VALUES (?, ?, NULL, ?, ?)",
            [(iid, PLACEHOLDER_CHARACTER, now, now) for (iid,) in loose],
        )
        report.copied["reattached"] = len(orphans) + len(loose)
        dest.execute("COMMIT")


def salvage_catalog(path: Path, options: SqliteOptions, min_next_uid: int = 0) -> Salvaged:
    """``min_next_uid``: one past the highest message id used in any extension database."""
    with _fresh(path) as report:
        CatalogDatabase(path, options).close()
        with closing(_fill(path, report.aside, CATALOG_TABLES, report)) as dest:
            dest.execute("UPDATE chats SET sync = 'pending'")
            top = max(_old_sequence(report.aside), min_next_uid, _max_uid(dest))
            dest.execute("DELETE FROM sqlite_sequence WHERE name = 'messages'")
            dest.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('messages', ?)", (top,))
            dest.execute("COMMIT")
    return report


def salvage_registry(path: Path, options: SqliteOptions) -> Salvaged:
    with _fresh(path) as report:
        Database(path, RegistryBase.metadata, options).close()
        tables = [t.name for t in RegistryBase.metadata.sorted_tables]
        with closing(_fill(path, report.aside, tables, report)) as dest:
            dest.execute("COMMIT")
    return report


def _max_uid(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(msg_uid), 0) FROM messages").fetchone()[0])


def _old_sequence(aside: Path) -> int:
    try:
        with closing(sqlite3.connect(f"file:{quote(str(aside))}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
    except sqlite3.DatabaseError:
        return 0
    return int(row[0]) if row else 0


def max_message_uid(path: Path) -> int:
    """The highest message id an extension database's rows use (0 if unreadable)."""
    try:
        with closing(sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)) as conn:
            top = 0
            for table in ("message_data", "data_history"):
                row = conn.execute(f"SELECT max(msg_uid) FROM {table}").fetchone()
                top = max(top, int(row[0] or 0))
            return top
    except sqlite3.DatabaseError:
        return 0
