"""A real observer (native and polling) on a real folder, through the coalescer to the worker."""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sidecar.sillytavern.discovery import is_temp_chat_file
from sidecar.watch import (
    Change,
    ChatEventHandler,
    Coalescer,
    WatchWorker,
    start_observer,
    stop_observer,
)
from sidecar.watch.observer import WatchMode
from tests.index_harness import Harness
from tests.st_files import header, message, st_save

TIMEOUT = 10.0

# start_observer ignores this harmless watchdog warning (see HARMLESS_WATCHDOG_WARNING and
# test_watch_observer_live), but pytest resets warning filters between a test's setup and call
# phases and these observers start during setup.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Callback with id .* already exists for watch:RuntimeWarning"
)


class Live:
    """Observer + coalescer + worker on ``root``; ``process`` records every path it gets."""

    def __init__(
        self,
        root: Path,
        mode: WatchMode,
        quiet: float,
        max_wait: float,
        action: Callable[[Path], None] | None,
    ) -> None:
        self.root = root
        self.calls: list[Path] = []
        self.moves: list[tuple[Path, Path]] = []  # (path, moved_from)
        self.changed = threading.Condition()
        self._action = action
        self._barriers = itertools.count()
        self.coalescer = Coalescer(quiet=quiet, max_wait=max_wait)
        self.worker = WatchWorker(self.coalescer, self._process)
        self.observer, self.mode = start_observer(
            root, ChatEventHandler(root, self.coalescer.add), mode, 0.1
        )
        self.worker.start()

    def _process(self, change: Change) -> None:
        if self._action is not None:
            self._action(change.path)
        with self.changed:
            self.calls.append(change.path)
            if change.moved_from is not None:
                self.moves.append((change.path, change.moved_from))
            self.changed.notify_all()

    def close(self) -> None:
        assert self.worker.stop()
        assert stop_observer(self.observer)

    def count(self, path: Path) -> int:
        with self.changed:
            return self.calls.count(path)

    def wait_for(self, predicate: Callable[[list[Path]], bool]) -> None:
        with self.changed:
            ok = self.changed.wait_for(lambda: predicate(self.calls), TIMEOUT)
            assert ok, f"{self.mode}: timed out; process was called with {self.calls}"

    def wait_called(self, path: Path, times: int = 1) -> None:
        self.wait_for(lambda calls: calls.count(path) >= times)

    def barrier(self) -> None:
        """Wait until every event before now has been processed: save a marker chat and wait for
        it; paths come out oldest first, and each folder's events come in order."""
        marker = self.root / "default-user" / "chats" / "Barrier" / f"b{next(self._barriers)}.jsonl"
        st_save(marker, [header()])
        self.wait_called(marker)


@pytest.fixture(params=["native", "polling"])
def mode(request: pytest.FixtureRequest) -> WatchMode:
    value: WatchMode = request.param
    return value


@pytest.fixture
def live_factory(tmp_path: Path, mode: WatchMode) -> Iterator[Callable[..., Live]]:
    started: list[Live] = []

    def build(
        quiet: float = 0.1, max_wait: float = 1.0, action: Callable[[Path], None] | None = None
    ) -> Live:
        root = tmp_path / "data"
        (root / "default-user" / "chats").mkdir(parents=True, exist_ok=True)
        live = Live(root, mode, quiet, max_wait, action)
        started.append(live)
        assert live.mode == mode
        return live

    yield build
    for live in started:
        live.close()


@pytest.fixture
def live(live_factory: Callable[..., Live]) -> Live:
    return live_factory()


def chat_path(live: Live, name: str = "c", character: str = "Char") -> Path:
    return live.root / "default-user" / "chats" / character / f"{name}.jsonl"


def test_st_save_processes_the_chat_and_never_the_temp_file(live: Live) -> None:
    chat = chat_path(live)
    st_save(chat, [header(), message("hello")])  # also creates the folder Char
    live.wait_called(chat)
    live.barrier()
    first = len(live.calls)
    st_save(chat, [header(), message("hello"), message("again", is_user=True)])
    live.wait_called(chat, 2)
    live.barrier()
    assert not [p for p in live.calls if is_temp_chat_file(p.name)]
    assert chat.parent not in live.calls[first:]  # a save does not re-expand its folder


def test_a_burst_of_saves_is_processed_at_most_twice(live_factory: Callable[..., Live]) -> None:
    live = live_factory(quiet=0.3, max_wait=3.0)
    chat = chat_path(live)
    st_save(chat, [header()])
    live.wait_called(chat)
    live.barrier()
    before = live.count(chat)
    started = time.monotonic()
    for n in range(20):  # SillyTavern while editing: 20 saves within one second
        st_save(chat, [header(), *(message(f"m{i}") for i in range(n + 1))])
        time.sleep(0.04)
    assert time.monotonic() - started < 1.5
    live.wait_called(chat, before + 1)
    live.barrier()
    assert 1 <= live.count(chat) - before <= 2, live.calls


def test_delete_processes_the_deleted_path(live: Live) -> None:
    chat = chat_path(live)
    st_save(chat, [header()])
    live.wait_called(chat)
    chat.unlink()
    live.wait_called(chat, 2)


def test_rename_by_copy_and_unlink_processes_both_paths(live: Live) -> None:
    old, new = chat_path(live, "old"), chat_path(live, "new")
    st_save(old, [header(), message("hi")])
    live.wait_called(old)
    shutil.copyfile(old, new)  # SillyTavern's rename
    old.unlink()
    live.wait_called(old, 2)
    live.wait_called(new)


@pytest.mark.parametrize("how", ["rename", "copy-and-delete"])
def test_character_folder_move_reports_both_sides(live: Live, how: str) -> None:
    chats = [chat_path(live, name, "Old") for name in ("a", "b")]
    for chat in chats:
        st_save(chat, [header(), message(chat.name)])
    live.barrier()
    old, new = chats[0].parent, chats[0].parent.with_name("New")
    if how == "rename":
        before = len(live.calls)
        os.rename(old, new)
        # One pair for the folder, or one for each chat in it: either way src became dest.
        live.wait_for(
            lambda _calls: (
                (new, old) in live.moves or all((new / c.name, c) in live.moves for c in chats)
            )
        )
        live.barrier()
        if live.mode == "native":
            # The source is not reported as a vanished path on its own: it is part of the pair.
            # (A poll that lands in the middle of the rename can also see the folder vanish.)
            assert old not in live.calls[before:]
        return
    shutil.copytree(old, new)  # what a character rename in SillyTavern does
    shutil.rmtree(old)

    def covered(calls: list[Path], folder: Path) -> bool:
        """The folder, or every chat under it, was reported."""
        return folder in calls or all(folder / c.name in calls for c in chats)

    live.wait_for(lambda calls: covered(calls, new) and covered(calls, old))


def test_a_chat_renamed_with_mv_is_reported_as_a_pair(live: Live) -> None:
    old = chat_path(live, "old")
    st_save(old, [header(), message("hi")])
    live.wait_called(old)
    same_folder, other_folder = chat_path(live, "new"), chat_path(live, "new", "Other")
    os.rename(old, same_folder)
    live.wait_for(lambda _calls: (same_folder, old) in live.moves)
    other_folder.parent.mkdir()
    live.barrier()
    os.rename(same_folder, other_folder)
    live.wait_for(lambda _calls: (other_folder, same_folder) in live.moves)


def test_new_user_folder_created_after_start(live: Live) -> None:
    user = live.root / "alice"
    chat = user / "chats" / "Bob" / "x.jsonl"
    st_save(chat, [header(), message("hi", name="Bob")])
    # the chat itself, or a folder on its way for the worker to expand
    live.wait_for(lambda calls: bool({chat, *chat.parents} & set(calls) - {live.root}))
    live.barrier()
    assert not [p for p in live.calls if p.suffix == ".png" or is_temp_chat_file(p.name)]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """Requested before ``live_factory`` so it is closed after the worker has stopped."""
    harness = Harness(tmp_path / "data", tmp_path / "databases")
    yield harness
    harness.close()


def test_end_to_end_with_the_indexer(harness: Harness, live_factory: Callable[..., Live]) -> None:
    results: dict[Path, list[str]] = {}

    def index(path: Path) -> None:
        targets = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
        for target in targets:
            result = harness.indexer.index_path(target)
            if result is not None:
                results.setdefault(target, []).append(result.status)

    live = live_factory(action=index)
    chat = chat_path(live, "story", "Seraphina")
    rel = "default-user/chats/Seraphina/story.jsonl"
    st_save(chat, [header(), message("Hello there."), message("Hi!", is_user=True)])
    live.wait_called(chat)
    assert harness.catalog_rows(
        "SELECT state, message_count FROM chats WHERE rel_path = ?", rel
    ) == [("ok", 2)]
    chat.unlink()
    # A polling observer may still report the save once more (indexed as "unchanged") before it
    # sees the deletion: wait for the deletion's own call.
    live.wait_for(lambda _calls: results.get(chat, [])[-1:] == ["missing"])
    assert harness.catalog_rows("SELECT state FROM chats WHERE rel_path = ?", rel) == [("missing",)]
