"""Batches written on the indexer's helper thread: the same result as one batch, a failing
batch rolls the update back, a line changed in place is caught there."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from sidecar.indexer import indexer as indexer_module
from sidecar.indexer import update
from sidecar.indexer.update_catalog import CatalogSide
from sidecar.sillytavern.chatfile import ChatFile
from tests.bulk_chats import (
    index_one_by_one,
    same_state,
)
from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save


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
        def scan(self, keep_bytes: int = 0) -> Any:  # streamed: lines read again, and checked
            found = super().scan(keep_bytes)
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
