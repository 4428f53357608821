"""After a catalog was salvaged: chat rows brought back from their versions (so the chat keeps
its ``chatId`` and its namespace rows stay attached), namespace rows that belong to no chat or
message removed, and the versions that cannot be rebuilt named."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import Connection

from sidecar.clock import utc_now_iso
from sidecar.errors import NotFound
from sidecar.indexer.rebuild import version_hashes
from sidecar.indexer.versions import apply_ops, pack_hashes
from sidecar.sillytavern.discovery import ChatLocation
from sidecar.storage.catalog import CatalogDatabase
from sidecar.storage.catalog_tables import chats
from sidecar.storage.extension_db import Database
from sidecar.storage.registry import ExtensionRegistry
from sidecar.storage.sqlite import SqliteOptions, executemany, fetchall, read_snapshot


def recreate_chat_rows(
    catalog_path: Path, locate: Callable[[str], ChatLocation | None] | None
) -> int:
    """Chats whose row was lost but whose versions were salvaged get a row again, from their
    last version, marked for a resync. Returns how many."""
    if locate is None:
        return 0
    catalog = CatalogDatabase(catalog_path, SqliteOptions())
    made = 0
    try:
        with catalog.write() as conn:
            rows = fetchall(
                conn,
                "SELECT chat_id, max(version) FROM versions "
                "WHERE chat_id NOT IN (SELECT chat_id FROM chats) GROUP BY chat_id",
            )
            for chat_id, version in rows:
                made += _recreate(conn, chat_id, int(version), locate)
    finally:
        catalog.close()
    return made


def _recreate(
    conn: Connection, chat_id: str, version: int, locate: Callable[[str], ChatLocation | None]
) -> int:
    last = fetchall(
        conn,
        "SELECT rel_path, size, message_count, file_hash, bom, trailing_newline, seen_at "
        "FROM versions WHERE chat_id = ? AND version = ?",
        (chat_id, version),
    )[0]
    rel_path, size, count, file_hash, bom, trailing, seen_at = last
    location = locate(rel_path)
    taken = fetchall(conn, "SELECT 1 FROM chats WHERE rel_path = ?", (rel_path,))
    if location is None or taken:
        return 0
    try:
        hashes = version_hashes(conn, chat_id, version)
    except NotFound:
        hashes = []
    group = location.group
    conn.execute(chats.insert().values(
        chat_id=chat_id, user=location.user, kind=location.kind, character=location.character,
        group_id=group.group_id if group else None, group_name=group.name if group else None,
        file_name=location.file_name, rel_path=rel_path, message_count=count, size=size,
        file_hash=file_hash, line_hashes=pack_hashes(hashes), bom=bom, trailing_newline=trailing,
        version=version, sync="pending", first_seen=seen_at, last_indexed=seen_at,
        last_changed=seen_at,
        state="ok" if location.path.exists() else "missing",
        missing_since=None if location.path.exists() else utc_now_iso(),
    ))  # fmt: skip
    return 1


def unrebuildable_versions(conn: Connection, lost: set[bytes]) -> list[str]:
    """ "version N of <chat> cannot be rebuilt: lines missing", for every version that needs a
    line the store no longer has (``lost``) or has no reference for."""
    known = {row[0] for row in fetchall(conn, "SELECT hash FROM lines")}
    found: list[str] = []
    current: str | None = None
    hashes: list[bytes] = []
    rows = fetchall(
        conn,
        "SELECT v.chat_id, v.version, v.base_version, v.ops, v.rel_path FROM versions v "
        "ORDER BY v.chat_id, v.version",
    )
    for chat_id, version, base, ops, rel_path in rows:
        if chat_id != current:
            current, hashes = chat_id, []
        hashes = apply_ops(hashes if base is not None else [], ops)
        if any(h in lost or h not in known for h in hashes):
            found.append(
                f"version {version} of {rel_path} (chat {chat_id}) cannot be rebuilt: lines missing"
            )
    return found


def remove_orphans(catalog: Database, registry: ExtensionRegistry) -> int:
    """Delete namespace rows whose chat or message the catalog does not have."""
    with catalog.read() as conn:
        chat_ids = {row[0] for row in fetchall(conn, "SELECT chat_id FROM chats")}
        owner = dict(fetchall(conn, "SELECT msg_uid, chat_id FROM messages"))
    removed = 0
    for ext in registry.index_extensions():
        db = registry.index_database(ext)
        if db is None:
            continue
        with db.write() as conn:
            pairs = fetchall(conn, "SELECT DISTINCT chat_id, msg_uid FROM message_data")
            gone = [(c, u) for c, u in pairs if owner.get(u) != c]
            removed += _delete(
                conn, "DELETE FROM message_data WHERE chat_id = ? AND msg_uid = ?", gone
            )
            for table in ("chat_data", "data_history"):
                ids = [(c,) for (c,) in fetchall(conn, f"SELECT DISTINCT chat_id FROM {table}")]
                stray = [i for i in ids if i[0] not in chat_ids]
                removed += _delete(conn, f"DELETE FROM {table} WHERE chat_id = ?", stray)
    return removed


def _delete(conn: Connection, sql: str, keys: Sequence[Sequence[object]]) -> int:
    return executemany(conn, sql, keys) if keys else 0


def lost_versions_in(catalog: Path, lost_packs: dict[int, int], shown: int = 20) -> list[str]:
    """The versions that cannot be rebuilt (the first ``shown`` of them, and how many more)."""
    with read_snapshot(catalog, SqliteOptions()) as conn:  # read-only: safe while sidecar runs
        lost: set[bytes] = set()
        for pack, present in lost_packs.items():
            sql = 'SELECT hash FROM lines WHERE pack = ? AND "offset" + length > ?'
            lost.update(row[0] for row in fetchall(conn, sql, (pack, present)))
        found = unrebuildable_versions(conn, lost)
    more = [f"... and {len(found) - shown} more"] if len(found) > shown else []
    return found[:shown] + more
