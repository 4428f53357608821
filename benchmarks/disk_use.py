"""Disk use of a database folder while something writes it: sampled from a thread."""

from __future__ import annotations

import os
import threading
from contextlib import suppress
from pathlib import Path
from types import TracebackType

TARGET_REST_RATIO = 1.5  # database folder at rest, to the data root
TARGET_PEAK_RATIO = 2.0  # at its peak during a full index


def folder_bytes(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            with suppress(OSError):  # a -wal or -shm file removed while we looked
                total += os.stat(os.path.join(dirpath, name)).st_blocks * 512
    return total


class PeakSampler:
    """The largest size ``folder`` reached while the ``with`` block ran (every ``interval``)."""

    def __init__(self, folder: Path, interval: float = 0.02) -> None:
        self.folder = folder
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _sample(self) -> None:
        self.peak = max(self.peak, folder_bytes(self.folder))
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()
