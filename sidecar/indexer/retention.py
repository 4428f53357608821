"""Applying ``index.history_retention_days`` to every extension database that holds history."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select

from sidecar.indexer.extsync import prune_history
from sidecar.indexer.update_state import DatabaseFor
from sidecar.storage.indexed_tables import data_history


def cutoff(days: float, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)) - timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def apply_retention(database_for: DatabaseFor, extension_ids: Iterable[str], days: float) -> int:
    """Delete history older than ``days`` in each database; returns the rows removed. Databases
    with nothing that old are only read, never written."""
    before = cutoff(days)
    removed = 0
    for extension_id in extension_ids:
        db = database_for(extension_id)
        if db is None:
            continue
        with db.read() as conn:
            old = conn.execute(select(exists().where(data_history.c.replaced_at < before))).scalar()
        if old:
            with db.write() as conn:
                removed += prune_history(conn, before)
    return removed
