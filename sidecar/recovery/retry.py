"""Chats that failed to index for a storage fault (a full disk, a damaged file met mid-way) are
tried again by themselves: with a growing delay (1 s, 2 s, ... at most 30 s), and at once when
writes succeed again or free space grows. No restart, no waiting for the periodic rescan.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from sidecar.storage.faults import FAULTS, FaultBook, free_bytes

log = logging.getLogger("sidecar.daemon")

FIRST_DELAY = 1.0
LONGEST_DELAY = 30.0
_POLL = 0.5  # how often free space is looked at while waiting


class RetryQueue:
    def __init__(
        self,
        submit: Callable[[Path], None],
        folder: Path,
        book: FaultBook = FAULTS,
        first_delay: float = FIRST_DELAY,
        longest_delay: float = LONGEST_DELAY,
    ) -> None:
        self._submit = submit
        self._folder = folder
        self._book = book
        self._first = first_delay
        self._longest = longest_delay
        self._delay = first_delay
        self._pending: dict[Path, None] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, path: Path) -> None:
        with self._lock:
            self._pending[path] = None
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="sidecar-retry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return
            if not self._pending:
                continue
            self._wait_for_room()
            with self._lock:
                paths, self._pending = list(self._pending), {}
            if self._stopping.is_set():
                return
            log.info("retrying %d chats that failed to index", len(paths))
            for path in paths:
                self._submit(path)
            self._delay = min(self._delay * 2, self._longest)
            # An empty queue after a while means the retries worked: start small next time.
            if not self._wake.wait(self._delay) and not self._pending:
                self._delay = self._first
            else:
                self._wake.set()

    def _wait_for_room(self) -> None:
        """Wait up to the current delay, less when space comes back."""
        free = free_bytes(self._folder)
        waited = 0.0
        while waited < self._delay and not self._stopping.is_set():
            if self._book.space_back.is_set() or free_bytes(self._folder) > free + (1 << 20):
                return
            self._stopping.wait(_POLL)
            waited += _POLL
