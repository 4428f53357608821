"""Regressions found by the SIGKILL tests (``test_crash_kill.py``), made deterministic: an update
dies between the extension databases' commits and the catalog's, then the file changes, vanishes
or turns out to be a renamed copy. Each case must end as a clean run ends (``tests/dbdump.py``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.dbdump import Dump, differences, dump_folder
from tests.index_harness import Harness
from tests.st_files import SOLO, encode, header, message, st_save
from tests.test_index_crash import Killed, crash_on_catalog_commit

REL = f"{SOLO}/chat.jsonl"


def first() -> list[dict[str, Any]]:
    return [
        header(integrity="i-1", ext={"summary": "s1"}),
        message("a", extra={"ext": {"n": 1}}),
        message("b", extra={"ext": {"n": 2}}),
    ]


def second() -> list[dict[str, Any]]:
    """Changes a value, adds a message whose namespace (``late``) no other message has, and a
    chat-level namespace (``late_chat``) the first version did not have."""
    chat = first()
    chat[0] = header(integrity="i-1", ext={"summary": "s1"}, late_chat={"x": 1})
    chat[1]["extra"]["ext"] = {"n": 10}
    chat.append(message("c", extra={"late": {"y": 1}}))
    return chat


def interrupted(tmp: Path, then: list[dict[str, Any]] | None) -> Harness:
    """Index ``first``, die indexing ``second``, then save ``then`` (None: delete the file)."""
    h = Harness(tmp / "st", tmp / "db")
    path = h.root / REL
    st_save(path, first())
    h.index(path)
    st_save(path, second())
    crash_on_catalog_commit(h, call=2)  # call 1 marks the chat pending
    with pytest.raises(Killed):
        h.index(path)
    del h.catalog.write  # "the next run"
    assert h.catalog_rows("SELECT sync, version FROM chats") == [("pending", 1)]
    assert h.query("late.db", "SELECT count(*) FROM message_data") == [(1,)]
    if then is None:
        path.unlink()
    else:
        st_save(path, then)
    return h


def clean(tmp: Path, saves: list[list[dict[str, Any]] | None]) -> Dump:
    """The dump of a run that saw ``saves`` (None: the file deleted) and was never killed."""
    h = Harness(tmp / "clean-st", tmp / "clean-db")
    try:
        path = h.root / REL
        for chat in saves:
            if chat is None:
                path.unlink()
            else:
                st_save(path, chat)
            h.scan()
    finally:
        h.close()
    return dump_folder(tmp / "clean-db")


def finished(h: Harness) -> Dump:
    h.scan()
    h.close()
    got = dump_folder(h.db_dir)
    assert got["faults"] == []
    return got


def test_resync_removes_what_only_the_interrupted_run_wrote(tmp_path: Path) -> None:
    third = first()
    third[2]["mes"] = "b edited"
    got = finished(interrupted(tmp_path, third))
    want = clean(tmp_path, [first(), third])
    assert differences(got["current"], want["current"]) == []
    # Rows of namespaces the current file lacks (the crash left them in late.db and
    # late_chat.db) are gone, not only those of the namespaces the file still has.
    assert set(got["current"]["extensions"]) == {"ext.db"}


def test_resync_to_the_last_recorded_content_adds_no_version(tmp_path: Path) -> None:
    got = finished(interrupted(tmp_path, first()))
    want = clean(tmp_path, [first()])
    assert differences(got["current"], want["current"]) == []
    assert got["past"]["chats"][REL]["version"] == 1
    assert len(got["past"]["chats"][REL]["versions"]) == 1


def test_pending_chat_whose_file_vanished_settles_on_its_last_version(tmp_path: Path) -> None:
    got = finished(interrupted(tmp_path, None))
    want = clean(tmp_path, [first(), None])
    chat = got["past"]["chats"][REL]
    assert (chat["state"], chat["version"], len(chat["versions"])) == ("missing", 1, 1)
    # The missing chat's data is its last recorded version's, as if the crash never happened.
    ext = got["past"]["extensions"]
    assert ext["ext.db"]["messages"] == want["past"]["extensions"]["ext.db"]["messages"]
    assert ext["ext.db"]["chats"] == want["past"]["extensions"]["ext.db"]["chats"]
    assert "messages" not in ext.get("late.db", {})
    assert "chats" not in ext.get("late_chat.db", {})


def test_first_index_interrupted_then_file_gone_leaves_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path / "st", tmp_path / "db")
    path = h.root / REL
    st_save(path, second())
    crash_on_catalog_commit(h, call=3)  # 1 looks for a renamed chat, 2 marks it pending
    with pytest.raises(Killed):
        h.index(path)
    del h.catalog.write
    assert h.catalog_rows("SELECT sync, version FROM chats") == [("pending", 0)]
    assert h.query("late.db", "SELECT count(*) FROM message_data") == [(1,)]
    path.unlink()
    got = finished(h)
    assert got["past"]["chats"] == {}
    for ext in ("ext.db", "late.db", "late_chat.db"):
        assert got["past"]["extensions"][ext] == {"history": []}


def test_interrupted_rename_merge_is_finished_by_the_next_pass(tmp_path: Path) -> None:
    """A copy indexed half-written, then completed: merging it into its missing original dies
    after the copy's extension rows went; the next pass resyncs the copy and merges again."""
    h = Harness(tmp_path / "st", tmp_path / "db")
    original, copy = h.root / REL, h.root / SOLO / "renamed.jsonl"
    st_save(original, first())
    h.index(original)
    original.unlink()
    h.scan()
    data = encode(first())
    copy.write_bytes(data[: len(data) // 2])
    h.index(copy)
    st_save(copy, data)
    crash_on_catalog_commit(h, call=4)  # 1 pending, 2 the update, 3 and 4 the merge
    with pytest.raises(Killed):
        h.index(copy)
    del h.catalog.write
    assert h.query("ext.db", "SELECT DISTINCT chat_id FROM message_data") == [
        (h.chat_id(f"{SOLO}/chat.jsonl"),)  # the copy's rows went, the original's are there
    ]
    got = finished(h)
    c = Harness(tmp_path / "clean-st", tmp_path / "clean-db")
    target = c.root / SOLO / "renamed.jsonl"
    target.parent.mkdir(parents=True)
    shutil.copyfile(copy, target)
    c.scan()
    c.close()
    want = dump_folder(tmp_path / "clean-db")
    assert differences(got["current"], want["current"]) == []
    assert list(got["past"]["chats"]) == [f"{SOLO}/renamed.jsonl"]  # merged: one chat


def test_resync_skips_a_file_that_is_not_a_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Recovery looks in every ``*.db`` of the folder; one that is not SQLite must not stop it."""
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "junk.db").write_text("not a database\n")
    third = first()
    third[1]["extra"]["ext"] = {"n": 5}
    got = finished(interrupted(tmp_path, third))
    want = clean(tmp_path, [first(), third])
    assert differences(got["current"], want["current"]) == []
    assert got["past"]["unreadable"] == ["junk.db: file is not a database"]
    assert "skips junk" in caplog.text
