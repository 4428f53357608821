"""Bulk loading without the full-text triggers: the index is built in one pass afterwards.

FTS5 flushes its pending terms to a new segment at every statement savepoint, so the per-row
triggers of ``sidecar.storage.fts`` write one tiny segment per inserted row (and merge them
later): measured as a quarter of a first full index. A first index instead drops the triggers
(:func:`suspend_fts`, committed), writes its rows, and then :func:`restore_fts` runs
:func:`~sidecar.storage.fts.ensure_fts`, which finds the triggers missing and rebuilds the
index from the tables in one transaction. The virtual table stays in place meanwhile, so a
search during the load answers (from what was indexed before it) instead of failing.

Crash safety needs nothing more: a database left without its triggers (sidecar died during
the load) no longer matches the schema ``ensure_fts`` expects, so the next open rebuilds it.
"""

from __future__ import annotations

from sidecar.storage.extension_db import Database
from sidecar.storage.fts import ensure_fts

TRIGGERS = (
    "messages_fts_ai", "messages_fts_ad", "messages_fts_au",
    "data_fts_ai", "data_fts_ad", "data_fts_au",
)  # fmt: skip


def suspend_fts(db: Database) -> None:
    """Drop the full-text triggers of ``db`` (committed): rows written from now on are not
    indexed until :func:`restore_fts`."""
    with db.write() as conn:
        for name in TRIGGERS:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")


def restore_fts(db: Database) -> None:
    """Rebuild the full-text index of ``db`` from its tables and put the triggers back (nothing
    to do when they are in place)."""
    with db.write() as conn:
        ensure_fts(conn, db.metadata)
