"""The versions part of ``benchmarks/index.py``: one heavy chat saved many times.

Saves the heavy chat ``saves`` times SillyTavern's way, one message changed each time, indexing
after each save, then prints: the extra storage all those versions took (target: under 2x the
chat's size plus the bytes of the changed lines), the time to rebuild a version byte for byte
(target: at most 2x the time to read the file from disk), and the time to list versions.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import chatgen

from sidecar.indexer.indexer import ChatIndexer
from sidecar.indexer.rebuild import rebuild_version
from sidecar.sillytavern.discovery import locate_chat
from sidecar.storage.catalog_tables import versions

MB = 1e6
Target = tuple[str, bool, str]


def _footprint(db_dir: Path) -> int:
    """Bytes of everything sidecar stores (databases and line packs), after folding each
    database's write-ahead log back in: a WAL's size is transient, not storage."""
    for path in db_dir.glob("*.db"):
        with sqlite3.connect(path) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in db_dir.rglob("*") if p.is_file())


def _evict(paths: list[Path]) -> None:
    """Drop files from the page cache, so the next read comes from the disk."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _cold_ms(call: Callable[[], object], files: list[Path], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        _evict(files)
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def _best_ms(call: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def run_versions(indexer: ChatIndexer, chat: Path, db_dir: Path, saves: int) -> list[Target]:
    location = locate_chat(indexer.root, chat)
    assert location is not None
    indexer.index_location(location)
    size = chat.stat().st_size
    before = _footprint(db_dir)
    changed = 0
    kept: dict[int, bytes] = {1: chat.read_bytes()}  # version number -> the file as saved
    spread = max(1, chat.read_bytes().count(b"\n") // 2)  # edit messages of the first half
    started = time.perf_counter()
    for save in range(saves):
        edited = chatgen.edit_message_extra(chat, (save * 37) % spread, f"save {save}")
        changed += len(chat.read_bytes().split(b"\n")[edited + 1])
        indexer.index_location(location)
        version = save + 2
        if version in (saves // 2, saves + 1):
            kept[version] = chat.read_bytes()
    elapsed = time.perf_counter() - started
    extra = _footprint(db_dir) - before
    budget = 2 * size + changed
    print(f"{saves} saves of a {size / MB:.1f} MB chat, one message each, in {elapsed:.0f} s")
    print(f"extra storage: {extra / MB:.1f} MB (budget 2 x {size / MB:.1f} MB + "
          f"{changed / MB:.1f} MB of changed lines = {budget / MB:.1f} MB)")  # fmt: skip
    chat_id = indexer.index_location(location).chat_id
    assert chat_id is not None
    read_ms = _best_ms(chat.read_bytes)
    stored = [p for p in db_dir.rglob("*") if p.is_file()]
    cold_read_ms = _cold_ms(chat.read_bytes, [chat])
    ratios, cold_ratios = [], []
    with indexer.catalog.read() as conn:
        for number, expected in sorted(kept.items()):
            assert rebuild_version(conn, indexer.stores.lines, chat_id, number) == expected
            rebuild = partial(rebuild_version, conn, indexer.stores.lines, chat_id, number)
            ms, cold_ms = _best_ms(rebuild), _cold_ms(rebuild, stored)
            ratios.append(ms / read_ms)
            cold_ratios.append(cold_ms / cold_read_ms)
            print(f"rebuild version {number}: {ms:.1f} ms cached / {cold_ms:.1f} ms from disk; "
                  f"reading the file: {read_ms:.1f} ms cached / {cold_read_ms:.1f} ms from disk; "
                  f"byte-identical")  # fmt: skip
        list_ms = _best_ms(
            lambda: conn.execute(
                versions.select()
                .where(versions.c.chat_id == chat_id)
                .order_by(versions.c.version.desc())
                .limit(100)
            ).all()
        )
    print(f"list the newest 100 of {saves + 1} versions: {list_ms:.1f} ms")
    worst, cold_worst = max(ratios), max(cold_ratios)
    return [
        ("versions: extra storage < 2x chat + changed lines", extra < budget,
         f"{extra / MB:.1f} MB < {budget / MB:.1f} MB"),
        ("versions: rebuild <= 2x reading the file (from disk)", cold_worst <= 2,
         f"worst {cold_worst:.1f}x (median {statistics.median(cold_ratios):.1f}x)"),
        ("versions: rebuild <= 2x reading the file (both cached)", worst <= 2,
         f"worst {worst:.1f}x (median {statistics.median(ratios):.1f}x)"),
    ]  # fmt: skip
