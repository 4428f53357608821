"""``sidecar gc`` under faults: it refuses while the lock is held, and a failed commit of new pack
offsets leaves every version rebuildable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidecar.recovery import gc as gc_module
from sidecar.recovery.gc import GcError, collect
from sidecar.storage.lock import DatabaseLocked, hold_lock
from sidecar.storage.sqlite import executemany
from tests.gc_chat import Chat, assert_rebuilds, chat_versions, gc_collect
from tests.index_harness import Harness


def test_gc_refuses_while_the_lock_is_held(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    h = Harness(root, db_dir)
    chat = Chat(h)
    chat.save()
    chat.save_many(3)
    with hold_lock(db_dir):
        with pytest.raises(GcError, match="sidecar is running; stop it first"):
            collect(h.catalog, db_dir / "lines", None, 1)
        with pytest.raises(DatabaseLocked), hold_lock(db_dir):
            pass  # pragma: no cover
    assert len(chat_versions(h, chat.chat_id)) == 4
    report = gc_collect(h, None, 1)  # released: gc runs
    assert report.versions_removed == 3


def test_failed_commit_of_new_offsets_leaves_everything_rebuildable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    h = Harness(root, db_dir)
    chat = Chat(h)
    chat.save()
    chat.save_many(10)
    real_executemany = executemany

    def failing(conn: Any, sql: str, rows: Any) -> int:
        if sql.startswith("UPDATE lines"):
            raise OSError("simulated crash before the commit")
        return real_executemany(conn, sql, rows)

    monkeypatch.setattr("sidecar.recovery.gc.executemany", failing)
    with pytest.raises(OSError, match="simulated"):
        gc_collect(h, None, 3)
    h = Harness(root, db_dir)
    assert chat_versions(h, chat.chat_id) == [9, 10, 11]  # the version commit happened
    assert_rebuilds(h, chat, [9, 10, 11])  # old packs still hold every line
    # The old packs are not deleted when the catalog cannot be checkpointed either.
    monkeypatch.setattr("sidecar.recovery.gc.executemany", real_executemany)
    monkeypatch.setattr(gc_module, "_checkpoint", lambda _path: False)
    report = gc_collect(h, None, 3)
    assert report.packs_removed == 0
    assert report.lines_moved > 0
    h = Harness(root, db_dir)
    assert_rebuilds(h, chat, [9, 10, 11])
    monkeypatch.undo()
    report = gc_collect(h, None, 3)  # the next gc removes the leftovers
    assert report.packs_removed >= 1
    assert report.bytes_freed > 0
    h = chat.h = Harness(root, db_dir)
    assert_rebuilds(h, chat, [9, 10, 11])
    chat.save_many(2)
    assert_rebuilds(h, chat, chat_versions(h, chat.chat_id))
    h.close()
