"""gc's first step: which versions the retention keeps, and which lines anything still uses.

Runs inside one catalog transaction (see ``gc``): versions outside the retention are deleted, a
kept version whose delta base goes is rewritten as a full line list, and every ``lines`` row that
no kept version and no chat's current line list refers to is deleted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from sidecar.indexer.rebuild import version_hashes
from sidecar.indexer.versions import apply_ops, encode_full, unpack_hashes
from sidecar.storage.sqlite import executemany, fetchall


@dataclass
class Pruned:
    """What ``prune_versions`` did, and the line hashes still referenced."""

    referenced: set[bytes] = field(default_factory=set)
    versions_removed: int = 0
    versions_rewritten: int = 0


def prune_versions(conn: Connection, before: str | None, keep_count: int | None) -> Pruned:
    """Delete versions outside the retention, rewrite kept versions whose base goes, and collect
    every line hash still referenced (kept versions and each chat's current line list)."""
    pruned = Pruned()
    referenced = pruned.referenced
    current: dict[str, int] = {}
    for chat_id, version, line_hashes in fetchall(
        conn, "SELECT chat_id, version, line_hashes FROM chats"
    ):
        current[chat_id] = version
        referenced.update(unpack_hashes(line_hashes or b""))
    chat_ids = [row[0] for row in fetchall(conn, "SELECT DISTINCT chat_id FROM versions")]
    for chat_id in chat_ids:
        rows = fetchall(
            conn,
            "SELECT version, base_version, seen_at, ops FROM versions "
            "WHERE chat_id = ? ORDER BY version",
            (chat_id,),
        )
        kept = _kept(rows, current.get(chat_id, rows[-1][0]), before, keep_count)
        rewrites: list[tuple[bytes, str, int]] = []
        removals: list[tuple[str, int]] = []
        for version, base, hashes in _expanded(conn, chat_id, rows):
            if version not in kept:
                removals.append((chat_id, version))
                continue
            referenced.update(hashes)
            if base is not None and base not in kept:
                rewrites.append((encode_full(hashes), chat_id, version))
        # Kept versions become full lists in the same transaction that deletes their bases.
        executemany(
            conn,
            "UPDATE versions SET base_version = NULL, ops = ? WHERE chat_id = ? AND version = ?",
            rewrites,
        )
        executemany(conn, "DELETE FROM versions WHERE chat_id = ? AND version = ?", removals)
        pruned.versions_rewritten += len(rewrites)
        pruned.versions_removed += len(removals)
    return pruned


def _kept(rows: list[Any], current: int, before: str | None, keep_count: int | None) -> set[int]:
    """The versions of one chat (``rows`` in version order) inside the retention."""
    if before is None and keep_count is None:
        return {row[0] for row in rows}
    kept = {current}
    if keep_count is not None:
        kept.update(row[0] for row in rows[-keep_count:])
    if before is not None:
        kept.update(row[0] for row in rows if row[2] >= before)
    return kept


def _expanded(
    conn: Connection, chat_id: str, rows: list[Any]
) -> Iterator[tuple[int, int | None, list[bytes]]]:
    """``(version, base_version, line hashes)`` of every row, in order; a version's list is kept
    in memory only while a later version still needs it as its base."""
    pending = Counter(row[1] for row in rows if row[1] is not None)
    cache: dict[int, list[bytes]] = {}
    for version, base, _seen_at, ops in rows:
        if base is None:
            hashes = apply_ops([], ops)
        elif base in cache:
            hashes = apply_ops(cache[base], ops)
        else:  # a base after the version (never written so): walk the chain the slow way
            hashes = version_hashes(conn, chat_id, version)
        if base is not None:
            pending[base] -= 1
            if pending[base] <= 0:
                cache.pop(base, None)
        if pending[version] > 0:
            cache[version] = hashes
        yield version, base, hashes


def drop_dead_lines(conn: Connection, referenced: set[bytes]) -> int:
    """Delete the ``lines`` rows whose hash is not in ``referenced``; returns how many."""
    dead = [
        (row[0],) for row in fetchall(conn, "SELECT hash FROM lines") if row[0] not in referenced
    ]
    executemany(conn, "DELETE FROM lines WHERE hash = ?", dead)
    return len(dead)
