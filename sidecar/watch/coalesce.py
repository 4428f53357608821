"""The per-path debounce between the watcher's events and the indexing worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Change:
    """A path whose turn has come. What happened to it is for the worker to find out (stat), with
    two facts only the watcher knew: ``moved_from``, the path a move brought it from (the file
    or folder there became this one), and ``observed``, the wall-clock time (``time.time()``) of
    its latest event."""

    path: Path
    moved_from: Path | None = None
    observed: float | None = None


@dataclass(slots=True)
class _Pending:
    first: float  # clock time of the first event since the path was last popped
    last: float  # clock time of the latest event
    observed: float  # wall-clock time of the latest event
    moved_from: Path | None = None


class Coalescer:
    """Per-path debounce: a path is due when no event came for it for `quiet` seconds, or
    `max_wait` seconds after its first pending event, whichever is first. Thread-safe; time
    sources injectable for tests (monotonic and wall clock by default).

    A move keeps its pair: ``add(dest, moved_from=src)`` stands for src's events too (src's own
    pending entry goes: the file is at dest now), and a chain of moves before the worker gets to
    them (a -> b, then b -> c) becomes one (a -> c).

    It also carries the wake-up signal between producers and the worker: :meth:`add` and
    :meth:`wake` end a :meth:`wait` early, and a wake-up that comes while nobody waits is kept
    for the next :meth:`wait` (no lost wake-ups between ``pop_due`` and ``wait``).
    """

    def __init__(
        self,
        quiet: float = 0.3,
        max_wait: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if quiet < 0 or max_wait < 0:
            raise ValueError(f"quiet and max_wait must be >= 0, got {quiet} and {max_wait}")
        self.quiet = quiet
        self.max_wait = max_wait
        self._clock = clock
        self._wall_clock = wall_clock
        self._pending: dict[Path, _Pending] = {}
        self._changed = threading.Condition(threading.Lock())
        self._woken = False

    def add(self, path: Path, moved_from: Path | None = None) -> None:
        """Note an event for ``path`` (the watcher's sink; also used to submit work directly);
        ``moved_from``: the event was a move from there."""
        now, wall = self._clock(), self._wall_clock()
        with self._changed:
            if moved_from is not None and moved_from != path:
                moved_from = self._take_source(moved_from, now, wall)
            else:
                moved_from = None
            pending = self._pending.get(path)
            if pending is None:
                self._pending[path] = _Pending(now, now, wall, moved_from)
            else:
                pending.last, pending.observed = now, wall
                if moved_from is not None:
                    if pending.moved_from not in (None, moved_from):
                        # Another move had come here first: its source's file was replaced.
                        self._note(pending.moved_from, now, wall)
                    pending.moved_from = moved_from
            self._woken = True
            self._changed.notify_all()

    def _take_source(self, source: Path, now: float, wall: float) -> Path:
        """The move's real source (for a chain, where the first move came from), taking over the
        source's own pending events."""
        pending = self._pending.get(source)
        if pending is None:
            return source
        if pending.moved_from is None:
            del self._pending[source]  # its events are this move's now
            return source
        origin, pending.moved_from = pending.moved_from, None  # it stays, as a vanished path
        pending.last, pending.observed = now, wall
        return origin

    def _note(self, path: Path, now: float, wall: float) -> None:
        if path not in self._pending:
            self._pending[path] = _Pending(now, now, wall)

    def pop_due(self, limit: int | None = None) -> list[Path]:
        """Remove and return the due paths, oldest first event first (at most ``limit``)."""
        return [change.path for change in self.pop_due_changes(limit)]

    def pop_due_changes(self, limit: int | None = None) -> list[Change]:
        """Like :meth:`pop_due`, with what the watcher knew about each path."""
        now = self._clock()
        due: list[Change] = []
        with self._changed:
            # The dict keeps arrival order, which is first-event order: a popped path that comes
            # back is re-inserted at the end. The scan stops early when ``limit`` is reached, so
            # popping one path at a time from a large, all-due backlog stays cheap.
            for path, pending in self._pending.items():
                if self._due_at(pending) <= now:
                    due.append(Change(path, pending.moved_from, pending.observed))
                    if limit is not None and len(due) >= limit:
                        break
            for change in due:
                del self._pending[change.path]
        return due

    def pop_moves_into(self, folder: Path) -> list[Change]:
        """Remove and return, due or not, the pending moves whose destination is inside
        ``folder``: a folder's expansion must not index a moved file before its move is known
        (``mkdir B && mv A/x B/``: B's creation comes first)."""
        with self._changed:
            moves = [
                Change(path, pending.moved_from, pending.observed)
                for path, pending in self._pending.items()
                if pending.moved_from is not None and path.is_relative_to(folder)
            ]
            for change in moves:
                del self._pending[change.path]
        return moves

    def next_due_in(self) -> float | None:
        """Seconds until the next path is due (0 when one is due now), None when none is pending."""
        with self._changed:
            return self._next_due_in()

    def wait(self, timeout: float) -> None:
        """Block until a path may be due, a path was added, :meth:`wake` was called, or ``timeout``
        seconds passed, whichever is first. Returns at once if woken since the last wait."""
        with self._changed:
            if not self._woken:
                due_in = self._next_due_in()
                delay = timeout if due_in is None else min(timeout, due_in)
                if delay > 0:
                    self._changed.wait(delay)
            self._woken = False

    def wake(self) -> None:
        """End the current (or next) :meth:`wait` early, e.g. to make the worker see a stop."""
        with self._changed:
            self._woken = True
            self._changed.notify_all()

    def __len__(self) -> int:
        with self._changed:
            return len(self._pending)

    def _due_at(self, pending: _Pending) -> float:
        return min(pending.last + self.quiet, pending.first + self.max_wait)

    def _next_due_in(self) -> float | None:
        if not self._pending:
            return None
        due_at = min(self._due_at(p) for p in self._pending.values())
        return max(0.0, due_at - self._clock())
