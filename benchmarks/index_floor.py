"""The floor under a full index: SQLite's and deflate's own work for what a full index stores.

Given the database folder a full index built, :func:`measure` copies every row of every table the
index wrote into fresh databases, opened exactly as ``sidecar index`` opens them and with their
full-text triggers suspended as a first index suspends them, in transactions of
``update.BATCH`` rows written with ``executemany`` from tuples already in memory. It then
rebuilds the full-text indexes as a first index does (``sidecar.indexer.bulk.rebuild``, two
threads) and deflates every distinct line of the data root with the pack codec. No JSON is
parsed and no row is built: what it prints is what storing sidecar's rows costs by itself,
whatever the Python around it does. On one core, a full index can never be faster than this;
on two, at best half of it, if every part overlapped perfectly.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from index_common import opened

from sidecar.indexer.bulk import rebuild
from sidecar.indexer.update import BATCH
from sidecar.storage import pack_codec
from sidecar.storage.extension_db import Database
from sidecar.storage.fts_bulk import suspend_fts
from sidecar.storage.sqlite import executemany

CATALOG = "sidecar.index.db"
FIRST = ("chats",)  # written before the rows that name them (foreign keys)
SKIPPED = ("sqlite_sequence", "catalog_meta", "sidecar_meta", "rederive")  # not index output


@dataclass
class Floor:
    rows: int
    insert_s: float
    fts_s: float
    deflate_s: float
    lines_mb: float

    @property
    def total_s(self) -> float:
        return self.insert_s + self.fts_s + self.deflate_s


def _tables(source: sqlite3.Connection) -> list[str]:
    names = [
        name
        for (name,) in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if name not in SKIPPED and not name.startswith(("messages_fts", "data_fts"))
    ]
    return sorted(names, key=lambda name: (name not in FIRST, name))


def _copy(source_path: Path, target: Database) -> tuple[int, float]:
    """Every row of ``source_path``'s indexed tables into ``target``: (rows, seconds)."""
    source = sqlite3.connect(source_path)
    try:
        tables = {name: source.execute(f"SELECT * FROM {name}").fetchall()
                  for name in _tables(source)}  # fmt: skip
    finally:
        source.close()
    suspend_fts(target)
    started, count = time.perf_counter(), 0
    for name, rows in tables.items():
        if not rows:
            continue
        sql = f"INSERT OR REPLACE INTO {name} VALUES ({', '.join('?' * len(rows[0]))})"
        for start in range(0, len(rows), BATCH):
            with target.write() as conn:
                count += executemany(conn, sql, rows[start : start + BATCH])
    return count, time.perf_counter() - started


def measure(root: Path, built: Path, work: Path) -> Floor:
    """The floor for the data root ``root`` whose full index is the folder ``built``."""
    rows, insert_s = 0, 0.0
    with opened(root, work) as indexer:
        databases: list[Database] = [indexer.catalog]
        copied, seconds = _copy(built / CATALOG, indexer.catalog)
        rows, insert_s = rows + copied, insert_s + seconds
        for path in sorted(built.glob("*.db")):
            if path.name == CATALOG or path.name.startswith("sidecar."):
                continue
            db = indexer.stores.database_for(path.stem)
            if db is None:
                continue
            copied, seconds = _copy(path, db)
            rows, insert_s = rows + copied, insert_s + seconds
            databases.append(db)
        started = time.perf_counter()
        rebuild(databases)
        fts_s = time.perf_counter() - started
    # Each distinct line once, as the line store keeps it (branches share most of theirs).
    lines = list(dict.fromkeys(line for chat in sorted(root.rglob("*.jsonl"))
                               for line in chat.read_bytes().splitlines()))  # fmt: skip
    started = time.perf_counter()
    for start in range(0, len(lines), BATCH):
        pack_codec.encode_all(lines[start : start + BATCH])
    deflate_s = time.perf_counter() - started
    return Floor(rows, insert_s, fts_s, deflate_s, sum(map(len, lines)) / 1e6)
