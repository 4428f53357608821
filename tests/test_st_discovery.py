"""Chat discovery over real folder trees built in tmp_path (no mocks)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.sillytavern.discovery import (
    ChatLocation,
    DiscoveryOptions,
    discover_chats,
    is_temp_chat_file,
    locate_chat,
)
from sidecar.sillytavern.groups import load_groups

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "sillytavern-chat-corpus"
SERAPHINA = "Seraphina - 2025-11-26@14h03m22s123ms"
Row = tuple[str, str, str | None, str | None, str, str]


def touch(path: Path, text: str = '{"chat_metadata":{}}') -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_group(path: Path, **data: object) -> None:
    touch(path, json.dumps(data, indent=4))


def rows(locations: list[ChatLocation]) -> list[Row]:
    return [
        (
            c.user,
            c.kind,
            c.character,
            c.group.group_id if c.group else None,
            c.file_name,
            c.relative_path,
        )
        for c in locations
    ]


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """Two users plus everything that must be ignored."""
    data = tmp_path / "data"
    touch(data / "cookie-secret.txt", "secret")
    touch(data / "_storage" / "chats" / "A" / "a.jsonl")
    touch(data / ".hidden" / "chats" / "A" / "a.jsonl")
    touch(data / "stray.jsonl")
    (data / "loop").symlink_to(data, target_is_directory=True)

    alice = data / "alice"
    chats = alice / "chats"
    touch(chats / "zeta.jsonl")
    touch(chats / "direct chat.jsonl")
    touch(chats / "direct chat.jsonl.1234567")  # atomic-save temp file
    touch(chats / "Seraphina" / f"{SERAPHINA}.jsonl")
    touch(chats / "Seraphina" / "Branch #1 - 字 @x.jsonl")
    touch(chats / "Seraphina" / f"{SERAPHINA}.jsonl.1234567")
    touch(chats / "Seraphina" / "_draft.jsonl")
    touch(chats / "Seraphina" / ".swp.jsonl")
    touch(chats / "Seraphina" / "notes.txt")
    touch(chats / "Seraphina" / "d.jsonl" / "inner.jsonl")  # a folder named like a chat
    (chats / "Seraphina" / "up").symlink_to("..", target_is_directory=True)
    touch(chats / "Aqua" / "1673181146000.jsonl")
    touch(chats / "backups" / "old.jsonl")
    touch(chats / "_tmp" / "a.jsonl")
    (chats / "link").symlink_to(chats / "Aqua", target_is_directory=True)
    (chats / "linked.jsonl").symlink_to(chats / "zeta.jsonl")  # file symlinks are fine
    touch(alice / "backups" / "chat_seraphina_20250531-234728.jsonl")
    touch(alice / "characters" / "Seraphina.png", "png")
    group_chats = alice / "group chats"
    touch(group_chats / "1700000000000.jsonl")
    touch(group_chats / "2025-05-05@22h26m18s.jsonl")
    touch(group_chats / "orphan.jsonl")
    touch(group_chats / "1700000000000.jsonl.99")
    write_group(
        alice / "groups" / "1746455179287.json",
        id="1746455179287",
        name="Tea party",
        members=["Seraphina.png", "Aqua.png"],
        chat_id="2025-05-05@22h26m18s",
        chats=["1700000000000", "2025-05-05@22h26m18s"],
        chat_metadata={"integrity": "u-1", "qvink_memory": {"x": 1}},
    )
    touch(alice / "groups" / "broken.json", "{not json")
    touch(alice / "groups" / "list.json", "[]")

    bob = data / "bob"
    touch(bob / "chats" / "Megumin" / "m.jsonl")
    touch(bob / "group chats" / "1690000000000.jsonl")
    # old group file: numeric ids, no chat_metadata, no name
    write_group(bob / "groups" / "g.json", id=1690000000001, chats=[1690000000000], members=[])
    locked = bob / "chats" / "Locked"
    touch(locked / "x.jsonl")
    locked.chmod(0)
    touch(data / "carol" / "chats", "not a folder")  # a user without chats
    yield data
    locked.chmod(0o755)


def expected_rows(root: Path) -> list[Row]:
    group = "1746455179287"
    result: list[Row] = [
        ("alice", "solo", None, None, "direct chat", "alice/chats/direct chat.jsonl"),
        ("alice", "solo", None, None, "linked", "alice/chats/linked.jsonl"),
        ("alice", "solo", None, None, "zeta", "alice/chats/zeta.jsonl"),
        ("alice", "solo", "Aqua", None, "1673181146000", "alice/chats/Aqua/1673181146000.jsonl"),
        (
            "alice",
            "solo",
            "Seraphina",
            None,
            "Branch #1 - 字 @x",
            "alice/chats/Seraphina/Branch #1 - 字 @x.jsonl",
        ),
        ("alice", "solo", "Seraphina", None, SERAPHINA, f"alice/chats/Seraphina/{SERAPHINA}.jsonl"),
        ("alice", "group", None, group, "1700000000000", "alice/group chats/1700000000000.jsonl"),
        (
            "alice",
            "group",
            None,
            group,
            "2025-05-05@22h26m18s",
            "alice/group chats/2025-05-05@22h26m18s.jsonl",
        ),
        ("alice", "group", None, None, "orphan", "alice/group chats/orphan.jsonl"),
    ]
    # Tests usually run as root, for whom chmod 000 changes nothing; otherwise Locked is skipped.
    if os.access(root / "bob" / "chats" / "Locked", os.R_OK | os.X_OK):
        result.append(("bob", "solo", "Locked", None, "x", "bob/chats/Locked/x.jsonl"))
    result.append(("bob", "solo", "Megumin", None, "m", "bob/chats/Megumin/m.jsonl"))
    bob_group = ("bob", "group", None, "1690000000001", "1690000000000")
    result.append((*bob_group, "bob/group chats/1690000000000.jsonl"))
    return result


def test_discover_exact_list(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sidecar.sillytavern.discovery"):
        found = list(discover_chats(root))
    assert rows(found) == expected_rows(root)
    for chat in found:
        assert chat.path == root / chat.relative_path
        assert chat.path.is_absolute()
    assert any("broken.json" in r.getMessage() for r in caplog.records)
    assert any("list.json" in r.getMessage() for r in caplog.records)


def test_discover_group_details(root: Path) -> None:
    groups = {c.file_name: c.group for c in discover_chats(root) if c.kind == "group"}
    tea = groups["1700000000000"]
    assert tea is not None
    assert tea.name == "Tea party"
    assert tea.members == ("Seraphina.png", "Aqua.png")
    assert tea.chat_ids == ("1700000000000", "2025-05-05@22h26m18s")
    assert tea.current_chat_id == "2025-05-05@22h26m18s"
    assert tea.chat_metadata == {"integrity": "u-1", "qvink_memory": {"x": 1}}
    old = groups["1690000000000"]
    assert old is not None
    assert (old.name, old.members, old.current_chat_id, old.chat_metadata) == (None, (), None, {})


def test_discover_is_stable_and_relative_root_ok(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = rows(list(discover_chats(root)))
    monkeypatch.chdir(root.parent)
    relative = list(discover_chats(Path(root.name)))
    assert rows(relative) == first
    assert relative[0].path == root / "alice" / "chats" / "direct chat.jsonl"


def test_options_are_configurable(root: Path) -> None:
    options = DiscoveryOptions(skip_dir_names=frozenset(), skip_prefixes=("_",))
    found = {c.relative_path for c in discover_chats(root, options)}
    assert "alice/chats/backups/old.jsonl" in found
    assert "alice/chats/Seraphina/.swp.jsonl" in found
    assert "alice/chats/Seraphina/_draft.jsonl" not in found
    assert ".hidden/chats/A/a.jsonl" in found
    assert not any(p.startswith(("_storage", "loop")) for p in found)


def test_legacy_root_is_default_user(tmp_path: Path) -> None:
    touch(tmp_path / "chats" / "Aqua" / "1673181146000.jsonl")
    touch(tmp_path / "chats" / "top.jsonl")
    touch(tmp_path / "group chats" / "1680000000000.jsonl")
    write_group(tmp_path / "groups" / "1.json", id="1", chats=["1680000000000"])
    touch(tmp_path / "backups" / "chat_aqua_20230101-000000.jsonl")
    assert rows(list(discover_chats(tmp_path))) == [
        ("default-user", "solo", None, None, "top", "chats/top.jsonl"),
        ("default-user", "solo", "Aqua", None, "1673181146000", "chats/Aqua/1673181146000.jsonl"),
        ("default-user", "group", None, "1", "1680000000000", "group chats/1680000000000.jsonl"),
    ]
    chat = tmp_path / "chats" / "Aqua" / "1673181146000.jsonl"
    located = locate_chat(tmp_path, chat)
    assert located is not None
    assert (located.user, located.character) == ("default-user", "Aqua")


def test_missing_or_empty_root(tmp_path: Path) -> None:
    assert list(discover_chats(tmp_path / "nope")) == []
    assert list(discover_chats(tmp_path)) == []
    assert locate_chat(tmp_path / "nope", tmp_path / "nope" / "u" / "chats" / "a.jsonl") is not None


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


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("x.jsonl.1234567", True),
        ("Seraphina - 2025-11-26@14h03m22s123ms.jsonl.17321", True),
        ("a b.jsonl.0", True),
        ("x.jsonl", False),
        ("x.jsonl.", False),
        (".jsonl.123", False),
        ("x.jsonl.12a", False),
        ("x.json.123", False),
        ("x.jsonl.123.jsonl", False),
    ],
)
def test_is_temp_chat_file(name: str, expected: bool) -> None:
    assert is_temp_chat_file(name) is expected


@pytest.mark.corpus
@pytest.mark.skipif(not CORPUS.is_dir(), reason="chat corpus not present")
def test_corpus_discovery() -> None:
    counts = {
        d.name[:2]: len(list(discover_chats(d))) for d in sorted(CORPUS.iterdir()) if d.is_dir()
    }
    assert counts == {
        "01": 1,
        "02": 1,
        "03": 1,
        "04": 0,  # only backups/
        "05": 3,
        "06": 1,
        "07": 1,
        "08": 1,
    }
    [legacy] = discover_chats(next(CORPUS.glob("01_*")))
    assert (legacy.user, legacy.character, legacy.relative_path) == (
        "default-user",
        "Aqua",
        "chats/Aqua/1673181146000.jsonl",
    )
    [group_chat] = discover_chats(next(CORPUS.glob("06_*")))
    assert group_chat.kind == "group"
    assert group_chat.group is not None
    assert group_chat.group.group_id == "1746455179287"
    assert group_chat.group.current_chat_id == "2025-05-05@22h26m18s"
    assert group_chat.group.chat_metadata["integrity"]
    for folder in (d for d in CORPUS.iterdir() if d.is_dir()):
        for chat in discover_chats(folder):
            assert locate_chat(folder, chat.path) == chat
