"""An update interrupted between the extension databases' commits and the catalog's commit is
finished by the next run, which ends exactly where an uninterrupted run ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection

from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save
from tests.test_index_incremental import EXTS, REL, base_chat


class Killed(Exception):
    pass


def crash_on_catalog_commit(h: Harness, call: int) -> None:
    """Make the ``call``-th catalog write transaction die just before it commits."""
    original = h.catalog.write
    calls = {"n": 0}

    @contextmanager
    def write() -> Iterator[Connection]:
        calls["n"] += 1
        with original() as conn:
            yield conn
            if calls["n"] == call:
                raise Killed

    h.catalog.write = write  # type: ignore[method-assign]


def edited_chat() -> list[dict[str, Any]]:
    chat = base_chat()
    chat[3]["extra"]["ext"] = {"n": 22}  # edit
    del chat[4]  # delete
    chat.insert(1, message("inserted", extra={"ext": {"n": -1}, "other": {"flag": None}}))
    chat[0] = header(integrity="i-1", ext={"summary": "changed"})
    return chat


def run(tmp: Path, crash: bool) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    h = Harness(tmp / "st", tmp / "db")
    try:
        path = h.root / REL
        st_save(path, base_chat())
        h.index(path)
        st_save(path, edited_chat())
        chat_id = h.chat_id(REL)
        if crash:
            crash_on_catalog_commit(h, call=2)  # call 1 marks the chat pending
            with pytest.raises(Killed):
                h.index(path)
            assert h.catalog_rows("SELECT sync FROM chats") == [("pending",)]
            del h.catalog.write  # back to the real method: "the next run"
            assert h.index(path).status == "updated"
        else:
            h.index(path)
        assert h.catalog_rows("SELECT sync FROM chats") == [("ok",)]
        history = {ext: h.history(ext, chat_id) for ext in EXTS}
        return h.snapshot(chat_id, EXTS), history
    finally:
        h.close()


def test_interrupted_update_converges_to_the_clean_result(tmp_path: Path) -> None:
    crashed = run(tmp_path / "crashed", crash=True)
    clean = run(tmp_path / "clean", crash=False)
    assert crashed == clean
    # Positions are where the message stood when the value went: the edited message moved from
    # 2 to 3 (a message was inserted above it); the deleted one was at 3.
    assert clean[1]["ext"] == [
        (3, 0, "ext", "n", "2", "changed"),
        (3, 0, "ext", "n", "3", "message_deleted"),
        (None, None, "ext", "summary", '"start"', "changed"),
    ]


def test_interrupted_first_index_of_a_new_chat(tmp_path: Path) -> None:
    h = Harness(tmp_path / "st", tmp_path / "db")
    try:
        path = h.root / SOLO / "new.jsonl"
        st_save(path, base_chat())
        # A new chat takes three catalog writes; the third is the final commit: die there,
        # after the extension databases committed their rows.
        crash_on_catalog_commit(h, call=3)
        with pytest.raises(Killed):
            h.index(path)
        assert h.catalog_rows("SELECT sync FROM chats") == [("pending",)]
        assert h.query("ext.db", "SELECT count(*) FROM message_data") != [(0,)]
        del h.catalog.write
        h.index(path)
        chat_id = h.chat_id(f"{SOLO}/new.jsonl")
        uids = set(h.positions(chat_id))
        stored = {uid for (uid,) in h.query("ext.db", "SELECT DISTINCT msg_uid FROM message_data")}
        assert stored <= uids  # rows the interrupted run wrote under other ids are gone
        assert h.history("ext", chat_id) == []
        assert len(h.data("ext", chat_id)) == 5
    finally:
        h.close()
