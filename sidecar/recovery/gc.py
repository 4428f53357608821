"""Garbage collection of old chat versions and of the lines only they used.

``collect`` applies the retention (``index.versions_keep_days`` / ``index.versions_keep_count``):

1. In one catalog transaction: every kept version whose delta base is removed is rewritten as a
   full line list, the versions outside the retention are deleted, and every ``lines`` row that no
   kept version and no chat's current line list refers to is deleted.
2. The pack files holding dead bytes are compacted: their live lines are copied into new pack
   files (numbered after every existing pack) which are synced to disk; then one catalog
   transaction points the ``lines`` rows at the copies; the catalog is checkpointed (so that
   commit is durable even with ``synchronous=normal``); only then are the old packs deleted.

A crash at any point leaves every kept version rebuildable: before the first commit nothing has
changed; between the commits the old packs still hold every line (the new packs are orphans, which
the next ``collect`` removes); after the second commit the old packs are unreferenced.

gc must not run while anything else writes the catalog or the line store, so it holds the
database folder's lock (:mod:`sidecar.storage.lock`) throughout.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from sidecar.config import Settings
from sidecar.errors import SidecarError
from sidecar.indexer.rebuild import version_hashes
from sidecar.indexer.retention import cutoff
from sidecar.indexer.versions import apply_ops, encode_full, unpack_hashes
from sidecar.storage.extension_db import Database
from sidecar.storage.linestore import PACK_LIMIT
from sidecar.storage.lock import DatabaseLocked, hold_lock
from sidecar.storage.registry import CATALOG_FILE, REGISTRY_FILE
from sidecar.storage.sqlite import executemany, fetchall

log = logging.getLogger(__name__)

LINES_DIR = "lines"
_PACK_NAME = re.compile(r"pack-(\d{6})\.bin")
_COPY_BUFFER = 1 << 20
_SQLITE_SUFFIXES = ("", "-wal", "-shm")


class GcError(SidecarError):
    """gc cannot run (another sidecar process holds the database folder)."""

    status_code = 409


@dataclass
class GcReport:
    versions_removed: int = 0
    versions_rewritten: int = 0  # kept versions whose delta base was removed, now full lists
    lines_removed: int = 0
    lines_moved: int = 0  # live lines copied out of packs that held dead bytes
    packs_removed: int = 0
    store_bytes_before: int = 0
    store_bytes_after: int = 0

    @property
    def bytes_freed(self) -> int:
        return self.store_bytes_before - self.store_bytes_after


# -- entry points ----------------------------------------------------------------------------


@contextmanager
def _exclusive(database_dir: Path) -> Iterator[None]:
    try:
        with hold_lock(database_dir):
            yield
    except DatabaseLocked as exc:
        raise GcError(f"sidecar is running; stop it first ({exc.message})") from None


def collect(
    catalog: Database,
    store_dir: Path,
    keep_days: float | None,
    keep_count: int | None,
    *,
    now: datetime | None = None,
) -> GcReport:
    """Apply the retention to ``catalog`` and compact the line store in ``store_dir``.

    Takes the lock of the catalog's folder; raises :class:`GcError` if another process holds it.
    The caller must not use a :class:`~sidecar.storage.linestore.LineStore` on ``store_dir``
    for writing meanwhile, and should reopen any it holds afterwards (pack files are replaced).
    """
    with _exclusive(catalog.path.parent):
        return _collect(catalog, store_dir, keep_days, keep_count, now)


def run_gc(settings: Settings) -> GcReport:
    """``collect`` with the configured retention on the configured database folder."""
    from sidecar.wiring import open_catalog  # noqa: PLC0415 - wiring imports most of sidecar

    database_dir = settings.storage.database_dir
    with _exclusive(database_dir):
        catalog = open_catalog(settings)
        try:
            return _collect(
                catalog,
                database_dir / LINES_DIR,
                settings.index.versions_keep_days,
                settings.index.versions_keep_count,
                None,
            )
        finally:
            catalog.close()


def _collect(
    catalog: Database,
    store_dir: Path,
    keep_days: float | None,
    keep_count: int | None,
    now: datetime | None,
) -> GcReport:
    report = GcReport(store_bytes_before=_packs_size(store_dir))
    before = cutoff(keep_days, now) if keep_days is not None else None
    with catalog.write() as conn:
        referenced = _prune_versions(conn, report, before, keep_count)
        report.lines_removed = _drop_dead_lines(conn, referenced)
    del referenced
    _compact(catalog, store_dir, report)
    report.store_bytes_after = _packs_size(store_dir)
    log.info(
        "gc: %d versions removed (%d rewritten as full lists), %d lines removed, %d bytes freed",
        report.versions_removed,
        report.versions_rewritten,
        report.lines_removed,
        report.bytes_freed,
    )
    return report


# -- versions and lines ----------------------------------------------------------------------


def _prune_versions(
    conn: Connection, report: GcReport, before: str | None, keep_count: int | None
) -> set[bytes]:
    """Delete versions outside the retention, rewrite kept versions whose base goes, and return
    every line hash still referenced (kept versions and each chat's current line list)."""
    referenced: set[bytes] = set()
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
        report.versions_rewritten += len(rewrites)
        report.versions_removed += len(removals)
    return referenced


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


def _drop_dead_lines(conn: Connection, referenced: set[bytes]) -> int:
    dead = [
        (row[0],) for row in fetchall(conn, "SELECT hash FROM lines") if row[0] not in referenced
    ]
    executemany(conn, "DELETE FROM lines WHERE hash = ?", dead)
    return len(dead)


# -- pack compaction -------------------------------------------------------------------------


def _packs(store_dir: Path) -> dict[int, int]:
    """pack number -> file size."""
    if not store_dir.is_dir():
        return {}
    found: dict[int, int] = {}
    for path in store_dir.iterdir():
        match = _PACK_NAME.fullmatch(path.name)
        if match:
            found[int(match.group(1))] = path.stat().st_size
    return found


def _packs_size(store_dir: Path) -> int:
    return sum(_packs(store_dir).values())


def _pack_path(store_dir: Path, pack: int) -> Path:
    return store_dir / f"pack-{pack:06d}.bin"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _PackWriter:
    """Writes new pack files, numbered from ``first``, each at most ``limit`` bytes."""

    def __init__(self, store_dir: Path, first: int, limit: int) -> None:
        self.store_dir = store_dir
        self.pack = first
        self.limit = limit
        self.written: list[int] = []
        self._fd: int | None = None
        self._size = 0
        self._buffer = bytearray()

    def append(self, data: bytes) -> tuple[int, int]:
        if self._fd is not None and self._size and self._size + len(data) > self.limit:
            self._finish()
            self.pack += 1
        if self._fd is None:
            path = _pack_path(self.store_dir, self.pack)
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            self.written.append(self.pack)
            self._size = 0
        where = (self.pack, self._size)
        self._buffer += data
        self._size += len(data)
        if len(self._buffer) >= _COPY_BUFFER:
            self._flush()
        return where

    def _flush(self) -> None:
        assert self._fd is not None
        data, self._buffer = bytes(self._buffer), bytearray()
        done = 0
        while done < len(data):
            done += os.write(self._fd, data[done:])

    def _finish(self) -> None:
        if self._fd is None:
            return
        self._flush()
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = None

    def close(self) -> None:
        """Flush and fsync the open pack (call before committing references to the copies)."""
        self._finish()

    def discard(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        for pack in self.written:
            _pack_path(self.store_dir, pack).unlink(missing_ok=True)


def _compact(catalog: Database, store_dir: Path, report: GcReport, limit: int = PACK_LIMIT) -> None:
    packs = _packs(store_dir)
    if not packs:
        return
    with catalog.read() as conn:
        live = fetchall(conn, "SELECT hash, pack, offset, length FROM lines ORDER BY pack, offset")
    live_bytes: Counter[int] = Counter()
    for _digest, pack, _offset, length in live:
        live_bytes[pack] += length
    # Packs with dead bytes are rewritten; packs nothing refers to are simply deleted.
    dirty = {pack for pack, size in packs.items() if size > live_bytes.get(pack, 0)}
    if not dirty:
        return
    moves: list[tuple[int, int, bytes]] = []
    writer = _PackWriter(store_dir, max(packs) + 1, limit)
    try:
        for pack, rows in _runs(row for row in live if row[1] in dirty):
            fd = os.open(_pack_path(store_dir, pack), os.O_RDONLY)
            try:
                for start, run in rows:
                    total = sum(row[3] for row in run)
                    block = os.pread(fd, total, start)
                    if len(block) != total:
                        raise OSError(f"line store pack {pack} is shorter than the catalog says")
                    position = 0
                    for digest, _pack, _offset, length in run:
                        new_pack, new_offset = writer.append(block[position : position + length])
                        moves.append((new_pack, new_offset, digest))
                        position += length
            finally:
                os.close(fd)
        writer.close()
        _fsync_dir(store_dir)
        with catalog.write() as conn:
            executemany(conn, "UPDATE lines SET pack = ?, offset = ? WHERE hash = ?", moves)
    except BaseException:
        writer.discard()
        raise
    report.lines_moved = len(moves)
    if not _checkpoint(catalog.path):
        log.warning("gc: catalog busy, old pack files kept until the next gc")
        return
    for pack in sorted(dirty):
        _pack_path(store_dir, pack).unlink(missing_ok=True)
        report.packs_removed += 1
    _fsync_dir(store_dir)


def _runs(rows: Iterable[Any]) -> Iterator[tuple[int, list[tuple[int, list[Any]]]]]:
    """Group ``(hash, pack, offset, length)`` rows sorted by (pack, offset) into packs, and each
    pack's rows into runs stored back to back (read with one ``pread`` each)."""
    pack_rows: list[tuple[int, list[Any]]] = []
    current: int | None = None
    end = run_size = -1
    for row in rows:
        _digest, pack, offset, length = row
        if pack != current:
            if current is not None:
                yield current, pack_rows
            current, pack_rows, end = pack, [], -1
        if offset == end and run_size < _COPY_BUFFER:
            pack_rows[-1][1].append(row)
            run_size += length
        else:
            pack_rows.append((offset, [row]))
            run_size = length
        end = offset + length
    if current is not None:
        yield current, pack_rows


def _checkpoint(path: Path) -> bool:
    """Make every committed catalog transaction durable (copy the WAL into the database, fsync)."""
    conn = sqlite3.connect(str(path), timeout=30)
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()[0]
    finally:
        conn.close()
    return not busy


# -- disk usage ------------------------------------------------------------------------------


def _sqlite_size(path: Path) -> int:
    total = 0
    for suffix in _SQLITE_SUFFIXES:
        with suppress(OSError):
            total += os.stat(f"{path}{suffix}").st_size
    return total


def disk_usage(database_dir: Path) -> dict[str, Any]:
    """Bytes on disk: ``catalog``, ``line_store``, ``registry``, ``extensions`` (database file
    name without ``.db`` -> bytes) and ``total``. SQLite sizes include the -wal and -shm files."""
    extensions: dict[str, int] = {}
    if database_dir.is_dir():
        for path in sorted(database_dir.glob("*.db")):
            if path.name not in (CATALOG_FILE, REGISTRY_FILE):
                extensions[path.name.removesuffix(".db")] = _sqlite_size(path)
    usage: dict[str, Any] = {
        "catalog": _sqlite_size(database_dir / CATALOG_FILE),
        "line_store": _packs_size(database_dir / LINES_DIR),
        "registry": _sqlite_size(database_dir / REGISTRY_FILE),
        "extensions": extensions,
    }
    usage["total"] = (
        usage["catalog"] + usage["line_store"] + usage["registry"] + sum(extensions.values())
    )
    return usage
