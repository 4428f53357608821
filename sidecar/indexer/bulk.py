"""A first full index as a bulk load: the full-text indexes are built once at the end.

Per-row full-text triggers cost a first index a quarter of its time (see
``sidecar.storage.fts_bulk``). When the catalog holds no message yet, :func:`bulk_load` drops
the triggers of the catalog and of every extension database the pass writes to, and afterwards
rebuilds each index in one pass, the catalog's and the extension databases' side by side on two
threads (SQLite releases the GIL while it works). Everything else (the change feed, versions,
the commit protocol) is written exactly as in an incremental run.

A crash during the load leaves databases without their triggers, which the next open rebuilds
(``ensure_fts``), so nothing is ever taken as indexed that is not.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sidecar.storage.extension_db import Database, ExtensionDatabase
from sidecar.storage.fts_bulk import restore_fts, suspend_fts
from sidecar.storage.sqlite import fetchall

if TYPE_CHECKING:
    from sidecar.indexer.indexer import ChatIndexer
    from sidecar.indexer.update_state import Stores

log = logging.getLogger(__name__)
REBUILD_THREADS = 2


class _Load:
    """The extension databases a bulk load has written to, each suspended on first use."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.suspended: dict[str, Database] = {}

    def database_for(self, extension_id: str) -> ExtensionDatabase | None:
        db = self.stores.database_for(extension_id)
        if db is not None and extension_id not in self.suspended:
            suspend_fts(db)
            self.suspended[extension_id] = db
        return db


def is_first_index(catalog: Database) -> bool:
    with catalog.read() as conn:
        return not fetchall(conn, "SELECT EXISTS (SELECT 1 FROM messages)")[0][0]


@contextmanager
def bulk_load(indexer: ChatIndexer) -> Iterator[bool]:
    """Inside: index as a bulk load when the catalog is empty (yields whether it is one)."""
    if not is_first_index(indexer.catalog):
        yield False
        return
    original = indexer.stores
    load = _Load(original)
    suspend_fts(indexer.catalog)
    indexer.stores = dataclasses.replace(original, database_for=load.database_for)
    indexer.database_for = load.database_for
    try:
        yield True
    finally:
        indexer.stores, indexer.database_for = original, original.database_for
        rebuild([indexer.catalog, *load.suspended.values()])


def rebuild(databases: list[Database]) -> None:
    """Rebuild the full-text indexes of ``databases`` on two threads. Every one is tried; the
    first failure is raised afterwards (a database left without its triggers is rebuilt when it
    is next opened)."""
    with ThreadPoolExecutor(REBUILD_THREADS, thread_name_prefix="fts-rebuild") as pool:
        futures = [pool.submit(restore_fts, db) for db in databases]
    errors = [exc for future in futures if (exc := future.exception()) is not None]
    for db, future in zip(databases, futures, strict=True):
        if future.exception() is not None:
            log.error("rebuilding the search index of %s failed: %s", db.path, future.exception())
    if errors:
        raise errors[0]
