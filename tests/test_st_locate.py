"""Locating one chat path (as the watcher does) and loading group files, over real folder trees."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from sidecar.sillytavern.discovery import (
    discover_chats,
    locate_chat,
)
from sidecar.sillytavern.groups import load_groups
from tests.st_discovery_tree import SERAPHINA, touch, write_group


def test_locate_matches_discover(root: Path) -> None:
    for chat in discover_chats(root):
        assert locate_chat(root, chat.path) == chat
        assert locate_chat(root, Path(str(chat.path))) == chat


def test_locate_deleted_files(root: Path) -> None:
    solo = root / "alice" / "chats" / "Seraphina" / f"{SERAPHINA}.jsonl"
    group = root / "alice" / "group chats" / "1700000000000.jsonl"
    before = (locate_chat(root, solo), locate_chat(root, group))
    solo.unlink()
    group.unlink()
    assert (locate_chat(root, solo), locate_chat(root, group)) == before
    assert before[1] is not None
    assert before[1].group is not None
    shutil.rmtree(root / "bob" / "chats" / "Megumin")
    gone = locate_chat(root, root / "bob" / "chats" / "Megumin" / "m.jsonl")
    assert gone is not None
    assert (gone.user, gone.kind, gone.character, gone.file_name) == ("bob", "solo", "Megumin", "m")


@pytest.mark.parametrize(
    "relative",
    [
        "alice/chats/direct chat.jsonl.1234567",
        f"alice/chats/Seraphina/{SERAPHINA}.jsonl.1234567",
        "alice/group chats/1700000000000.jsonl.99",
        "alice/backups/chat_seraphina_20250531-234728.jsonl",
        "alice/chats/backups/old.jsonl",
        "alice/chats/_tmp/a.jsonl",
        "alice/chats/Seraphina/_draft.jsonl",
        "alice/chats/Seraphina/.swp.jsonl",
        "alice/chats/Seraphina/notes.txt",
        "alice/chats/Seraphina/d.jsonl",
        "alice/chats/Seraphina/d.jsonl/inner.jsonl",
        "alice/chats/Seraphina/up/zeta.jsonl",
        "alice/chats/link/1673181146000.jsonl",
        "alice/groups/1746455179287.json",
        "alice/characters/Seraphina.png",
        "alice/notes.jsonl",
        "alice/chats",
        "alice",
        "_storage/chats/A/a.jsonl",
        ".hidden/chats/A/a.jsonl",
        "loop/alice/chats/zeta.jsonl",
        "loop/chats/zeta.jsonl",
        "stray.jsonl",
        "",
        "../outside.jsonl",
        "../data2/alice/chats/zeta.jsonl",
    ],
)
def test_locate_rejects(root: Path, relative: str) -> None:
    assert locate_chat(root, root / relative) is None


def test_locate_normalises_and_follows_a_symlinked_root(root: Path, tmp_path: Path) -> None:
    dotted = root / "alice" / "chats" / ".." / "chats" / "zeta.jsonl"
    located = locate_chat(root, dotted)
    assert located is not None
    assert located.path == root / "alice" / "chats" / "zeta.jsonl"
    alias = tmp_path / "alias"
    alias.symlink_to(root, target_is_directory=True)
    via_alias = locate_chat(alias, root / "alice" / "chats" / "zeta.jsonl")
    assert via_alias is not None
    assert via_alias.path == alias / "alice" / "chats" / "zeta.jsonl"
    assert via_alias.relative_path == "alice/chats/zeta.jsonl"


def test_locate_with_given_groups_reads_nothing(root: Path) -> None:
    path = root / "alice" / "group chats" / "1700000000000.jsonl"
    located = locate_chat(root, path, groups={})
    assert located is not None
    assert located.group is None
    groups = load_groups(root / "alice")
    assert locate_chat(root, path, groups=groups) == locate_chat(root, path)


def test_load_groups(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        groups = load_groups(root / "alice")
    assert list(groups) == ["1746455179287"]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2
    assert list(load_groups(root / "bob")) == ["1690000000001"]
    assert load_groups(root / "carol") == {}
    assert load_groups(root / "nope") == {}


def test_group_without_id_uses_file_name_and_first_claim_wins(tmp_path: Path) -> None:
    write_group(tmp_path / "u" / "groups" / "222.json", chats=["c"], chat_id="c")
    write_group(tmp_path / "u" / "groups" / "111.json", id="111", chats=["c"])
    touch(tmp_path / "u" / "groups" / "bom.json", "\ufeff" + json.dumps({"id": "333"}))
    touch(tmp_path / "u" / "group chats" / "c.jsonl")
    assert sorted(load_groups(tmp_path / "u")) == ["111", "222", "333"]
    [chat] = discover_chats(tmp_path)
    assert chat.group is not None
    assert chat.group.group_id == "111"
