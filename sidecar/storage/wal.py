"""Leave no write-ahead log behind when the daemon stops.

SQLite folds a WAL back into its database and deletes it when the *last* connection to the
database closes, but only if that connection may write. In ``sidecar run`` the indexer process
closes its writer while the API process still holds read-only connections (``mode=ro``), which
cannot checkpoint: the WAL (megabytes after a busy day) would stay beside the database until the
next start. Once both halves have closed everything, :func:`fold_wal_files` opens each database
that still has a WAL with a writable connection and closes it again, which checkpoints and
removes it.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path

log = logging.getLogger(__name__)

ASIDE_MARK = ".damaged-"  # files moved aside by repair are left exactly as they are


def fold_wal_files(database_dir: Path) -> list[Path]:
    """Checkpoint and remove the WAL of every database in ``database_dir``; the folded ones.

    Call only while no other connection is open (the caller holds the folder's lock and has
    closed its own). A database that cannot be opened or checkpointed keeps its WAL, which
    SQLite replays at the next open: nothing is lost either way.
    """
    folded: list[Path] = []
    for wal in sorted(database_dir.glob("*.db-wal")):
        db = wal.with_name(wal.name.removesuffix("-wal"))
        if ASIDE_MARK in db.name or not db.is_file():
            continue
        try:
            with closing(sqlite3.connect(str(db), timeout=5)) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.debug("%s: WAL left for the next start (%s)", db.name, exc)
            continue
        if not wal.exists():
            folded.append(db)
    return folded
