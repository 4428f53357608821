"""Moves the watcher saw keep the chatId whatever the time: renamed, changed too, whole character
folders, over another chat; a move out of the chats is a deletion."""

from __future__ import annotations

import os

import pytest

from tests.chat_identity_steps import CHATS, T0, change, chat, data_owners, index, rows
from tests.index_harness import Harness
from tests.st_files import SOLO, message, st_save

# -- moves the watcher saw -----------------------------------------------------------------------


@pytest.mark.parametrize("target", [f"{SOLO}/renamed.jsonl", f"{CHATS}/Other/chat.jsonl"])
def test_a_move_keeps_the_chat_whatever_the_time(h: Harness, target: str) -> None:
    old, new = h.root / SOLO / "chat.jsonl", h.root / target
    st_save(old, chat())
    chat_id = index(h, old, T0).chat_id
    new.parent.mkdir(parents=True, exist_ok=True)
    os.rename(old, new)
    assert change(h, new, T0 + 3000, moved_from=old) == ["renamed"]  # no window for a move
    assert rows(h) == [(chat_id, target, "ok")]
    assert h.catalog_rows("SELECT count(*) FROM versions") == [(1,)]  # same file, no new version


def test_a_moved_chat_that_also_changed(h: Harness) -> None:
    old, new = h.root / SOLO / "chat.jsonl", h.root / SOLO / "renamed.jsonl"
    st_save(old, chat())
    chat_id = index(h, old, T0).chat_id
    os.rename(old, new)
    st_save(new, [*chat(), message("after the move")])
    assert change(h, new, T0 + 10, moved_from=old) == ["renamed"]
    assert h.catalog_rows("SELECT chat_id, message_count, version FROM chats") == [(chat_id, 3, 2)]


def test_a_moved_character_folder(h: Harness) -> None:
    old_dir, new_dir = h.root / CHATS / "Sera", h.root / CHATS / "Seraphina"
    for name in ("one", "two"):
        st_save(old_dir / f"{name}.jsonl", chat(name))
    ids = {p.stem: index(h, p, T0).chat_id for p in sorted(old_dir.iterdir())}
    os.rename(old_dir, new_dir)
    assert change(h, new_dir, T0 + 3000, moved_from=old_dir) == ["renamed", "renamed"]
    # inotify also reports each file inside as moved: nothing is left to do for them
    assert change(h, new_dir / "one.jsonl", T0 + 3000, old_dir / "one.jsonl") == ["unchanged"]
    assert rows(h) == sorted(
        (ids[name], f"{CHATS}/Seraphina/{name}.jsonl", "ok") for name in ("one", "two")
    )


def test_a_move_whose_destination_was_indexed_first(h: Harness) -> None:
    """The destination reached the indexer before the move (a rescan, a folder event): the new
    chat it made is the moved one."""
    old, new = h.root / SOLO / "chat.jsonl", h.root / SOLO / "renamed.jsonl"
    st_save(old, chat())
    chat_id = index(h, old, T0).chat_id
    os.rename(old, new)
    assert index(h, new, T0 + 3000).status == "new"  # too late to pair by content
    assert change(h, new, T0 + 3000.1, moved_from=old) == ["renamed"]
    assert rows(h) == [(chat_id, f"{SOLO}/renamed.jsonl", "ok")]
    assert data_owners(h) == {chat_id}


def test_a_move_over_another_chat(h: Harness) -> None:
    """``mv a b`` over a chat sidecar knows: b keeps its id (its file was replaced), a is gone."""
    a, b = h.root / SOLO / "a.jsonl", h.root / SOLO / "b.jsonl"
    st_save(a, chat("from a"))
    st_save(b, chat("from b"))
    a_id, b_id = index(h, a, T0).chat_id, index(h, b, T0).chat_id
    os.rename(a, b)
    assert change(h, b, T0 + 100, moved_from=a) == ["updated"]
    assert rows(h) == sorted(
        [(a_id, f"{SOLO}/a.jsonl", "missing"), (b_id, f"{SOLO}/b.jsonl", "ok")]
    )


def test_a_move_out_of_the_chats_is_a_deletion(h: Harness) -> None:
    old = h.root / SOLO / "chat.jsonl"
    st_save(old, chat())
    chat_id = index(h, old, T0).chat_id
    backups = h.root / "default-user" / "backups"
    backups.mkdir(parents=True)
    os.rename(old, backups / "chat.jsonl")
    assert change(h, old, T0 + 1) == ["missing"]  # the handler reports the source only
    assert rows(h) == [(chat_id, f"{SOLO}/chat.jsonl", "missing")]
