"""A chat's identity (``chatId``) on real files and real databases: twins stay two chats (per
change, across full passes, seen by the watcher), and the real ``sidecar index`` after a rename
and a twin deleted."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chat_identity_steps import CHATS, T0, chat, data_owners, index, rows
from tests.index_harness import Harness
from tests.st_files import SOLO, st_save

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
