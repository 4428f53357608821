"""Starting a real watchdog observer in a test (and keeping it, so the test can stop it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.observers.api import BaseObserver

from sidecar.watch import ChatEventHandler, start_observer
from sidecar.watch.observer import WatchMode


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
