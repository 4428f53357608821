"""A started observer reports real changes: forced polling, and native watching of folder trees
made at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from sidecar.watch import ChatEventHandler, stop_observer
from tests.observer_start import started


@pytest.fixture
def observers() -> Iterator[list[BaseObserver]]:
    started: list[BaseObserver] = []
    yield started
    for observer in started:
        assert stop_observer(observer)


class Sink:
    """A handler sink that records paths and lets a test wait for one."""

    def __init__(self) -> None:
        self.seen: set[Path] = set()
        self.changed = threading.Condition()

    def __call__(self, path: Path) -> None:
        with self.changed:
            self.seen.add(path)
            self.changed.notify_all()

    def wait_for(self, path: Path) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: path in self.seen, 10), self.seen


def test_forced_polling_reports_changes(tmp_path: Path, observers: list[BaseObserver]) -> None:
    root = tmp_path / "data"
    chat = root / "default-user" / "chats" / "Char" / "c.jsonl"
    chat.parent.mkdir(parents=True)
    sink = Sink()
    handler = ChatEventHandler(root, sink)
    assert started(observers, root, "polling", handler=handler) == "polling"
    assert isinstance(observers[0], PollingObserver)
    chat.write_text("{}\n", encoding="utf-8")
    sink.wait_for(chat)


def test_native_watching_survives_folder_trees_made_at_once(
    tmp_path: Path, observers: list[BaseObserver]
) -> None:
    """``mkdir -p`` under a recursive inotify watch makes watchdog warn from its reader thread;
    with warnings as errors (as in this suite) that thread would die and watching would stop."""
    root = tmp_path / "data"
    root.mkdir()
    sink = Sink()
    assert started(observers, root, "native", handler=ChatEventHandler(root, sink)) == "native"
    for n in range(5):  # new users, each a folder tree made at once
        chat = root / f"user{n}" / "chats" / "Char" / "c.jsonl"
        chat.parent.mkdir(parents=True)
        chat.write_text("{}\n", encoding="utf-8")
        sink.wait_for(chat)  # times out once the reader thread has died
