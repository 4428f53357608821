"""One process at a time writes a database folder: ``<database_dir>/sidecar.lock``.

The daemon, ``sidecar index`` and ``sidecar gc`` each hold an exclusive ``flock`` on the lock file
while they run; ``sidecar status`` and other read-only tools do not take it. The kernel drops the
lock when the process exits, however it exits, so a crash never leaves a stale lock behind. The
file itself is never deleted (deleting it would let two processes lock two different files).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sidecar.errors import Conflict

LOCK_FILE = "sidecar.lock"


class DatabaseLocked(Conflict):
    """Another process holds the lock of the database folder."""


def lock_path(database_dir: Path) -> Path:
    return database_dir / LOCK_FILE


def lock_holder(database_dir: Path) -> int | None:
    """The process id last written to the lock file (informational: it may have exited)."""
    try:
        text = lock_path(database_dir).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


@contextmanager
def hold_lock(database_dir: Path, wait: float = 0.0) -> Iterator[int]:
    """Hold the exclusive lock of ``database_dir`` for the ``with`` block; yields the lock's
    descriptor (a child process that inherits it holds the same lock: ``sidecar run``'s indexer
    process does, so the folder stays locked until the last of them has exited).

    Waits up to ``wait`` seconds for another holder to finish (a daemon restarted right after its
    predecessor died, whose indexer process is still stopping), then raises
    :class:`DatabaseLocked`.
    """
    database_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(database_dir), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    pid = lock_holder(database_dir)
                    who = f" (process {pid})" if pid is not None else ""
                    raise DatabaseLocked(
                        f"another sidecar process{who} is using the database folder {database_dir}"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        try:
            yield fd
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
