"""The single worker thread between the coalescer and the indexer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sidecar.watch.coalesce import Change, Coalescer

log = logging.getLogger(__name__)


class WatchWorker:
    """One daemon thread: waits (bounded waits, stop event checked) for due paths from the
    Coalescer and calls ``process(change)`` for each (a :class:`Change`: the path, the path a
    move brought it from, when it was observed), one at a time, oldest first; exceptions from
    ``process`` are logged with traceback and do not kill the thread.

    ``process`` is given by the caller (the daemon passes a function that indexes a file path, or
    expands a directory path into the chat files under it / the catalogued paths under it). A path
    is taken off the coalescer only when its turn comes, so ``len(coalescer)`` is the backlog and
    an event arriving while a path is processed makes it due again later.
    """

    def __init__(
        self,
        coalescer: Coalescer,
        process: Callable[[Change], None],
        name: str = "sidecar-indexer",
        *,
        idle_wait: float = 1.0,
    ) -> None:
        self._coalescer = coalescer
        self._process = process
        self._name = name
        self._idle_wait = idle_wait  # upper bound of one wait, so a stop is always noticed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy_since: float | None = None
        self.processed = 0
        self.failed = 0

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{self._name} was already started")
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def submit(self, path: Path) -> None:
        """Enqueue ``path`` as if an event had come for it (initial reconcile, tests)."""
        self._coalescer.add(path)

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the thread to stop after the current item (the backlog stays in the coalescer),
        wait up to ``timeout`` seconds, and return whether it ended. A ``process`` call that does
        not return in time is abandoned (the thread is a daemon: it cannot block exit)."""
        self._stop.set()
        self._coalescer.wake()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def busy_since(self) -> float | None:
        """``time.monotonic()`` when the current item started, None when idle (lag reporting)."""
        return self._busy_since

    def _run(self) -> None:
        log.debug("%s started", self._name)
        while not self._stop.is_set():
            due = self._coalescer.pop_due_changes(limit=1)
            if not due:
                self._coalescer.wait(self._idle_wait)
                continue
            self._run_one(due[0])
        log.debug("%s stopped", self._name)

    def _run_one(self, change: Change) -> None:
        self._busy_since = time.monotonic()
        try:
            self._process(change)
        except Exception:
            self.failed += 1
            log.exception("%s: processing %s failed", self._name, change.path)
        finally:
            self.processed += 1
            self._busy_since = None
