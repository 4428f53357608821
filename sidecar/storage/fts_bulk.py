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


def restore_fts(db: Database, *, segments_filled: bool = False) -> None:
    """Rebuild the full-text index of ``db`` from its tables and put the triggers back (nothing
    to do when they are in place). ``segments_filled``: the catalog's segmentation table was
    filled while its triggers were away (``sidecar.storage.fts.INSERT_MESSAGE_SEGMENT``)."""
    with db.write() as conn:
        ensure_fts(conn, db.metadata, segments_filled=segments_filled)


def clear_segments(catalog: Database) -> None:
    """Before a bulk load fills the catalog's segmentation table: rows left with no message
    (there is none when a bulk load starts) are dropped."""
    with catalog.write() as conn:
        conn.exec_driver_sql("DELETE FROM messages_fts_seg WHERE msg_uid NOT IN "
                             "(SELECT msg_uid FROM messages)")  # fmt: skip
