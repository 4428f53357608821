"""A first full index is a bulk load (full-text triggers dropped, indexes rebuilt once at the
end, ``sidecar.indexer.bulk``): it must end exactly where indexing chat by chat with the
triggers ends, stay incremental afterwards, and heal when killed in the middle."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from sidecar.indexer import indexer as indexer_module
from sidecar.indexer import update
from sidecar.indexer.update_catalog import CatalogSide
from sidecar.sillytavern.chatfile import ChatFile
from sidecar.storage.fts_bulk import TRIGGERS
from sidecar.storage.registry import CATALOG_FILE
from sidecar.storage.segment import segment
from tests.dbdump import differences, dump_folder
from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save, swiped

QUERIES = ("dragon", "北京", "長城", "タワー", "학교", "cafe", "2025", "sword", "castle", "rain")
CHATS = 5


def chat(k: int, *, edited: bool = False) -> list[Any]:
    first = "the dragon sleeps by the castle" if not edited else "the rain falls on the castle"
    return [
        header(tracker={"scene": f"北京 scene {k}"}),
        message(f"{first} {k}", name="User", is_user=True),
        message(f"我们明天去北京看長城吧 {k}", extra={"tracker": {"place": "東京タワー", "hp": k}}),
        swiped(["학교에서 sword", "Café 2025"], 1,
               [{"notes": {"mood": "calm sword"}}, {"notes": {"mood": "café rain"}}]),
        message(f"plain message {k}", extra={"tracker": {"hp": k + 1, "item": "sword"}}),
    ]  # fmt: skip


def write_root(root: Path, count: int = CHATS) -> list[Path]:
    paths = [root / SOLO / f"chat{k}.jsonl" for k in range(count)]
    for k, path in enumerate(paths):
        st_save(path, chat(k))
    return paths


def triggers(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    return {name for (name,) in rows} & set(TRIGGERS)


def found(h: Harness) -> dict[str, Any]:
    """What each query finds: messages as (path, position), values as (path, position, key)."""
    where = {uid: (path, pos) for uid, path, pos in h.catalog_rows(
        "SELECT msg_uid, rel_path, position FROM messages JOIN chats USING (chat_id)")}  # fmt: skip
    out: dict[str, Any] = {}
    for q in QUERIES:
        phrase = '"' + (segment(q) or q) + '"'
        rows = h.catalog_rows(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", f"text : {phrase}"
        )
        out[q] = sorted(where[uid] for (uid,) in rows)
        for ext in ("tracker", "notes"):
            if not (h.db_dir / f"{ext}.db").exists():
                continue
            hits = h.query(
                f"{ext}.db",
                "SELECT msg_uid, key FROM message_data WHERE rowid IN "
                "(SELECT rowid FROM data_fts WHERE data_fts MATCH ?)",
                phrase,
            )
            out[f"{q}/{ext}"] = sorted((*where[uid], key) for uid, key in hits)
    return out


def index_one_by_one(tmp_path: Path, name: str) -> Harness:
    """The per-row path: every chat indexed alone, full-text triggers in place."""
    h = Harness(tmp_path / "st", tmp_path / name)
    for path in sorted((tmp_path / "st" / SOLO).glob("*.jsonl")):
        h.index(path)
    return h


def same_state(a: Harness, b: Harness) -> None:
    dump_a, dump_b = dump_folder(a.db_dir), dump_folder(b.db_dir)
    assert dump_a["faults"] == []
    assert dump_b["faults"] == []
    assert differences(dump_a["current"], dump_b["current"]) == []
    assert found(a) == found(b)


def test_bulk_full_index_equals_the_per_row_path(tmp_path: Path) -> None:
    write_root(tmp_path / "st")
    bulk = Harness(tmp_path / "st", tmp_path / "bulk")
    summary = bulk.scan()
    assert summary.statuses == {"new": CHATS}
    for db in (CATALOG_FILE, "tracker.db", "notes.db"):  # triggers are back after the load
        assert len(triggers(bulk.db_dir / db)) == 3, db
    rows = index_one_by_one(tmp_path, "rows")
    same_state(bulk, rows)
    hits = found(bulk)
    for query in ("北京", "タワー/tracker", "cafe/notes", "sword/tracker", "sword/notes"):
        assert hits[query], query
    bulk.close()
    rows.close()


def test_incremental_edits_after_a_bulk_index(tmp_path: Path) -> None:
    paths = write_root(tmp_path / "st")
    bulk = Harness(tmp_path / "st", tmp_path / "bulk")
    bulk.scan()
    rows = index_one_by_one(tmp_path, "rows")
    st_save(paths[2], chat(2, edited=True))
    for h in (bulk, rows):
        result = h.index(paths[2])
        assert (result.status, result.edited_messages) == ("updated", 1)
    assert (f"{SOLO}/chat2.jsonl", 0) not in found(bulk)["dragon"]
    assert (f"{SOLO}/chat2.jsonl", 0) in found(bulk)["rain"]
    same_state(bulk, rows)
    # A second full pass over a catalog that has messages is no bulk load: triggers stay.
    assert bulk.scan().statuses == {"unchanged": CHATS}
    assert len(triggers(bulk.db_dir / CATALOG_FILE)) == 3
    bulk.close()
    rows.close()


KILLER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from sidecar.indexer import bulk
    from sidecar.indexer.scan import full_scan
    from tests.index_harness import Harness

    h = Harness(Path(sys.argv[1]), Path(sys.argv[2]))
    done = []
    if sys.argv[3] == "rebuild":  # killed while the indexes are rebuilt at the end
        bulk.rebuild = lambda databases: os._exit(9)

    def progress(location, result):
        done.append(location)
        if sys.argv[3] != "rebuild" and len(done) == int(sys.argv[3]):
            os._exit(9)  # killed in the middle of the load: no cleanup runs

    full_scan(h.indexer, progress=progress)
""")


def suspended(db_dir: Path) -> list[str]:
    with sqlite3.connect(db_dir / CATALOG_FILE) as conn:
        rows = conn.execute("SELECT value FROM catalog_meta WHERE name = 'fts_suspended'")
        found = rows.fetchall()
    return sorted(json.loads(found[0][0])) if found else []


def killed_index(tmp_path: Path, db_dir: Path, when: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run(
        [sys.executable, "-c", KILLER, str(tmp_path / "st"), str(db_dir), when],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 9, done.stderr


def test_a_bulk_index_killed_while_rebuilding_heals_databases_the_next_run_never_writes(
    tmp_path: Path,
) -> None:
    """Killed at the very end: every chat is committed, so the next pass has nothing to write in
    the extension databases; it still rebuilds their indexes (listed in the catalog)."""
    write_root(tmp_path / "st")
    db_dir = tmp_path / "killed"
    killed_index(tmp_path, db_dir, "rebuild")
    assert triggers(db_dir / "notes.db") == set()
    assert suspended(db_dir) == ["notes", "tracker"]
    healed = Harness(tmp_path / "st", db_dir)
    assert healed.scan().statuses == {"unchanged": CHATS}
    assert suspended(db_dir) == []
    for db in (CATALOG_FILE, "tracker.db", "notes.db"):
        assert len(triggers(db_dir / db)) == 3, db
    rows = index_one_by_one(tmp_path, "rows")
    same_state(healed, rows)
    healed.close()
    rows.close()


def test_a_bulk_index_killed_midway_heals_on_the_next_run(tmp_path: Path) -> None:
    write_root(tmp_path / "st")
    db_dir = tmp_path / "killed"
    killed_index(tmp_path, db_dir, "3")
    assert triggers(db_dir / CATALOG_FILE) == set()  # the load was cut short without its indexes
    assert triggers(db_dir / "tracker.db") == set()
    assert suspended(db_dir) == ["notes", "tracker"]
    healed = Harness(tmp_path / "st", db_dir)  # opening rebuilds the indexes
    assert len(triggers(db_dir / CATALOG_FILE)) == 3
    indexed = {path for path, _ in found(healed)["dragon"]}
    assert len(indexed) == 3  # the three chats indexed before the kill are searchable
    healed.scan()  # the next pass (no bulk load: the catalog has messages) finishes the rest
    assert suspended(db_dir) == []
    rows = index_one_by_one(tmp_path, "rows")
    same_state(healed, rows)
    healed.close()
    rows.close()


def long_chat(k: int, count: int = 14) -> list[Any]:
    return [header()] + [
        message(f"line {i} of chat {k} 北京{i}", extra={"tracker": {"hp": i, "note": f"n{i}"}})
        for i in range(count)
    ]


def test_batches_written_on_the_helper_thread_equal_one_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chat longer than a batch is written batch by batch on a helper thread while the walk
    parses on (``sidecar.indexer.batches``): the result is what one synchronous batch writes."""
    paths = [tmp_path / "st" / SOLO / f"long{k}.jsonl" for k in range(3)]
    for k, path in enumerate(paths):
        st_save(path, long_chat(k))
    monkeypatch.setattr(update, "BATCH", 3)
    small = Harness(tmp_path / "st", tmp_path / "small")
    small.scan()
    monkeypatch.setattr(update, "BATCH", 10**6)
    whole = index_one_by_one(tmp_path, "whole")
    same_state(small, whole)
    edited = long_chat(1)
    del edited[4]
    edited[9]["extra"]["tracker"]["hp"] = "changed"
    st_save(paths[1], edited)
    monkeypatch.setattr(update, "BATCH", 3)
    assert small.index(paths[1]).status == "updated"
    monkeypatch.setattr(update, "BATCH", 10**6)
    whole.index(paths[1])
    same_state(small, whole)
    small.close()
    whole.close()


class Boom(Exception):
    pass


@pytest.mark.parametrize("failing_call", [2, 4])  # 4: the last batch of the helper thread
def test_a_batch_failing_on_the_helper_thread_rolls_the_update_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    path = tmp_path / "st" / SOLO / "long.jsonl"
    st_save(path, long_chat(0))
    monkeypatch.setattr(update, "BATCH", 3)
    original = CatalogSide.write_messages
    calls = {"n": 0}

    def failing(self: CatalogSide, conn: Any, batch: Any) -> int:
        calls["n"] += 1
        if calls["n"] == failing_call:
            assert threading.current_thread() is not threading.main_thread()
            raise Boom
        return original(self, conn, batch)

    monkeypatch.setattr(CatalogSide, "write_messages", failing)
    h = Harness(tmp_path / "st", tmp_path / "db")
    with pytest.raises(Boom):
        h.index(path)
    assert threading.current_thread() is threading.main_thread()
    assert h.catalog_rows("SELECT count(*) FROM messages") == [(0,)]
    assert h.query("tracker.db", "SELECT count(*) FROM message_data") == [(0,)]
    assert h.catalog_rows("SELECT sync FROM chats") == [("pending",)]
    monkeypatch.setattr(CatalogSide, "write_messages", original)
    assert h.index(path).status == "updated"  # the interrupted update is finished
    monkeypatch.setattr(update, "BATCH", 10**6)
    clean = index_one_by_one(tmp_path, "clean")
    same_state(h, clean)
    h.close()
    clean.close()


def test_a_line_changed_in_place_is_caught_on_the_helper_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines read during the walk are checked against the scan on the helper thread: a file
    rewritten in place after the scan (same size, time put back, as ``rsync --inplace --times``
    does) is read again, and what is indexed is the new content."""
    path = tmp_path / "st" / SOLO / "long.jsonl"
    st_save(path, long_chat(0))
    same_size = path.read_bytes().replace(b"line 10 of chat", b"LINE 10 of chat")
    rewrites = {"left": 1}

    class RewrittenAfterScan(ChatFile):
        def scan(self) -> Any:
            found = super().scan()
            if rewrites["left"]:
                rewrites["left"] -= 1
                info = path.stat()
                with open(path, "r+b") as handle:
                    handle.write(same_size)
                os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
            return found

    monkeypatch.setattr(indexer_module, "ChatFile", RewrittenAfterScan)
    monkeypatch.setattr(update, "BATCH", 3)
    h = Harness(tmp_path / "st", tmp_path / "db")
    assert h.index(path).status == "updated"  # read again: the first read's chat row is pending
    assert rewrites["left"] == 0
    texts = [text for (text,) in h.catalog_rows("SELECT text FROM messages ORDER BY position")]
    assert texts[10].startswith("LINE 10 of chat")
    monkeypatch.setattr(update, "BATCH", 10**6)
    clean = index_one_by_one(tmp_path, "clean")
    same_state(h, clean)
    h.close()
    clean.close()
