"""Chat discovery over real folder trees built in tmp_path (no mocks), and over the real corpus."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sidecar.sillytavern.discovery import (
    DiscoveryOptions,
    discover_chats,
    is_temp_chat_file,
    locate_chat,
)
from tests.st_discovery_tree import expected_rows, rows, touch, write_group

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "sillytavern-chat-corpus"


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
