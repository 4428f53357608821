"""Renames by copy then delete (SillyTavern's way) keep the chatId when the copy and the deletion
were observed within ``index.rename_window_seconds``, and never otherwise (nor across users)."""

from __future__ import annotations

import shutil

from tests.chat_identity_steps import CHATS, T0, WINDOW, change, chat, data_owners, index, rows
from tests.index_harness import Harness
from tests.st_files import SOLO, st_save

# -- renames by copy then delete (SillyTavern's way) -----------------------------------------


def test_copy_indexed_first_then_the_original_vanishes(h: Harness) -> None:
    old, new = h.root / SOLO / "chat.jsonl", h.root / SOLO / "renamed chat.jsonl"
    st_save(old, chat())
    chat_id = index(h, old, T0).chat_id
    shutil.copyfile(old, new)  # SillyTavern's /api/chats/rename: copyFileSync, then unlinkSync
    old.unlink()
    assert index(h, new, T0 + 100.0).status == "new"  # the watcher got to the copy first
    assert index(h, old, T0 + 100.1).status == "renamed"
    assert rows(h) == [(chat_id, f"{SOLO}/renamed chat.jsonl", "ok")]
    assert data_owners(h) == {chat_id}


def test_original_vanishes_first_then_the_copy_is_indexed(h: Harness) -> None:
    old, new = h.root / SOLO / "chat.jsonl", h.root / SOLO / "renamed chat.jsonl"
    st_save(old, chat())
    chat_id = index(h, old, T0).chat_id
    shutil.copyfile(old, new)
    old.unlink()
    assert index(h, old, T0 + 100.1).status == "missing"
    # Indexed later than the deletion, but observed (its event) just before it.
    result = index(h, new, T0 + 100.0)
    assert (result.status, result.chat_id, result.renamed_from) == (
        "renamed",
        chat_id,
        f"{SOLO}/chat.jsonl",
    )
    assert rows(h) == [(chat_id, f"{SOLO}/renamed chat.jsonl", "ok")]


def test_character_rename_copies_the_folder_then_deletes_it(h: Harness) -> None:
    """SillyTavern's /api/characters/rename: cpSync of the chats folder, then rmSync."""
    old_dir, new_dir = h.root / CHATS / "Sera", h.root / CHATS / "Seraphina"
    for name in ("one", "two"):
        st_save(old_dir / f"{name}.jsonl", chat(name))
    ids = {p.stem: index(h, p, T0).chat_id for p in sorted(old_dir.iterdir())}
    shutil.copytree(old_dir, new_dir)
    shutil.rmtree(old_dir)
    assert change(h, new_dir, T0 + 100.0) == ["new", "new"]
    assert change(h, old_dir, T0 + 100.5) == ["renamed", "renamed"]
    assert rows(h) == sorted(
        (ids[name], f"{CHATS}/Seraphina/{name}.jsonl", "ok") for name in ("one", "two")
    )


def test_a_copy_completed_after_its_original_vanished(h: Harness) -> None:
    old, new = h.root / SOLO / "chat.jsonl", h.root / CHATS / "Sera2" / "chat.jsonl"
    st_save(old, chat())
    chat_id = index(h, old, T0).chat_id
    full = old.read_bytes()
    new.parent.mkdir(parents=True)
    new.write_bytes(full[: len(full) // 3])  # a watcher can see a copy half written
    assert index(h, new, T0 + 100.0).status == "new"
    old.unlink()
    assert index(h, old, T0 + 100.2).status == "missing"  # the half copy does not match yet
    new.write_bytes(full)
    assert index(h, new, T0 + 100.4).status == "renamed"
    assert rows(h) == [(chat_id, f"{CHATS}/Sera2/chat.jsonl", "ok")]


def test_a_chat_missing_longer_than_the_window_is_not_adopted(h: Harness) -> None:
    old = h.root / SOLO / "chat.jsonl"
    st_save(old, chat())
    chat_id = index(h, old, T0).chat_id
    data = old.read_bytes()
    old.unlink()
    assert index(h, old, T0 + 10).status == "missing"
    new = h.root / CHATS / "Other" / "restored.jsonl"  # e.g. a backup copied back by hand
    new.parent.mkdir(parents=True)
    new.write_bytes(data)
    result = index(h, new, T0 + 10 + WINDOW + 1)
    assert result.status == "new"
    assert result.chat_id != chat_id
    assert (chat_id, f"{SOLO}/chat.jsonl", "missing") in rows(h)


def test_a_copy_made_long_before_its_original_vanished_is_not_merged(h: Harness) -> None:
    old, copy = h.root / SOLO / "chat.jsonl", h.root / SOLO / "copy.jsonl"
    st_save(old, chat())
    index(h, old, T0)
    shutil.copyfile(old, copy)
    copy_id = index(h, copy, T0 + 1).chat_id
    old.unlink()
    assert index(h, old, T0 + 1 + WINDOW + 1).status == "missing"
    assert (copy_id, f"{SOLO}/copy.jsonl", "ok") in rows(h)


def test_never_across_users(h: Harness) -> None:
    old, other = h.root / SOLO / "chat.jsonl", h.root / "bob" / "chats" / "Sera" / "chat.jsonl"
    st_save(old, chat())
    chat_id = index(h, old, T0).chat_id
    other.parent.mkdir(parents=True)
    shutil.copyfile(old, other)
    old.unlink()
    assert index(h, old, T0 + 0.1).status == "missing"
    assert index(h, other, T0 + 0.2).status == "new"
    assert (chat_id, f"{SOLO}/chat.jsonl", "missing") in rows(h)
