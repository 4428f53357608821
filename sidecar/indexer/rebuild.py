"""Rebuilding any indexed version of a chat file, byte for byte, from the catalog and line store."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from sidecar.errors import NotFound
from sidecar.indexer.versions import apply_ops
from sidecar.sillytavern.chatfile import rebuild
from sidecar.storage.catalog_tables import versions
from sidecar.storage.linestore import LineRef, LineStore
from sidecar.storage.sqlite import fetchall

_CHUNK = 500


def version_hashes(conn: Connection, chat_id: str, version: int) -> list[bytes]:
    """The line hashes of one version: from the nearest full list at or before it, apply the
    deltas forward (each delta's base is the version before it, so the chain is one range)."""
    full = conn.execute(
        select(func.max(versions.c.version)).where(
            versions.c.chat_id == chat_id,
            versions.c.version <= version,
            versions.c.base_version.is_(None),
        )
    ).scalar()
    rows = fetchall(
        conn,
        "SELECT version, base_version, ops FROM versions "
        "WHERE chat_id = ? AND version BETWEEN ? AND ? ORDER BY version",
        (chat_id, full if full is not None else version, version),
    )
    if full is None or not rows or rows[-1][0] != version:
        raise NotFound(f"Version {version} of chat {chat_id} not found")
    hashes: list[bytes] = []
    expected: int | None = None
    for number, base, ops in rows:
        if base != expected:  # a gap in the chain: the catalog does not hold this version
            raise NotFound(f"Version {version} of chat {chat_id} cannot be rebuilt")
        hashes = apply_ops(hashes, ops)
        expected = number
    return hashes


def rebuild_version(conn: Connection, store: LineStore, chat_id: str, version: int) -> bytes:
    hashes = version_hashes(conn, chat_id, version)
    framing = conn.execute(
        select(versions.c.bom, versions.c.trailing_newline).where(
            versions.c.chat_id == chat_id, versions.c.version == version
        )
    ).one()
    refs: dict[bytes, LineRef] = {}
    unique = list(dict.fromkeys(hashes))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        rows = fetchall(
            conn,
            "SELECT hash, pack, offset, length FROM lines WHERE hash IN "
            f"({', '.join('?' * len(chunk))})",
            chunk,
        )
        refs.update((row[0], LineRef(row[1], row[2], row[3])) for row in rows)
    return rebuild(
        read_lines(store, [refs[digest] for digest in hashes]),
        bom=bool(framing.bom),
        trailing_newline=bool(framing.trailing_newline),
    )


def read_lines(store: LineStore, refs: list[LineRef]) -> list[bytes]:
    """The lines at ``refs`` (see :meth:`LineStore.read_many`)."""
    return store.read_many(refs)
