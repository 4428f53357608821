"""Storage faults in one place: which files are damaged and why, whether the disk is full.

Every SQLite or OS error met while reading or writing sidecar's files goes through
:func:`classify`: a damaged file (``SQLITE_CORRUPT``, ``SQLITE_NOTADB``, "file is not a
database", a malformed schema, a short or missing pack file) or a full disk (``SQLITE_FULL``,
``ENOSPC``, "database or disk is full"). A full disk is never reported as damage: the file is
fine, there is only no room to grow it.

The :class:`FaultBook` (one per process, :data:`FAULTS`, keyed by absolute path) remembers what
was found, for ``/healthz``, ``/status`` and the command line, and keeps the log readable: a
damaged file is logged once; a full disk once, then at most once a minute with a count.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sidecar.errors import Damaged, DiskFull, SidecarError

log = logging.getLogger("sidecar.storage")

SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 10, 11, 13, 26
_DAMAGE_TEXT = (
    "file is not a database",
    "database disk image is malformed",
    "malformed database schema",
    "database corruption",
)
_FULL_TEXT = ("database or disk is full",)
FULL_LOG_SECONDS = 60.0
CLEAR_SECONDS = 5.0  # a full disk ends with a write succeeding this long after a failure, or
ROOM_BYTES = 32 << 20  # when nothing writes, once this much space (or a tenth) is free
REPAIR_HINT = "run sidecar repair (sidecar repair --dry-run says what it will do)"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapper of the DBAPI error
        current = orig if isinstance(orig, BaseException) else current.__cause__


def classify(exc: BaseException) -> str | None:
    """``"damaged"``, ``"full"``, ``"io"`` (an I/O error: a full disk when there is no room, see
    :func:`guarded`) or None (not a storage fault: a bug or a busy database)."""
    for cause in _causes(exc):
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return "full"
        if isinstance(cause, sqlite3.Error):
            code = getattr(cause, "sqlite_errorcode", None)
            primary = code & 0xFF if isinstance(code, int) else None
            text = str(cause).lower()
            if primary == SQLITE_FULL or any(t in text for t in _FULL_TEXT):
                return "full"
            if primary in (SQLITE_CORRUPT, SQLITE_NOTADB) or any(t in text for t in _DAMAGE_TEXT):
                return "damaged"
            if primary == SQLITE_IOERR:  # creating -wal/-shm on a full disk says only this
                return "io"
    return None


def describe(exc: BaseException) -> str:
    """What SQLite said, without SQL or parameters."""
    for cause in _causes(exc):
        if isinstance(cause, sqlite3.Error | OSError):
            return str(cause).split("\n")[0][:200]
    return type(exc).__name__


@dataclass
class Fault:
    path: Path
    shown: str  # the name a client sees: relative to the database folder
    reason: str
    since: float = field(default_factory=time.time)


@dataclass
class _FullState:
    shown: str
    since: float
    last_failure: float
    failures: int = 1
    logged_at: float = 0.0
    unlogged: int = 0


class FaultBook:
    """What is wrong with sidecar's files right now (see the module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._damaged: dict[Path, Fault] = {}
        self._full: dict[Path, _FullState] = {}
        self.space_back = threading.Event()  # set whenever a disk-full state ends

    # -- damage --------------------------------------------------------------------------------

    def damaged(
        self, path: Path, reason: str, shown: str | None = None, *, announce: bool = True
    ) -> Damaged:
        """Record ``path`` as damaged (logged the first time, unless the caller says it
        itself: ``announce=False``) and return the error to raise."""
        path = path.absolute()
        with self._lock:
            fault = self._damaged.get(path)
            if fault is None:
                fault = Fault(path, shown or path.name, reason)
                self._damaged[path] = fault
                if announce:
                    log.error(
                        "%s is damaged: %s. Only what needs this file is affected (503); %s",
                        path, reason, REPAIR_HINT,
                    )  # fmt: skip
        return damaged_error(fault)

    def adopt(self, folder: Path, report: object) -> None:
        """Take over the damaged files another process's :meth:`report` lists."""
        if isinstance(report, dict):
            for fault in report.get("damaged", []):
                self.damaged(
                    folder / fault["file"], fault["problem"], fault["file"], announce=False
                )

    def damage_of(self, path: Path) -> Fault | None:
        return self._damaged.get(path.absolute()) if self._damaged else None

    def check(self, path: Path) -> None:
        """Raise the recorded :class:`Damaged` of ``path``, if any (a fast 503)."""
        fault = self.damage_of(path)
        if fault is not None:
            raise damaged_error(fault)

    def clear(self, path: Path) -> None:
        with self._lock:
            self._damaged.pop(path.absolute(), None)

    def clear_under(self, folder: Path) -> None:
        with self._lock:
            for path in [p for p in self._damaged if p.is_relative_to(folder.absolute())]:
                del self._damaged[path]

    def damaged_under(self, folder: Path) -> list[Fault]:
        folder = folder.absolute()
        with self._lock:
            faults = [f for p, f in self._damaged.items() if p.is_relative_to(folder)]
        return sorted(faults, key=lambda f: f.shown)

    # -- full disk -----------------------------------------------------------------------------

    def full(self, folder: Path, shown: str) -> DiskFull:
        """Record a write that failed for lack of space in ``folder``; logs once, then at most
        once a minute with the count."""
        folder = folder.absolute()
        now = self._clock()
        with self._lock:
            state = self._full.get(folder)
            if state is None:
                state = _FullState(shown, time.time(), now, logged_at=now)
                self._full[folder] = state
                self.space_back.clear()
                log.error(
                    "disk full: %s (writing %s failed). Reads go on; writes answer 507 and "
                    "failed chats are retried once space is free",
                    folder, shown,
                )  # fmt: skip
            else:
                state.failures += 1
                state.unlogged += 1
                state.last_failure = now
                if now - state.logged_at >= FULL_LOG_SECONDS:
                    log.error(
                        "disk still full: %s (%d more writes failed in the last %.0f s)",
                        folder, state.unlogged, now - state.logged_at,
                    )  # fmt: skip
                    state.logged_at, state.unlogged = now, 0
        return disk_full_error(folder, shown)

    def wrote(self, folder: Path) -> None:
        """A write in ``folder`` succeeded: if the disk was full and no write failed for
        :data:`CLEAR_SECONDS` (small writes still fit in a nearly full disk; a flapping state
        would flood the log), it is not any more."""
        if not self._full:
            return
        self._end_full(folder.absolute(), lambda _state: True)

    def _end_full(self, folder: Path, really: Callable[[_FullState], bool]) -> None:
        with self._lock:
            state = self._full.get(folder)
            if state is None or self._clock() - state.last_failure < CLEAR_SECONDS:
                return
            if not really(state):
                return
            del self._full[folder]
            if not self._full:
                self.space_back.set()
        log.warning("disk has space again: %s (%d writes had failed)", folder, state.failures)

    def full_under(self, folder: Path) -> str | None:
        """The disk-full message for ``folder`` while the disk is full there, else None."""
        folder = folder.absolute()
        if folder in self._full:  # nothing written for a while: look at the free space
            self._end_full(folder, lambda _state: has_room(folder))
        with self._lock:
            state = self._full.get(folder)
        return None if state is None else disk_full_error(folder, state.shown).message

    def health(self, folder: Path) -> tuple[bool, str]:
        """For ``/healthz``: the first damaged file under ``folder``, or the full disk."""
        damaged = self.damaged_under(folder)
        if damaged:
            fault = damaged[0]
            more = f" (and {len(damaged) - 1} more damaged files)" if len(damaged) > 1 else ""
            return False, damaged_error(fault).message + more
        full = self.full_under(folder)
        return (False, full) if full is not None else (True, "ok")

    def report(self, folder: Path) -> dict[str, Any]:
        """For ``/status``: every damaged file, and the full disk."""
        return {
            "damaged": [
                {"file": f.shown, "problem": f.reason, "since": _iso(f.since)}
                for f in self.damaged_under(folder)
            ],
            "diskFull": self.full_under(folder),
        }


def free_bytes(folder: Path) -> int:
    try:
        stat = os.statvfs(folder)
    except OSError:
        return 0
    return stat.f_bavail * stat.f_frsize


def has_room(folder: Path, room: int = ROOM_BYTES) -> bool:
    """Free space of at least ``room`` bytes or a tenth of the file system."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return True  # cannot tell: not a full disk as far as we know
    return stat.f_bavail * stat.f_frsize >= min(room, stat.f_blocks * stat.f_frsize // 10)


def damaged_error(fault: Fault) -> Damaged:
    return Damaged(f"{fault.shown} is damaged ({fault.reason}); {REPAIR_HINT}", fault.shown)


def disk_full_error(folder: Path, shown: str) -> DiskFull:
    return DiskFull(
        f"disk full: {folder} (writing {shown} failed: no space left on the device); "
        "free some space: writes resume by themselves",
        shown,
    )


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


FAULTS = FaultBook()


@contextmanager
def guarded(
    path: Path, *, shown: str | None = None, write: bool = False, book: FaultBook = FAULTS
) -> Iterator[None]:
    """Run a block that uses the file ``path``: a recorded damage answers at once, a storage
    error is classified and raised as :class:`Damaged` or :class:`DiskFull`, and a successful
    write ends a disk-full state."""
    book.check(path)
    try:
        yield
    except SidecarError:
        raise
    except Exception as exc:
        kind = classify(exc)
        if kind == "damaged":
            raise book.damaged(path, describe(exc), shown) from exc
        if kind == "full" or (kind == "io" and not has_room(path.parent, 1 << 20)):
            raise book.full(path.parent, shown or path.name) from exc
        raise
    if write:
        book.wrote(path.parent)
