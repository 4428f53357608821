"""Choosing and starting the observer (with synthetic /proc/mounts), and the event -> paths map."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

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
from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify import InotifyObserver
from watchdog.observers.polling import PollingObserver

from sidecar.watch import ChatEventHandler, filesystem_type, start_observer, stop_observer
from sidecar.watch.observer import WatchMode

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid 0 0
C:\\134 /mnt/c 9p rw,dirsync,aname=drvfs 0 0
server:/export /mnt/c/nfs\\040share nfs4 rw 0 0
tmpfs /mnt/cache tmpfs rw 0 0
"""


def mounts_with(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "mounts"
    path.write_text(MOUNTS + extra, encoding="utf-8")
    return path


def test_filesystem_type_takes_the_longest_mount_point(tmp_path: Path) -> None:
    mounts = mounts_with(tmp_path)
    assert filesystem_type(Path("/home/me/SillyTavern/data"), mounts) == "ext4"
    assert filesystem_type(Path("/mnt/c/Users/me/SillyTavern/data"), mounts) == "9p"
    assert filesystem_type(Path("/mnt/c"), mounts) == "9p"
    assert filesystem_type(Path("/mnt/cache/st"), mounts) == "tmpfs"  # not under /mnt/c
    assert filesystem_type(Path("/mnt/c/nfs share/st"), mounts) == "nfs4"  # \040 is a space
    assert filesystem_type(Path("/x"), tmp_path / "no-such-file") is None


def test_filesystem_type_later_mounts_shadow_earlier_ones(tmp_path: Path) -> None:
    mounts = mounts_with(tmp_path, "overlay /mnt/c overlay rw 0 0\n")
    assert filesystem_type(Path("/mnt/c/data"), mounts) == "overlay"


# -- start_observer ------------------------------------------------------------------------------


@pytest.fixture
def observers() -> Iterator[list[BaseObserver]]:
    started: list[BaseObserver] = []
    yield started
    for observer in started:
        assert stop_observer(observer)


def start(
    root: Path,
    mode: WatchMode,
    mounts: Path | None = None,
    native: Callable[[], BaseObserver] | None = None,
    handler: ChatEventHandler | None = None,
) -> tuple[BaseObserver, str]:
    return start_observer(
        root,
        handler or ChatEventHandler(root, lambda path: None),
        mode,
        0.1,
        mounts_file=mounts or Path("/proc/self/mounts"),
        native_observer=native,
    )


def started(observers: list[BaseObserver], root: Path, mode: WatchMode, **kwargs: Any) -> str:
    observer, used = start(root, mode, **kwargs)
    observers.append(observer)
    assert observer.is_alive()
    return used


def mount_root_as(tmp_path: Path, fs_type: str) -> tuple[Path, Path]:
    """A real root folder, and a mounts file saying it is a ``fs_type`` mount."""
    root = tmp_path / "data"
    root.mkdir()
    return root, mounts_with(tmp_path, f"remote {root.resolve()} {fs_type} rw 0 0\n")


@pytest.mark.parametrize("fs_type", ["9p", "drvfs", "nfs", "cifs", "fuse.sshfs"])
def test_auto_polls_where_inotify_is_blind(
    tmp_path: Path, fs_type: str, observers: list[BaseObserver], caplog: pytest.LogCaptureFixture
) -> None:
    root, mounts = mount_root_as(tmp_path, fs_type)
    with caplog.at_level(logging.WARNING, logger="sidecar.watch.observer"):
        assert started(observers, root, "auto", mounts=mounts) == "polling"
    assert isinstance(observers[0], PollingObserver)
    assert f"on a {fs_type} file system" in caplog.text


def test_auto_is_native_on_a_local_file_system(
    tmp_path: Path, observers: list[BaseObserver], caplog: pytest.LogCaptureFixture
) -> None:
    root, mounts = mount_root_as(tmp_path, "ext4")
    with caplog.at_level(logging.WARNING):
        assert started(observers, root, "auto", mounts=mounts) == "native"
    assert isinstance(observers[0], InotifyObserver)
    assert caplog.records == []


def test_native_is_used_even_on_a_blind_file_system(
    tmp_path: Path, observers: list[BaseObserver]
) -> None:
    root, mounts = mount_root_as(tmp_path, "9p")
    assert started(observers, root, "native", mounts=mounts) == "native"


class FailingObserver(PollingObserver):
    """Stands in for an inotify observer that cannot start."""

    instances: ClassVar[list[FailingObserver]] = []

    def __init__(self, error: BaseException) -> None:
        super().__init__(timeout=0.1)
        self.error = error
        self.stopped = False
        FailingObserver.instances.append(self)

    def start(self) -> None:
        raise self.error

    def stop(self) -> None:
        self.stopped = True
        super().stop()


ENOSPC = OSError(errno.ENOSPC, "inotify watch limit reached")
EMFILE = OSError(errno.EMFILE, "inotify instance limit reached")
NO_INOTIFY = ImportError("no inotify")


@pytest.mark.parametrize(
    ("error", "hint"),
    [
        (ENOSPC, "fs.inotify.max_user_watches"),
        (EMFILE, "fs.inotify.max_user_instances"),
        (NO_INOTIFY, "no native file watching"),
    ],
    ids=["ENOSPC", "EMFILE", "ImportError"],
)
def test_auto_falls_back_to_polling_when_native_cannot_start(
    tmp_path: Path,
    observers: list[BaseObserver],
    caplog: pytest.LogCaptureFixture,
    error: BaseException,
    hint: str,
) -> None:
    root, mounts = mount_root_as(tmp_path, "ext4")
    FailingObserver.instances.clear()
    with caplog.at_level(logging.WARNING, logger="sidecar.watch.observer"):
        used = started(
            observers, root, "auto", mounts=mounts, native=lambda: FailingObserver(error)
        )
    assert used == "polling"
    assert type(observers[0]) is PollingObserver
    [failed] = FailingObserver.instances
    assert failed.stopped  # the failed observer was cleaned up
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert hint in record.getMessage()


@pytest.mark.parametrize(
    ("mode", "error", "raised", "match"),
    [
        ("native", ENOSPC, OSError, r"fs\.inotify\.max_user_watches"),
        ("native", NO_INOTIFY, ImportError, "no inotify"),
        ("auto", OSError(errno.EIO, "input/output error"), OSError, "input/output"),
    ],
    ids=["native-ENOSPC", "native-ImportError", "auto-EIO"],
)
def test_start_errors_that_are_not_fallbacks_are_raised(
    tmp_path: Path, mode: WatchMode, error: BaseException, raised: type[Exception], match: str
) -> None:
    root, mounts = mount_root_as(tmp_path, "ext4")
    with pytest.raises(raised, match=match) as info:
        start(root, mode, mounts, native=lambda: FailingObserver(error))
    if isinstance(error, OSError):
        assert isinstance(info.value, OSError)
        assert info.value.errno == error.errno


@pytest.mark.parametrize("mode", ["auto", "native", "polling"])
def test_missing_root_is_refused_before_starting(tmp_path: Path, mode: WatchMode) -> None:
    missing = tmp_path / "SillyTavern" / "data"
    before = threading.active_count()
    with pytest.raises(FileNotFoundError, match="data root does not exist") as raised:
        start(missing, mode)
    assert str(missing) in str(raised.value)
    assert threading.active_count() == before  # no observer thread was left behind


def test_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.write_text("", encoding="utf-8")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        start(root, "auto")


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown watch mode"):
        start(tmp_path, "fast")  # type: ignore[arg-type]


def test_a_real_inotify_observer_that_fails_to_start_leaves_no_thread(tmp_path: Path) -> None:
    """The root vanishing between the check and the start: inotify's reader thread is stopped."""
    root = tmp_path / "data"
    root.mkdir()
    before = threading.active_count()

    def vanishing() -> BaseObserver:
        observer = InotifyObserver()
        root.rmdir()
        return observer

    with pytest.raises(FileNotFoundError):
        start(root, "native", native=vanishing)
    assert threading.active_count() == before


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
