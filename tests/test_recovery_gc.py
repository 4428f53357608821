"""``sidecar gc``: version retention, line garbage collection, pack compaction, the lock, and
``sidecar status``; with the real indexer on real files."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar.daemon.wiring import open_catalog
from sidecar.indexer.rebuild import rebuild_version, version_hashes
from sidecar.indexer.versions import FULL_EVERY
from sidecar.recovery import gc as gc_module
from sidecar.recovery.disk_usage import disk_usage
from sidecar.recovery.gc import GcError, GcReport, collect
from sidecar.storage.lock import DatabaseLocked, hold_lock
from sidecar.storage.sqlite import executemany
from tests.index_harness import Harness
from tests.st_files import SOLO, encode, header, message, st_save

CHAT = f"{SOLO}/long.jsonl"


def _pack_bytes(db_dir: Path) -> int:
    return sum(p.stat().st_size for p in (db_dir / "lines").glob("pack-*.bin"))


def _packs(db_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((db_dir / "lines").glob("pack-*.bin"))}


class Chat:
    """A chat saved again and again with edits, inserts and deletes; remembers every version."""

    def __init__(self, h: Harness, rel: str = CHAT, seed: int = 7) -> None:
        self.h = h
        self.path = h.root / rel
        self.rel = rel
        self.rng = random.Random(seed)
        self.counter = 0
        self.messages: list[dict[str, Any]] = [message(self._text()) for _ in range(5)]
        self.saved: dict[int, bytes] = {}

    def _text(self) -> str:
        self.counter += 1
        return f"message {self.counter} " + "lorem ipsum " * self.rng.randint(1, 20)

    def mutate(self) -> None:
        kind = self.rng.choice(["edit", "edit", "insert", "append", "delete"])
        if kind == "delete" and len(self.messages) > 3:
            del self.messages[self.rng.randrange(len(self.messages))]
        elif kind == "insert":
            self.messages.insert(self.rng.randrange(len(self.messages)), message(self._text()))
        elif kind == "append":
            self.messages.append(message(self._text(), is_user=True, name="User"))
        else:
            self.messages[self.rng.randrange(len(self.messages))] = message(self._text())

    def save(self) -> int:
        data = encode([header(note=f"save {self.counter}"), *self.messages])
        st_save(self.path, data)
        self.h.index(self.path)
        version = int(self.h.catalog_rows("SELECT version FROM chats WHERE rel_path = ?",
                                          self.rel)[0][0])  # fmt: skip
        self.saved[version] = data
        return version

    def save_many(self, count: int) -> None:
        for _ in range(count):
            self.mutate()
            self.save()

    @property
    def chat_id(self) -> str:
        return self.h.chat_id(self.rel)


def _versions(h: Harness, chat_id: str) -> list[int]:
    rows = h.catalog_rows("SELECT version FROM versions WHERE chat_id = ? ORDER BY 1", chat_id)
    return [row[0] for row in rows]


def _assert_rebuilds(h: Harness, chat: Chat, versions: list[int]) -> None:
    with h.catalog.read() as conn:
        for version in versions:
            assert (
                rebuild_version(conn, h.line_store, chat.chat_id, version) == chat.saved[version]
            ), version


def _collect(h: Harness, keep_days: float | None, keep_count: int | None) -> GcReport:
    """Close the harness, gc with a freshly opened catalog, like ``sidecar gc`` would."""
    h.close()
    catalog = open_catalog(h.settings)
    try:
        return collect(catalog, h.db_dir / "lines", keep_days, keep_count)
    finally:
        catalog.close()


def test_keep_count_keeps_the_newest_versions_and_compacts_the_line_store(
    tmp_path: Path,
) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    h = Harness(root, db_dir)
    chat = Chat(h)
    chat.save()
    chat.save_many(FULL_EVERY + 6)
    chat_id = chat.chat_id
    last = max(chat.saved)
    assert last > FULL_EVERY + 1  # the chain crosses a full list
    kept = list(range(last - 9, last + 1))
    with h.catalog.read() as conn:
        old = {d for v in range(1, last - 9) for d in version_hashes(conn, chat_id, v)}
        new = {d for v in kept for d in version_hashes(conn, chat_id, v)}
        bases: dict[int, int | None] = dict(
            conn.exec_driver_sql(
                "SELECT version, base_version FROM versions WHERE chat_id = ?", (chat_id,)
            ).all()
        )
    only_old = old - new
    assert only_old
    assert any((bases[v] or kept[0]) < kept[0] for v in kept)  # a delta chain is cut
    lines_before = h.catalog_rows("SELECT count(*) FROM lines")[0][0]
    bytes_before = _pack_bytes(db_dir)

    report = _collect(h, None, 10)

    assert report.versions_removed == last - 10
    assert report.versions_rewritten >= 1
    assert report.lines_removed == len(only_old)
    assert report.store_bytes_before == bytes_before
    assert report.store_bytes_after == _pack_bytes(db_dir) < bytes_before
    assert report.bytes_freed > 0
    h = chat.h = Harness(root, db_dir)
    assert _versions(h, chat_id) == kept
    assert h.catalog_rows("SELECT count(*) FROM lines")[0][0] == lines_before - len(only_old)
    stored = {row[0] for row in h.catalog_rows("SELECT hash FROM lines")}
    assert not stored & only_old
    assert new <= stored
    assert h.catalog_rows(
        "SELECT count(*) FROM versions WHERE chat_id = ? AND base_version < ?", chat_id, kept[0]
    ) == [(0,)]
    _assert_rebuilds(h, chat, kept)

    # Indexing goes on after gc: new versions, new lines appended to the compacted store.
    chat.save_many(5)
    assert _versions(h, chat_id) == [*kept, *range(last + 1, last + 6)]
    _assert_rebuilds(h, chat, _versions(h, chat_id))

    # A second gc with the same retention removes the versions that fell out since.
    report = _collect(h, None, 10)
    assert report.versions_removed == 5
    h = Harness(root, db_dir)
    assert _versions(h, chat_id) == list(range(last - 4, last + 6))
    _assert_rebuilds(h, chat, _versions(h, chat_id))
    h.close()


def test_keep_days_by_seen_at_and_either_limit_keeps(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    h = Harness(root, db_dir)
    chat = Chat(h)
    chat.save()
    chat.save_many(7)
    other = Chat(h, f"{SOLO}/other.jsonl", seed=3)
    other.save()
    other.save_many(2)
    chat_id, other_id = chat.chat_id, other.chat_id
    h.close()
    h2 = Harness(root, db_dir)
    with h2.catalog.write() as conn:
        conn.exec_driver_sql(
            "UPDATE versions SET seen_at = '2020-01-01T00:00:00.000Z' "
            "WHERE (chat_id = ? AND version <= 5) OR chat_id = ?",
            (chat_id, other_id),
        )
    report = _collect(h2, 3, None)
    assert report.versions_removed == 5 + 2
    h = Harness(root, db_dir)
    assert _versions(h, chat_id) == [6, 7, 8]
    assert _versions(h, other_id) == [3]  # all old, but the current version stays
    _assert_rebuilds(h, chat, [6, 7, 8])
    _assert_rebuilds(h, other, [3])
    h.close()

    # keep_days and keep_count together: a version inside either limit is kept.
    h = chat.h = Harness(root, db_dir)
    chat.save_many(2)  # versions 9, 10 (seen now)
    with h.catalog.write() as conn:
        conn.exec_driver_sql(
            "UPDATE versions SET seen_at = '2020-01-01T00:00:00.000Z' "
            "WHERE chat_id = ? AND version <= 7",
            (chat_id,),
        )
    report = _collect(h, 3, 4)
    h = Harness(root, db_dir)
    assert _versions(h, chat_id) == [7, 8, 9, 10]
    _assert_rebuilds(h, chat, [7, 8, 9, 10])
    h.close()


def test_default_retention_removes_nothing(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    h = Harness(root, db_dir)
    chat = Chat(h)
    chat.save()
    chat.save_many(12)
    versions_before = _versions(h, chat.chat_id)
    lines_before = h.catalog_rows("SELECT hash, pack, offset, length FROM lines ORDER BY 1")
    packs_before = _packs(db_dir)
    report = _collect(h, None, None)
    assert (report.versions_removed, report.lines_removed, report.bytes_freed) == (0, 0, 0)
    h = Harness(root, db_dir)
    assert _versions(h, chat.chat_id) == versions_before
    assert h.catalog_rows("SELECT hash, pack, offset, length FROM lines ORDER BY 1") == (
        lines_before
    )
    assert _packs(db_dir) == packs_before
    _assert_rebuilds(h, chat, versions_before)
    h.close()


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
    assert len(_versions(h, chat.chat_id)) == 4
    report = _collect(h, None, 1)  # released: gc runs
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
        _collect(h, None, 3)
    h = Harness(root, db_dir)
    assert _versions(h, chat.chat_id) == [9, 10, 11]  # the version commit happened
    _assert_rebuilds(h, chat, [9, 10, 11])  # old packs still hold every line
    # The old packs are not deleted when the catalog cannot be checkpointed either.
    monkeypatch.setattr("sidecar.recovery.gc.executemany", real_executemany)
    monkeypatch.setattr(gc_module, "_checkpoint", lambda _path: False)
    report = _collect(h, None, 3)
    assert report.packs_removed == 0
    assert report.lines_moved > 0
    h = Harness(root, db_dir)
    _assert_rebuilds(h, chat, [9, 10, 11])
    monkeypatch.undo()
    report = _collect(h, None, 3)  # the next gc removes the leftovers
    assert report.packs_removed >= 1
    assert report.bytes_freed > 0
    h = chat.h = Harness(root, db_dir)
    _assert_rebuilds(h, chat, [9, 10, 11])
    chat.save_many(2)
    _assert_rebuilds(h, chat, _versions(h, chat.chat_id))
    h.close()


def test_disk_usage(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    h = Harness(root, db_dir)
    chat = Chat(h)
    chat.save()  # the header's chat_metadata "note" goes to note.db
    h.close()
    usage = disk_usage(db_dir)
    assert usage["catalog"] > 0
    assert usage["line_store"] == _pack_bytes(db_dir) > 0
    assert usage["registry"] > 0
    assert usage["extensions"]["note"] > 0
    assert usage["total"] == (
        usage["catalog"] + usage["line_store"] + usage["registry"] + usage["extensions"]["note"]
    )
    assert disk_usage(tmp_path / "nothing")["total"] == 0


def _sidecar(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_gc_and_status_commands(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"database_dir": str(db_dir)},
                "sillytavern": {"data_root": str(root)},
                "index": {"versions_keep_count": 2},
                "log": {"level": "warning"},
            }
        )
    )
    path = root / CHAT
    for n in range(4):
        st_save(path, [header(), *(message(f"message {i} of save {n}") for i in range(3))])
        indexed = _sidecar("index", "--config", str(config))
        assert indexed.returncode == 0, indexed.stderr

    status = _sidecar("status", "--config", str(config))
    assert status.returncode == 0, status.stderr
    assert "chats: 1 (0 missing)" in status.stdout
    assert "messages: 3" in status.stdout
    assert "versions: 4" in status.stdout
    assert "problems: 0" in status.stdout
    assert "line store:" in status.stdout

    with hold_lock(db_dir):
        # status is read-only: it works while another process holds the lock
        assert _sidecar("status", "--config", str(config)).returncode == 0
        refused = _sidecar("gc", "--config", str(config))
        assert refused.returncode != 0
        assert "sidecar is running; stop it first" in refused.stderr

    collected = _sidecar("gc", "--config", str(config))
    assert collected.returncode == 0, collected.stderr
    assert "keeping the newest 2 versions of each chat" in collected.stdout
    assert "versions removed: 2" in collected.stdout
    assert "lines removed: 6" in collected.stdout
    assert "freed" in collected.stdout

    status = _sidecar("status", "--config", str(config))
    assert "versions: 2" in status.stdout
    empty = _sidecar("status", "--db-dir", str(tmp_path / "empty"))
    assert empty.returncode == 0, empty.stderr
    assert "catalog: none yet" in empty.stdout
