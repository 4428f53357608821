"""Re-indexing after each kind of edit ends exactly where a clean index of the new file does,
with the replaced values in history."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.indexer.extsync import DataChange
from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save, swiped

EXTS = ["ext", "other"]
REL = f"{SOLO}/chat.jsonl"


def base_chat() -> list[dict[str, Any]]:
    return [
        header(integrity="i-1", ext={"summary": "start"}),
        message("hello", name="User", is_user=True),
        swiped(["a0", "a1"], 1, [{"ext": {"n": 0}}, {"ext": {"n": 1, "tag": "x"}}]),
        message("middle", extra={"ext": {"n": 2}, "other": {"flag": True}}),
        message("late", extra={"ext": {"n": 3}}),
        message("last", extra={"other": {"flag": False}}),
    ]


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "st", tmp_path / "db")
    st_save(harness.root / REL, base_chat())
    harness.index(harness.root / REL)
    yield harness
    harness.close()


def clean_snapshot(tmp_path: Path, source: Path) -> dict[str, Any]:
    clean = Harness(tmp_path / "clean-st", tmp_path / "clean-db")
    try:
        target = clean.root / REL
        target.parent.mkdir(parents=True)
        shutil.copyfile(source, target)
        clean.index(target)
        return clean.snapshot(clean.chat_id(REL), EXTS)
    finally:
        clean.close()


def edit_and_check(
    h: Harness, tmp_path: Path, change: Callable[[list[dict[str, Any]]], object]
) -> str:
    chat = base_chat()
    change(chat)
    st_save(h.root / REL, chat)
    chat_id = h.chat_id(REL)
    result = h.index(h.root / REL)
    assert result.status == "updated"
    expected_state = "shrunk" if result.shrunk else "ok"
    assert h.catalog_rows("SELECT state FROM chats WHERE chat_id = ?", chat_id) == [
        (expected_state,)
    ]
    assert h.snapshot(chat_id, EXTS) == clean_snapshot(tmp_path, h.root / REL)
    return chat_id


def test_edit_one_message_extra(h: Harness, tmp_path: Path) -> None:
    def change(chat: list[dict[str, Any]]) -> None:
        chat[3]["extra"]["ext"] = {"n": 20, "added": [1]}

    chat_id = edit_and_check(h, tmp_path, change)
    assert h.history("ext", chat_id) == [(2, 0, "ext", "n", "2", "changed")]


def test_add_a_swipe(h: Harness, tmp_path: Path) -> None:
    def change(chat: list[dict[str, Any]]) -> None:
        extras: list[dict[str, Any] | None] = [
            {"ext": {"n": 0}},
            {"ext": {"n": 1, "tag": "x"}},
            {"ext": {"n": 9}},
        ]
        chat[2] = swiped(["a0", "a1", "a2"], 2, extras)

    chat_id = edit_and_check(h, tmp_path, change)
    assert h.history("ext", chat_id) == []  # nothing replaced: swipe 1 kept its data
    assert h.data("ext", chat_id)[:4] == [
        (1, 0, "ext", "n", "0", 0),
        (1, 1, "ext", "n", "1", 0),
        (1, 1, "ext", "tag", '"x"', 0),
        (1, 2, "ext", "n", "9", 1),
    ]


def test_switch_selected_swipe(h: Harness, tmp_path: Path) -> None:
    def change(chat: list[dict[str, Any]]) -> None:
        chat[2] = swiped(["a0", "a1"], 0, [{"ext": {"n": 0}}, {"ext": {"n": 1, "tag": "x"}}])

    chat_id = edit_and_check(h, tmp_path, change)
    assert h.history("ext", chat_id) == []
    assert [row for row in h.data("ext", chat_id) if row[0] == 1] == [
        (1, 0, "ext", "n", "0", 1),
        (1, 1, "ext", "n", "1", 0),
        (1, 1, "ext", "tag", '"x"', 0),
    ]


def test_delete_a_message_in_the_middle(h: Harness, tmp_path: Path) -> None:
    chat_id = edit_and_check(h, tmp_path, lambda chat: chat.pop(3))
    assert h.history("ext", chat_id) == [(2, 0, "ext", "n", "2", "message_deleted")]
    assert h.history("other", chat_id) == [(2, 0, "other", "flag", "true", "message_deleted")]
    assert h.catalog_rows("SELECT state FROM chats") == [("ok",)]


def test_insert_a_message_at_the_top(h: Harness, tmp_path: Path) -> None:
    before = h.query("ext.db", "SELECT msg_uid, swipe, key, value, seen_at FROM message_data")
    chat_id = edit_and_check(
        h, tmp_path, lambda chat: chat.insert(1, message("new first", extra={"ext": {"n": -1}}))
    )
    after = h.query("ext.db", "SELECT msg_uid, swipe, key, value, seen_at FROM message_data")
    assert set(before) < set(after)  # the other messages' rows were not rewritten
    assert h.history("ext", chat_id) == []


def test_rename_keeps_the_chat_id(h: Harness) -> None:
    chat_id = h.chat_id(REL)
    data = h.data("ext", chat_id)
    old, new = h.root / REL, h.root / SOLO / "renamed chat.jsonl"
    shutil.copyfile(old, new)  # SillyTavern renames by copy, then delete
    assert h.index(new).status == "new"
    old.unlink()
    assert h.index(old).status == "renamed"
    assert h.catalog_rows("SELECT chat_id, rel_path, state FROM chats") == [
        (chat_id, f"{SOLO}/renamed chat.jsonl", "ok")
    ]
    assert h.data("ext", chat_id) == data
    assert h.query("ext.db", "SELECT DISTINCT chat_id FROM message_data") == [(chat_id,)]


def test_rename_seen_as_delete_then_create(h: Harness) -> None:
    chat_id = h.chat_id(REL)
    old, new = h.root / REL, h.root / "default-user" / "chats" / "Sera2" / "chat.jsonl"
    new.parent.mkdir()
    old.rename(new)  # a character rename moves the whole folder
    assert h.index(old).status == "missing"
    assert h.index(new).status == "renamed"
    assert h.catalog_rows("SELECT chat_id, character, state FROM chats") == [
        (chat_id, "Sera2", "ok")
    ]


def test_deleted_chat_is_marked_missing_not_purged(h: Harness) -> None:
    chat_id = h.chat_id(REL)
    data = h.data("ext", chat_id)
    (h.root / REL).unlink()
    assert h.scan().statuses == {"missing": 1}
    assert h.catalog_rows("SELECT state, message_count FROM chats") == [("missing", 5)]
    assert h.data("ext", chat_id) == data


def test_shrink_to_header_only_keeps_values_in_history(h: Harness, tmp_path: Path) -> None:
    chat_id = edit_and_check(h, tmp_path, lambda chat: chat.__delitem__(slice(1, None)))
    assert h.catalog_rows("SELECT state, shrunk_from, message_count FROM chats") == [
        ("shrunk", 5, 0)
    ]
    assert h.history("ext", chat_id) == [
        (1, 0, "ext", "n", "0", "chat_shrunk"),
        (1, 1, "ext", "n", "1", "chat_shrunk"),
        (1, 1, "ext", "tag", '"x"', "chat_shrunk"),
        (2, 0, "ext", "n", "2", "chat_shrunk"),
        (3, 0, "ext", "n", "3", "chat_shrunk"),
    ]
    assert h.data("ext", chat_id) == []


def test_header_change_updates_chat_level_data(h: Harness, tmp_path: Path) -> None:
    def change(chat: list[dict[str, Any]]) -> None:
        chat[0] = header(integrity="i-1", ext={"summary": "later"})

    chat_id = edit_and_check(h, tmp_path, change)
    assert h.history("ext", chat_id) == [(None, None, "ext", "summary", '"start"', "changed")]


def test_indexing_again_without_changes_writes_nothing(h: Harness) -> None:
    files = sorted(h.db_dir.glob("*.db"))
    before = {p: p.read_bytes() for p in files}
    assert h.scan().statuses == {"unchanged": 1}
    assert {p: p.read_bytes() for p in files} == before


def big_chat(count: int) -> list[dict[str, Any]]:
    chat: list[dict[str, Any]] = [header()]
    for i in range(count):
        chat.append(message(f"message {i}", extra={
            "ext": {"n": i, "memory": f"summary of {i}", "scene_break": i % 50 == 0},
            "other": {"hash": i * 7},
        }))  # fmt: skip
    return chat


def test_one_message_change_in_a_2000_message_chat_touches_one_message(tmp_path: Path) -> None:
    h = Harness(tmp_path / "st", tmp_path / "db")
    try:
        path = h.root / REL
        chat = big_chat(2000)
        st_save(path, chat)
        first = h.index(path)
        assert (first.new_messages, first.data_written) == (2000, 2000 * 4)
        rows_before = h.query("ext.db", "SELECT * FROM message_data ORDER BY 1, 2, 3, 4, 5")
        edited = copy.deepcopy(chat)
        edited[1000]["extra"]["ext"]["scene_break"] = True
        st_save(path, edited)
        result = h.index(path)
        assert (result.parsed_lines, result.edited_messages, result.new_messages) == (1, 1, 0)
        assert (result.moved_messages, result.removed_messages) == (0, 0)
        assert (result.data_written, result.data_deleted, result.history) == (1, 0, 1)
        rows_after = h.query("ext.db", "SELECT * FROM message_data ORDER BY 1, 2, 3, 4, 5")
        changed = set(rows_after) ^ set(rows_before)
        assert len(changed) == 2  # the one row, old and new
        # A message inserted at the top parses one line; the others only shift position.
        edited.insert(1, message("new top", extra={"ext": {"n": -1}}))
        st_save(path, edited)
        result = h.index(path)
        assert (result.parsed_lines, result.new_messages, result.data_written) == (1, 1, 1)
        assert result.moved_messages == 2000
        assert set(rows_after) <= set(
            h.query("ext.db", "SELECT * FROM message_data ORDER BY 1, 2, 3, 4, 5")
        )
    finally:
        h.close()


def test_an_update_reports_what_changed_for_the_feed(h: Harness) -> None:
    chat = base_chat()
    chat[3]["extra"]["ext"] = {"n": 20, "added": [1]}
    chat[0] = header(integrity="i-1", ext={"summary": "later"})
    del chat[5]
    st_save(h.root / REL, chat)
    result = h.index(h.root / REL)
    assert sorted(result.changes, key=repr) == sorted(
        [
            DataChange(2, 0, "ext", "added", "added"),
            DataChange(2, 0, "ext", "n", "changed"),
            DataChange(4, 0, "other", "flag", "removed"),
            DataChange(None, None, "ext", "summary", "changed"),
        ],
        key=repr,
    )
    assert (h.root / REL).exists()
    first = Harness(h.root.parent / "fresh-st", h.root.parent / "fresh-db")
    try:
        st_save(first.root / REL, base_chat())
        assert first.index(first.root / REL).changes == []  # a new chat is one "new" event
    finally:
        first.close()


def test_rename_whose_copy_was_indexed_half_written(h: Harness) -> None:
    """SillyTavern copies a character's folder; a watcher may index a copy before it is
    complete. Once the copy is complete it must still be recognised as the renamed chat."""
    chat_id = h.chat_id(REL)
    old, new = h.root / REL, h.root / "default-user" / "chats" / "Sera2" / "chat.jsonl"
    new.parent.mkdir()
    full = old.read_bytes()
    new.write_bytes(full[: len(full) // 3])  # the copy, a third written
    assert h.index(new).status == "new"
    old.unlink()
    assert h.index(old).status == "missing"  # the half copy does not match yet
    new.write_bytes(full)  # the copy completes
    assert h.index(new).status == "renamed"
    assert h.catalog_rows("SELECT chat_id, rel_path, state FROM chats") == [
        (chat_id, "default-user/chats/Sera2/chat.jsonl", "ok")
    ]
    assert h.query("ext.db", "SELECT DISTINCT chat_id FROM message_data") == [(chat_id,)]
