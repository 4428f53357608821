"""A chat's identity (``chatId``) on real files and real databases: twins stay two chats, a rename
keeps the id when the watcher saw the move or when the copy and the deletion were observed within
``index.rename_window_seconds``, and never otherwise. Times are given explicitly (``observed``), as
the watcher gives them, so the window is tested exactly; ``sidecar index`` is run for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.indexer.changes import index_change
from sidecar.indexer.update_state import IndexResult
from sidecar.sillytavern.discovery import locate_chat
from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save

WINDOW = 5.0  # the default
T0 = time.time() - 3600  # "observed" times of these tests: in the past, a second apart
CHATS = "default-user/chats"


def chat(text: str = "hello") -> list[object]:
    return [
        header(integrity="i-1", arc={"chapter": 1}),
        message(text, extra={"ext": {"n": 1}}),
        message("reply", is_user=True, extra={"ext": {"n": 2}}),
    ]


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "st", tmp_path / "db")
    yield harness
    harness.close()


def index(h: Harness, path: Path, at: float) -> IndexResult:
    location = locate_chat(h.root, path)
    assert location is not None, path
    return h.indexer.index_location(location, observed=at)


def change(h: Harness, path: Path, at: float, moved_from: Path | None = None) -> list[str]:
    """What the watcher's worker does with an event; the statuses of the files it looked at."""
    return [result.status for _path, result in index_change(h.indexer, path, moved_from, at)]


def rows(h: Harness) -> list[tuple[str, str, str]]:
    """(chat_id, rel_path, state) of every chat."""
    return sorted(h.catalog_rows("SELECT chat_id, rel_path, state FROM chats"))


def data_owners(h: Harness) -> set[str]:
    """The chat ids the extension database holds message and chat-level rows for."""
    found = h.query("ext.db", "SELECT DISTINCT chat_id FROM message_data")
    found += h.query("arc.db", "SELECT DISTINCT chat_id FROM chat_data")
    return {chat_id for (chat_id,) in found}


# -- twins ------------------------------------------------------------------------------------


@pytest.mark.parametrize("deleted", ["a", "b"])
def test_twins_stay_two_chats_and_a_delete_marks_exactly_that_one(h: Harness, deleted: str) -> None:
    a, b = h.root / SOLO / "a.jsonl", h.root / SOLO / "b.jsonl"
    st_save(a, chat())
    st_save(b, chat())
    ids = {p.stem: index(h, p, T0).chat_id for p in (a, b)}
    assert ids["a"] != ids["b"]
    gone, kept = (a, b) if deleted == "a" else (b, a)
    gone.unlink()
    assert index(h, gone, T0 + 60).status == "missing"
    assert rows(h) == sorted([
        (ids[gone.stem], f"{SOLO}/{gone.name}", "missing"),
        (ids[kept.stem], f"{SOLO}/{kept.name}", "ok"),
    ])  # fmt: skip
    assert index(h, kept, T0 + 61).status == "unchanged"
    assert data_owners(h) == set(ids.values())  # each keeps its own rows


@pytest.mark.parametrize("deleted", ["a", "b"])
def test_twins_across_full_passes(h: Harness, deleted: str) -> None:
    """``sidecar index`` twice in a row (well within the window): a twin that was already there
    is never taken for a copy."""
    for name in ("a", "b"):
        st_save(h.root / SOLO / f"{name}.jsonl", chat())
    assert h.scan().statuses == {"new": 2}
    ids = {path: h.chat_id(path) for path in (f"{SOLO}/a.jsonl", f"{SOLO}/b.jsonl")}
    (h.root / SOLO / f"{deleted}.jsonl").unlink()
    assert h.scan().statuses == {"missing": 1, "unchanged": 1}
    gone = f"{SOLO}/{deleted}.jsonl"
    assert rows(h) == sorted((ids[p], p, "missing" if p == gone else "ok") for p in ids)


def test_twins_seen_by_the_watcher_are_two_chats(h: Harness) -> None:
    a = h.root / SOLO / "a.jsonl"
    st_save(a, chat())
    index(h, a, T0)
    b = h.root / SOLO / "b.jsonl"
    shutil.copyfile(a, b)  # a copy the user keeps: it is a chat of its own
    assert index(h, b, T0 + 1).status == "new"
    assert len({row[0] for row in rows(h)}) == 2


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


# -- sidecar index, as a user runs it ----------------------------------------------------------


def run_index(root: Path, db_dir: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "index", "--log-level", "warning",
         "--data-root", str(root), "--db-dir", str(db_dir)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sidecar_index_after_a_rename_and_a_twin_deleted(tmp_path: Path) -> None:
    """Between two runs: one chat renamed into another character's folder (``mv``), one of two
    twins deleted. The renamed chat keeps its id, the other twin its own."""
    root, db_dir = tmp_path / "st", tmp_path / "db"
    st_save(root / SOLO / "story.jsonl", chat("story"))
    for name in ("twin a", "twin b"):
        st_save(root / SOLO / f"{name}.jsonl", chat("twins"))
    assert "3 new" in run_index(root, db_dir)
    h = Harness(root, db_dir)
    try:
        before = {path: chat_id for chat_id, path, _state in rows(h)}
        (root / CHATS / "Other").mkdir()
        os.rename(root / SOLO / "story.jsonl", root / CHATS / "Other" / "story.jsonl")
        (root / SOLO / "twin a.jsonl").unlink()
        out = run_index(root, db_dir)
        assert "1 missing, 1 renamed, 1 unchanged" in out
        assert rows(h) == sorted([
            (before[f"{SOLO}/story.jsonl"], f"{CHATS}/Other/story.jsonl", "ok"),
            (before[f"{SOLO}/twin a.jsonl"], f"{SOLO}/twin a.jsonl", "missing"),
            (before[f"{SOLO}/twin b.jsonl"], f"{SOLO}/twin b.jsonl", "ok"),
        ])  # fmt: skip
    finally:
        h.close()
