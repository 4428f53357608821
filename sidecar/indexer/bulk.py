"""A first full index as a bulk load: the full-text indexes are built once at the end.

Per-row full-text triggers cost a first index a quarter of its time (see
``sidecar.storage.fts_bulk``). When the catalog holds no message yet, :func:`bulk_load` drops
the triggers of the catalog and of every extension database the pass writes to, and afterwards
rebuilds each index in one pass, the catalog's and the extension databases' side by side on two
threads (SQLite releases the GIL while it works). Everything else (the change feed, versions,
the commit protocol) is written exactly as in an incremental run.

Crash safety: a database left without its triggers no longer matches the schema ``ensure_fts``
expects, so opening it rebuilds its index. The catalog is opened by every run; an extension
database may not be (a run with nothing to do for it), so the catalog lists the extension
databases suspended (``catalog_meta`` ``fts_suspended``, committed before their triggers are
dropped) and every full pass first rebuilds those (:func:`heal_suspended`). An extension
database first met in the middle of a chat (the catalog's transaction is open then) keeps its
triggers for that chat and is suspended before the next one.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

import msgspec

from sidecar.indexer.update_state import SegmentFill
from sidecar.storage import fts
from sidecar.storage.extension_db import Database, ExtensionDatabase
from sidecar.storage.fts_bulk import clear_segments, restore_fts, suspend_fts
from sidecar.storage.sqlite import fetchall

if TYPE_CHECKING:
    from sidecar.indexer.indexer import ChatIndexer
    from sidecar.indexer.update_state import Stores

log = logging.getLogger(__name__)
REBUILD_THREADS = 2
SUSPENDED = "fts_suspended"  # catalog_meta: JSON list of extension ids whose triggers are dropped


class BulkLoad:
    """The extension databases a bulk load writes to; suspended between chats (:meth:`settle`)."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.seen: dict[str, ExtensionDatabase] = {}
        self.suspended: dict[str, Database] = {}

    def database_for(self, extension_id: str) -> ExtensionDatabase | None:
        db = self.stores.database_for(extension_id)
        if db is not None:
            self.seen.setdefault(extension_id, db)
        return db

    def settle(self) -> None:
        """Between two chats (no transaction open): suspend the databases met since the last
        call, recording them in the catalog first."""
        new = {ext: db for ext, db in self.seen.items() if ext not in self.suspended}
        if not new:
            return
        _record(self.stores.catalog, sorted({*self.suspended, *new}))
        for ext, db in new.items():
            suspend_fts(db)
            self.suspended[ext] = db


def _record(catalog: Database, extension_ids: list[str]) -> None:
    with catalog.write() as conn:
        conn.exec_driver_sql("DELETE FROM catalog_meta WHERE name = ?", (SUSPENDED,))
        if extension_ids:
            value = msgspec.json.encode(extension_ids).decode()
            conn.exec_driver_sql(
                "INSERT INTO catalog_meta (name, value) VALUES (?, ?)", (SUSPENDED, value)
            )


def heal_suspended(stores: Stores) -> None:
    """Rebuild the indexes of extension databases a killed bulk load left suspended."""
    with stores.catalog.read() as conn:
        rows = fetchall(conn, "SELECT value FROM catalog_meta WHERE name = ?", (SUSPENDED,))
    if not rows:
        return
    ids = msgspec.json.decode(rows[0][0], type=list[str])
    found = [db for db in map(stores.database_for, ids) if db is not None]
    log.info("rebuilding the search index of %d database(s) a killed index left", len(found))
    rebuild(found)
    _record(stores.catalog, [])


def is_first_index(catalog: Database) -> bool:
    with catalog.read() as conn:
        return not fetchall(conn, "SELECT EXISTS (SELECT 1 FROM messages)")[0][0]


@contextmanager
def bulk_load(indexer: ChatIndexer) -> Iterator[BulkLoad | None]:
    """Inside: index as a bulk load when the catalog is empty (yields the load, else None; call
    its ``settle`` before each chat)."""
    heal_suspended(indexer.stores)
    if not is_first_index(indexer.catalog):
        yield None
        return
    original = indexer.stores
    load = BulkLoad(original)
    log.info("first index of this database folder: a bulk load; search finds matches once it ends")
    suspend_fts(indexer.catalog)
    # The walk fills the segmentation table, when the index has one (benchmarks can turn it off).
    fill = SegmentFill() if fts.SEGMENT_CJK else None
    if fill is not None:
        clear_segments(indexer.catalog)
    indexer.stores = dataclasses.replace(original, database_for=load.database_for, segments=fill)
    indexer.database_for = load.database_for
    try:
        yield load
    finally:
        indexer.stores, indexer.database_for = original, original.database_for
        started = time.monotonic()
        filled = indexer.catalog if fill is not None and fill.exact else None
        rebuild([indexer.catalog, *load.suspended.values()], filled=filled)
        if load.suspended:
            _record(indexer.catalog, [])
        log.info(
            "search index built in %.1f s: search finds every indexed chat",
            time.monotonic() - started,
        )


def rebuild(databases: Sequence[Database], filled: Database | None = None) -> None:
    """Rebuild the full-text indexes of ``databases`` on two threads (``filled``: the catalog,
    when the walk filled its segmentation table). Every one is tried; the first failure is
    raised afterwards (a database left without its triggers is rebuilt when it is next opened,
    or by the next full pass)."""
    with ThreadPoolExecutor(REBUILD_THREADS, thread_name_prefix="fts-rebuild") as pool:
        futures = [pool.submit(restore_fts, db, segments_filled=db is filled) for db in databases]
    errors = [exc for future in futures if (exc := future.exception()) is not None]
    for db, future in zip(databases, futures, strict=True):
        if future.exception() is not None:
            log.error("rebuilding the search index of %s failed: %s", db.path, future.exception())
    if errors:
        raise errors[0]
