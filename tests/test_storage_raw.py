"""The kept-open ``sqlite3`` connections of a database (``Database.read_raw``/``write_raw``/
``read_one``), and when a write asked not to block (``block=False``, the event loop) declines.
Real SQLite files in ``tmp_path``."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.storage.connections import CHECKPOINT_EVERY, WouldBlock
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.registry import ExtensionRegistry
from sidecar.storage.sqlite import SqliteOptions
from sidecar.tracker import data, entities
from sidecar.tracker.data import LOOP_WRITE_CHARS


def open_fds(path: Path) -> int:
    """How many of this process's file descriptors point at ``path`` (or its -wal/-shm)."""
    names = {str(path), f"{path}-wal", f"{path}-shm"}
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") in names
        except OSError:
            continue
    return count


def make_db(tmp_path: Path, synchronous: str = "normal") -> ExtensionDatabase:
    db = ExtensionDatabase("ext", tmp_path / "ext.db", SqliteOptions(synchronous))
    entities.save_character(db, "c", None)
    entities.save_instance(db, "i", "c", None)
    return db


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ExtensionDatabase]:
    database = make_db(tmp_path)
    yield database
    database.close()


def stored(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return dict(conn.execute("SELECT key, value FROM instance_data ORDER BY rowid"))


def test_every_answered_write_is_seen_by_the_next_read(db: ExtensionDatabase) -> None:
    for n in range(60):
        data.set_one(db, "i", "k", n, block=n % 2 == 0)
        assert bytes(data.get_one(db, "i", "k")) == b"%d" % n  # read_one on a pooled connection
        assert bytes(data.get_all(db, "i")["k"]) == b"%d" % n  # read_raw's snapshot
        assert bytes(entities.full_instance(db, "i").data["k"]) == b"%d" % n


def _fails_halfway(db: ExtensionDatabase, block: bool) -> None:
    with db.write_raw(block=block) as conn:
        conn.execute(data.UPSERT, ("i", "first", "1", "t", "t"))
        conn.execute(data.UPSERT, ("no-such-instance", "k", "1", "t", "t"))  # foreign key


def test_a_failed_write_leaves_nothing_and_the_next_one_works(db: ExtensionDatabase) -> None:
    for block in (True, False):
        with pytest.raises(sqlite3.IntegrityError):
            _fails_halfway(db, block)
    data.set_one(db, "i", "kept", True, block=False)
    assert stored(db.path) == {"kept": "true"}


def test_a_non_blocking_write_declines_while_another_write_runs(db: ExtensionDatabase) -> None:
    holding, release = threading.Event(), threading.Event()

    def indexer() -> None:  # a long write transaction, as the indexer holds them
        with db.write():
            holding.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=indexer)
    thread.start()
    try:
        assert holding.wait(timeout=30)
        with pytest.raises(WouldBlock):
            data.set_one(db, "i", "k", 1, block=False)
    finally:
        release.set()
        thread.join(timeout=30)
    assert stored(db.path) == {}
    data.set_one(db, "i", "k", 2, block=False)
    assert stored(db.path) == {"k": "2"}


def test_a_non_blocking_write_declines_while_another_process_holds_the_lock(
    db: ExtensionDatabase,
) -> None:
    other = sqlite3.connect(db.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # SQLite's write lock, as another process would hold it
    done = threading.Event()
    try:
        with pytest.raises(WouldBlock):
            data.set_one(db, "i", "k", 1, block=False)

        def blocking_write() -> None:
            data.set_one(db, "i", "k", 2)
            done.set()

        waiting = threading.Thread(target=blocking_write)
        waiting.start()  # a blocking write waits for the lock (busy_timeout)...
        assert not done.is_set()
    finally:
        other.execute("COMMIT")
        other.close()
    waiting.join(timeout=30)
    assert done.is_set()  # ...and goes through once it is free
    assert stored(db.path) == {"k": "2"}


def test_with_synchronous_full_every_write_goes_to_a_thread(tmp_path: Path) -> None:
    db = make_db(tmp_path, "full")  # each commit fsyncs: never on the event loop
    try:
        with pytest.raises(WouldBlock):
            data.set_one(db, "i", "k", 1, block=False)
        data.set_one(db, "i", "k", 1)
        assert stored(db.path) == {"k": "1"}
    finally:
        db.close()


def test_every_nth_loop_write_goes_to_a_thread_where_the_wal_may_checkpoint(
    db: ExtensionDatabase,
) -> None:
    declined = []
    for n in range(2 * CHECKPOINT_EVERY + 2):
        try:
            data.set_one(db, "i", f"k{n}", n, block=False)
        except WouldBlock:
            declined.append(n)
            data.set_one(db, "i", f"k{n}", n)  # what run_write does: again, in a thread
    assert declined == [CHECKPOINT_EVERY, 2 * CHECKPOINT_EVERY + 1]
    assert len(stored(db.path)) == 2 * CHECKPOINT_EVERY + 2


def test_large_writes_and_deep_merges_go_to_a_thread(db: ExtensionDatabase) -> None:
    big = "x" * LOOP_WRITE_CHARS
    with pytest.raises(WouldBlock):
        data.set_one(db, "i", "big", big, block=False)
    with pytest.raises(WouldBlock):
        data.override(db, "i", {"a": big}, block=False)
    with pytest.raises(WouldBlock):
        data.merge(db, "i", {"a": {"b": 1}}, deep=True, block=False)
    assert stored(db.path) == {}
    data.merge(db, "i", {"a": {"b": 1}}, deep=False, block=False)
    data.merge(db, "i", {"a": {"c": 2}}, deep=True)
    assert stored(db.path) == {"a": '{"b":1,"c":2}'}


def test_close_leaves_no_connection_open_and_late_requests_still_work(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    data.set_one(db, "i", "k", 1, block=False)
    assert bytes(data.get_one(db, "i", "k")) == b"1"
    assert open_fds(db.path) > 0
    db.close()
    assert open_fds(db.path) == 0
    # A request that got the database just before a deregistration closed it still completes,
    # on connections opened and closed for it.
    data.set_one(db, "i", "k", 2)
    assert bytes(data.get_one(db, "i", "k")) == b"2"
    assert open_fds(db.path) == 0


def test_reregistering_and_moving_a_database_use_the_right_files(tmp_path: Path) -> None:
    registry = ExtensionRegistry(tmp_path, SqliteOptions())
    registry.open()
    try:
        for ext in ("one", "two"):  # two extensions with the same ids, each its own values
            registry.register(ext)
            entities.save_character(registry.get(ext), "c", ext)
            entities.save_instance(registry.get(ext), "i", "c", None)
            data.set_one(registry.get(ext), "i", "k", ext, block=False)
        assert [bytes(data.get_one(registry.get(e), "i", "k")) for e in ("one", "two")] == [
            b'"one"',
            b'"two"',
        ]
        registry.deregister("one")
        assert open_fds(tmp_path / "one.db") == 0
        registry.register("one")
        assert bytes(data.get_one(registry.get("one"), "i", "k")) == b'"one"'
        registry.register("one", "moved.db")  # a dbPath change: an empty new file
        assert open_fds(tmp_path / "one.db") == 0
        assert entities.list_characters(registry.get("one")) == []
        entities.save_character(registry.get("one"), "c", "moved")
        entities.save_instance(registry.get("one"), "i", "c", None)
        data.set_one(registry.get("one"), "i", "k", "moved", block=False)
        assert bytes(data.get_one(registry.get("one"), "i", "k")) == b'"moved"'
        assert bytes(data.get_one(registry.get("two"), "i", "k")) == b'"two"'
    finally:
        registry.close()
    assert stored(tmp_path / "one.db") == {"k": '"one"'}
    assert stored(tmp_path / "moved.db") == {"k": '"moved"'}
    assert stored(tmp_path / "two.db") == {"k": '"two"'}
