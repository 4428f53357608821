"""Choosing and starting the observer (with synthetic /proc/mounts): polling where inotify is
blind, fallbacks when native watching cannot start, roots that are refused."""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify import InotifyObserver
from watchdog.observers.polling import PollingObserver

from sidecar.watch import filesystem_type, stop_observer
from sidecar.watch.observer import WatchMode
from tests.observer_start import start, started

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
