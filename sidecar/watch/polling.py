"""A polling observer that never walks into a symlinked folder.

watchdog's ``PollingObserver`` snapshots the tree with ``os.stat``, which follows symlinks: a
folder link to its own parent (``chats/loop -> .``) is walked again at every level until the
kernel refuses (40 links deep), and two such links make that 2**40 paths, so a snapshot never
ends and watching stops for good. Here a symlink to a folder is recorded as the link itself and
never entered (discovery does not follow folder links either), while a symlink to a file still
reports its target's size and time. The inotify observer does not follow folder links anyway.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from watchdog.observers.polling import PollingObserver


def polling_observer(root: Path, interval: float) -> PollingObserver:
    """A ``PollingObserver`` (the class callers and tests expect) whose snapshots of ``root`` do
    not follow folder symlinks. Its constructor takes no stat function, but every observer
    passes its ``_emitter_kwargs`` to its emitters, and ``PollingEmitter`` takes ``stat``."""
    observer = PollingObserver(timeout=interval)
    kwargs = observer._emitter_kwargs
    if not isinstance(kwargs, dict):  # fail loudly rather than poll a symlink loop forever
        raise TypeError("watchdog's observer no longer takes emitter options")
    kwargs["stat"] = stat_without_folder_links(str(root))
    return observer


def stat_without_folder_links(root: str) -> Callable[[str], os.stat_result]:
    """``os.stat`` for ``root`` and for symlinks to files, ``os.lstat`` for everything else."""

    def stat_entry(path: str) -> os.stat_result:
        if path == root:
            return os.stat(path)
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            try:
                target = os.stat(path)
            except OSError:  # dangling, or a loop
                return info
            if not stat.S_ISDIR(target.st_mode):
                return target
        return info

    return stat_entry
