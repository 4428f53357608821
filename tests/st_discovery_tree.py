"""A SillyTavern data tree (users, solo and group chats, backups, temp files, an unreadable folder)
built in tmp_path for the discovery and locate tests, with the rows discovery must find."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.sillytavern.discovery import (
    ChatLocation,
)

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
