"""Watching SillyTavern's data folder: file events in, coalesced paths out.

The pieces, wired by the daemon::

    coalescer = Coalescer(quiet, max_wait)
    worker = WatchWorker(coalescer, process)      # process(change): index a file / expand a folder
    observer, mode = start_observer(root, ChatEventHandler(root, coalescer.add), "auto", 1.0)
    worker.start()

The observer's dispatcher thread only maps events to paths (a move to a pair: the path and where it
came from) and adds them to the coalescer, which wakes the worker; the worker calls ``process``
once per path when the path has been quiet (or has waited long enough). Nothing here imports the
indexer or a database.
"""

from __future__ import annotations

from sidecar.watch.coalesce import Change, Coalescer
from sidecar.watch.handler import ChatEventHandler
from sidecar.watch.observer import (
    NO_INOTIFY_FS_TYPES,
    WatchMode,
    filesystem_type,
    start_observer,
    stop_observer,
)
from sidecar.watch.worker import WatchWorker

__all__ = [
    "NO_INOTIFY_FS_TYPES",
    "Change",
    "ChatEventHandler",
    "Coalescer",
    "WatchMode",
    "WatchWorker",
    "filesystem_type",
    "start_observer",
    "stop_observer",
]
