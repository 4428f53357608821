"""ChatEventHandler: which watchdog events become which chat paths (and move pairs); noise."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
)

from sidecar.watch import ChatEventHandler

# -- ChatEventHandler: event -> paths ------------------------------------------------------------

ROOT = Path("/st/data")
CHAT = "/st/data/default-user/chats/Char/c.jsonl"
TEMP = CHAT + ".1700000000001"


def paths(event: FileSystemEvent, root: Path = ROOT) -> list[str]:
    return [str(p) for p in ChatEventHandler(root, lambda path: None).paths_for(event)]


def test_st_save_native_reports_the_chat_only() -> None:
    # the inotify sequence of one SillyTavern save
    assert paths(FileCreatedEvent(TEMP)) == []
    assert paths(FileModifiedEvent(TEMP)) == []
    assert paths(FileClosedEvent(TEMP)) == []
    assert paths(FileMovedEvent(TEMP, CHAT)) == [CHAT]
    assert paths(DirModifiedEvent("/st/data/default-user/chats/Char")) == []


def test_st_save_polling_reports_the_chat() -> None:
    assert paths(FileDeletedEvent(CHAT)) == [CHAT]
    assert paths(FileCreatedEvent(CHAT)) == [CHAT]
    assert paths(FileModifiedEvent(CHAT.encode())) == [CHAT]  # bytes paths are decoded


def changes(event: FileSystemEvent) -> list[tuple[str, str | None]]:
    found = ChatEventHandler(ROOT, lambda path: None).changes_for(event)
    return [(str(path), None if src is None else str(src)) for path, src in found]


def test_a_move_between_chat_paths_is_one_pair() -> None:
    """The indexer must know that src became dest (the chat moves and keeps its id)."""
    other = "/st/data/default-user/chats/Char/d.jsonl"
    assert changes(FileMovedEvent(CHAT, other)) == [(other, CHAT)]
    moved = "/st/data/default-user/chats/Char2/c.jsonl"  # into another character's folder
    assert changes(FileMovedEvent(CHAT, moved)) == [(moved, CHAT)]
    old, new = "/st/data/default-user/chats/Char", "/st/data/default-user/chats/Char2"
    assert changes(DirMovedEvent(old, new)) == [(new, old)]


def test_a_move_in_or_out_is_a_plain_path() -> None:
    assert changes(FileMovedEvent(TEMP, CHAT)) == [(CHAT, None)]  # a SillyTavern save
    assert changes(FileMovedEvent("/elsewhere/c.jsonl", CHAT)) == [(CHAT, None)]
    assert changes(FileMovedEvent(CHAT, "/elsewhere/c.jsonl")) == [(CHAT, None)]  # it vanished
    backup = "/st/data/default-user/backups/chat_c.jsonl"
    assert changes(FileMovedEvent(CHAT, backup)) == [(CHAT, None)]
    assert changes(FileMovedEvent(CHAT, CHAT + ".bak")) == [(CHAT, None)]


def test_the_sink_gets_the_pair() -> None:
    got: list[tuple[Path, Path | None]] = []

    def sink(path: Path, moved_from: Path | None = None) -> None:
        got.append((path, moved_from))

    handler = ChatEventHandler(ROOT, sink)
    other = "/st/data/default-user/chats/Char/d.jsonl"
    handler.dispatch(FileMovedEvent(CHAT, other))
    handler.dispatch(FileMovedEvent(TEMP, CHAT))
    assert got == [(Path(other), Path(CHAT)), (Path(CHAT), None)]


def test_noise_is_ignored() -> None:
    for event in (
        FileOpenedEvent(CHAT),
        FileClosedNoWriteEvent(CHAT),
        FileCreatedEvent("/st/data/default-user/characters/Char.png"),
        FileCreatedEvent("/st/data/default-user/chats/Char/c.png"),
        FileCreatedEvent("/st/data/default-user/backups/chat_c.jsonl"),
        FileCreatedEvent("/st/data/default-user/chats/_trash/c.jsonl"),
        FileCreatedEvent("/st/data/default-user/chats/Char/.c.jsonl"),
        FileCreatedEvent("/st/data/default-user/chats/Char/deeper/c.jsonl"),
        FileCreatedEvent("/st/data/default-user/settings.json"),
        FileCreatedEvent("/st/data/default-user/c.jsonl"),
        FileCreatedEvent("/st/database/c.jsonl"),
        DirCreatedEvent("/st/data/default-user/characters"),
        DirCreatedEvent("/st/data/default-user/chats/Char/deeper"),
        DirCreatedEvent("/st/data/default-user/backups"),
        DirModifiedEvent("/st/data/default-user"),
    ):
        assert paths(event) == [], event


def test_chat_files_in_every_layout_pass() -> None:
    for chat in (
        "/st/data/default-user/chats/c.jsonl",
        "/st/data/default-user/chats/Char/c.jsonl",
        "/st/data/alice/group chats/g.jsonl",
        "/st/data/chats/Char/c.jsonl",  # a legacy root
        "/st/data/group chats/g.jsonl",
    ):
        assert paths(FileModifiedEvent(chat)) == [chat]
        assert paths(FileClosedEvent(chat)) == [chat]  # an in-place writer's last event


def test_folders_on_the_way_to_chats_pass() -> None:
    for folder in (
        "/st/data",
        "/st/data/alice",
        "/st/data/alice/chats",
        "/st/data/alice/group chats",
        "/st/data/alice/chats/Char",
        "/st/data/chats/Char",
    ):
        assert paths(DirCreatedEvent(folder)) == [folder]
        assert paths(DirDeletedEvent(folder)) == [folder]


def test_root_given_with_a_trailing_separator() -> None:
    assert paths(FileMovedEvent(TEMP, CHAT), root=Path("/st/data/")) == [CHAT]


def test_a_failing_sink_does_not_raise_into_the_observer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def sink(path: Path) -> None:
        raise RuntimeError("full")

    with caplog.at_level(logging.ERROR, logger="sidecar.watch.handler"):
        ChatEventHandler(ROOT, sink).dispatch(FileMovedEvent(TEMP, CHAT))
    assert "full" in caplog.text
