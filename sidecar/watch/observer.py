"""Building and starting the watchdog observer: native (inotify) where it works, polling where
inotify cannot see changes or cannot start."""

from __future__ import annotations

import errno
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver
from watchdog.utils import UnsupportedLibcError

from sidecar.watch.polling import polling_observer

log = logging.getLogger(__name__)

WatchMode = Literal["auto", "native", "polling"]
MOUNTS_FILE = Path("/proc/self/mounts")

# File systems where inotify stays silent about changes made by someone else: WSL's Windows drives
# (9p, drvfs), network shares, FUSE network mounts, VM and Docker Desktop host shares.
NO_INOTIFY_FS_TYPES = frozenset(
    {
        "9p",
        "drvfs",
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "afs",
        "ceph",
        "glusterfs",
        "lustre",
        "gpfs",
        "davfs",
        "vboxsf",
        "vmhgfs",
        "prl_fs",
        "virtiofs",
        "fakeowner",
        "grpcfuse",
        "fuse.sshfs",
        "fuse.rclone",
        "fuse.s3fs",
        "fuse.davfs2",
        "fuse.glusterfs",
        "fuse.cephfs",
        "fuse.grpcfuse",
        "fuse.vmhgfs-fuse",
    }
)

# What the handler uses; the filter also narrows inotify's mask (no open/close-no-write/attrib
# floods) and drops the synthetic directory "modified" events at the source.
WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]

_ESCAPE = re.compile(r"\\([0-7]{3})")

# watchdog 7 warns when a folder tree made at once (``mkdir -p``, a new SillyTavern user) is
# registered twice, by its parent's recursive walk and by its own creation event. The second
# registration is harmless, but with warnings as errors (``-W error``, ``PYTHONWARNINGS=error``)
# the warning is raised in watchdog's inotify reader thread, which dies: native watching then
# stops without a sign (the observer thread stays alive).
HARMLESS_WATCHDOG_WARNING = r"Callback with id .* already exists for watch"


def filesystem_type(path: Path, mounts_file: Path = MOUNTS_FILE) -> str | None:
    """The type of the file system ``path`` (symlinks resolved) is on, from a ``/proc/mounts``
    style file; None when that file cannot be read (not Linux) or lists no mount for it."""
    try:
        lines = mounts_file.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    except OSError:
        return None
    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[1])
        inside = mount_point in ("/", target) or target.startswith(mount_point.rstrip("/") + "/")
        if inside and (best is None or len(mount_point) >= best[0]):  # later mounts shadow
            best = (len(mount_point), fields[2])
    return None if best is None else best[1]


def start_observer(
    root: Path,
    handler: FileSystemEventHandler,
    mode: WatchMode = "auto",
    polling_interval: float = 1.0,
    *,
    mounts_file: Path = MOUNTS_FILE,
    native_observer: Callable[[], BaseObserver] | None = None,
) -> tuple[BaseObserver, str]:
    """Watch ``root`` recursively with ``handler``; return the started observer and the mode
    actually used, ``"native"`` or ``"polling"``.

    ``auto`` uses the native observer unless the root is on a file system where inotify does not
    see changes (:data:`NO_INOTIFY_FS_TYPES`), or starting it fails for lack of inotify watches or
    instances (``ENOSPC``/``EMFILE``) or support (``ImportError``): then it polls, with a WARNING.
    ``native`` raises instead of falling back. A missing root raises FileNotFoundError.
    """
    if mode not in ("auto", "native", "polling"):
        raise ValueError(f"unknown watch mode {mode!r}")
    root = Path(os.path.abspath(root))
    if not root.exists():
        raise FileNotFoundError(
            errno.ENOENT, f"SillyTavern data root does not exist, cannot watch it: {root}"
        )
    if not root.is_dir():
        raise NotADirectoryError(
            errno.ENOTDIR, f"SillyTavern data root is not a folder, cannot watch it: {root}"
        )
    if mode == "auto":
        fs_type = filesystem_type(root, mounts_file)
        if fs_type in NO_INOTIFY_FS_TYPES:
            log.warning(
                "watch: %s is on a %s file system, where inotify does not see changes; "
                "polling every %g s instead",
                root,
                fs_type,
                polling_interval,
            )
            mode = "polling"
    if mode == "polling":
        return _started(polling_observer(root, polling_interval), root, handler), "polling"
    warnings.filterwarnings(
        "ignore", HARMLESS_WATCHDOG_WARNING, RuntimeWarning, r"watchdog\.observers"
    )
    try:
        return _started((native_observer or _native_observer)(), root, handler), "native"
    except (ImportError, UnsupportedLibcError) as exc:
        if mode == "native":
            raise
        log.warning("watch: no native file watching here (%s); polling %s instead", exc, root)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EMFILE):
            raise
        hint = _inotify_limit_hint(exc)
        if mode == "native":
            raise OSError(exc.errno, f"cannot watch {root} with inotify: {hint}") from exc
        log.warning("watch: cannot watch %s with inotify: %s; polling instead", root, hint)
    return _started(polling_observer(root, polling_interval), root, handler), "polling"


def stop_observer(observer: BaseObserver, timeout: float = 5.0) -> bool:
    """Stop and join ``observer``; return whether its thread ended within ``timeout``."""
    observer.stop()
    if observer.is_alive():
        observer.join(timeout)
    return not observer.is_alive()


def _started(observer: BaseObserver, root: Path, handler: FileSystemEventHandler) -> BaseObserver:
    try:
        observer.schedule(handler, str(root), recursive=True, event_filter=WATCHED_EVENTS)
        observer.start()
    except BaseException:
        stop_observer(observer)  # an InotifyObserver runs a reader thread from its constructor
        raise
    return observer


def _native_observer() -> BaseObserver:
    if sys.platform.startswith("linux"):
        from watchdog.observers.inotify import InotifyObserver  # noqa: PLC0415

        return InotifyObserver()
    from watchdog.observers import Observer  # noqa: PLC0415

    observer = Observer()
    if isinstance(observer, PollingObserver):
        raise ImportError("watchdog has no native observer for this platform")
    return observer


def _inotify_limit_hint(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return (
            f"out of inotify watches ({exc.strerror}); raise fs.inotify.max_user_watches, "
            "e.g. sysctl fs.inotify.max_user_watches=524288"
        )
    return (
        f"out of inotify instances ({exc.strerror}); raise fs.inotify.max_user_instances, "
        "e.g. sysctl fs.inotify.max_user_instances=512"
    )
