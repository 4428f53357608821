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

This module holds the entry points and the order of those steps; step 1 is in ``gc_prune``, the
pack file handling of step 2 in ``pack_files``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sidecar.errors import SidecarError
from sidecar.indexer.retention import cutoff
from sidecar.recovery.gc_prune import drop_dead_lines, prune_versions
from sidecar.recovery.pack_files import (
    LINES_DIR,
    PackWriter,
    copy_lines,
    fsync_dir,
    list_packs,
    pack_header,
    pack_path,
    packs_size,
)
from sidecar.storage.catalog import CatalogDatabase
from sidecar.storage.extension_db import Database
from sidecar.storage.linestore import PACK_LIMIT
from sidecar.storage.lock import DatabaseLocked, hold_lock
from sidecar.storage.registry import CATALOG_FILE
from sidecar.storage.sqlite import SqliteOptions, executemany, fetchall

log = logging.getLogger(__name__)


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


def run_gc(
    database_dir: Path, options: SqliteOptions, keep_days: float | None, keep_count: int | None
) -> GcReport:
    """``collect`` with a retention on a whole database folder (``sidecar gc``)."""
    with _exclusive(database_dir):
        catalog = CatalogDatabase(database_dir / CATALOG_FILE, options)
        try:
            return _collect(catalog, database_dir / LINES_DIR, keep_days, keep_count, None)
        finally:
            catalog.close()


def _collect(
    catalog: Database,
    store_dir: Path,
    keep_days: float | None,
    keep_count: int | None,
    now: datetime | None,
) -> GcReport:
    report = GcReport(store_bytes_before=packs_size(store_dir))
    before = cutoff(keep_days, now) if keep_days is not None else None
    with catalog.write() as conn:
        pruned = prune_versions(conn, before, keep_count)
        report.versions_removed = pruned.versions_removed
        report.versions_rewritten = pruned.versions_rewritten
        report.lines_removed = drop_dead_lines(conn, pruned.referenced)
    del pruned
    _compact(catalog, store_dir, report)
    report.store_bytes_after = packs_size(store_dir)
    log.info(
        "gc: %d versions removed (%d rewritten as full lists), %d lines removed, %d bytes freed",
        report.versions_removed,
        report.versions_rewritten,
        report.lines_removed,
        report.bytes_freed,
    )
    return report


# -- pack compaction -------------------------------------------------------------------------


def _compact(catalog: Database, store_dir: Path, report: GcReport, limit: int = PACK_LIMIT) -> None:
    packs = list_packs(store_dir)
    if not packs:
        return
    with catalog.read() as conn:
        live = fetchall(conn, "SELECT hash, pack, offset, length FROM lines ORDER BY pack, offset")
    live_bytes: Counter[int] = Counter()
    ends: Counter[int] = Counter()
    for _digest, pack, offset, length in live:
        live_bytes[pack] += length
        ends[pack] = max(ends[pack], offset + length)
    # A pack that lost bytes (deleted, cut short) is left as it is: sidecar repair reports it.
    damaged = {pack for pack, end in ends.items() if packs.get(pack, 0) < end}
    live = [row for row in live if row[1] not in damaged]
    # Packs with dead bytes are rewritten; packs nothing refers to are simply deleted.
    dirty = {
        pack
        for pack, size in packs.items()
        if size > live_bytes.get(pack, 0) + pack_header(store_dir, pack) and pack not in damaged
    }
    if not dirty:
        return
    writer = PackWriter(store_dir, max(packs) + 1, limit)
    try:
        moves = copy_lines(store_dir, (row for row in live if row[1] in dirty), writer)
        writer.close()
        fsync_dir(store_dir)
        with catalog.write() as conn:
            executemany(
                conn, "UPDATE lines SET pack = ?, offset = ?, length = ? WHERE hash = ?", moves
            )
    except BaseException:
        writer.discard()
        raise
    report.lines_moved = len(moves)
    if not _checkpoint(catalog.path):
        log.warning("gc: catalog busy, old pack files kept until the next gc")
        return
    for pack in sorted(dirty):
        pack_path(store_dir, pack).unlink(missing_ok=True)
        report.packs_removed += 1
    fsync_dir(store_dir)


def _checkpoint(path: Path) -> bool:
    """Make every committed catalog transaction durable (copy the WAL into the database, fsync)."""
    conn = sqlite3.connect(str(path), timeout=30)
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()[0]
    finally:
        conn.close()
    return not busy
