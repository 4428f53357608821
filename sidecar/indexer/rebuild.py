"""Rebuilding any indexed version of a chat file, byte for byte, from the catalog and line store."""

from __future__ import annotations

from sqlalchemy import Connection, select

from sidecar.errors import NotFound
from sidecar.indexer.versions import apply_ops
from sidecar.sillytavern.chatfile import rebuild
from sidecar.storage.catalog_tables import lines, versions
from sidecar.storage.linestore import LineRef, LineStore

_CHUNK = 500


def version_hashes(conn: Connection, chat_id: str, version: int) -> list[bytes]:
    """The line hashes of one version: walk back to the nearest full list, apply deltas forward."""
    chain: list[bytes] = []
    current: int | None = version
    while current is not None:
        row = conn.execute(
            select(versions.c.base_version, versions.c.ops).where(
                versions.c.chat_id == chat_id, versions.c.version == current
            )
        ).first()
        if row is None:
            raise NotFound(f"Version {current} of chat {chat_id} not found")
        chain.append(row.ops)
        current = row.base_version
    hashes: list[bytes] = []
    for ops in reversed(chain):
        hashes = apply_ops(hashes, ops)
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
        rows = conn.execute(
            select(lines.c.hash, lines.c.pack, lines.c.offset, lines.c.length).where(
                lines.c.hash.in_(unique[start : start + _CHUNK])
            )
        )
        refs.update((row.hash, LineRef(row.pack, row.offset, row.length)) for row in rows)
    return rebuild(
        [store.read(refs[digest]) for digest in hashes],
        bom=bool(framing.bom),
        trailing_newline=bool(framing.trailing_newline),
    )
