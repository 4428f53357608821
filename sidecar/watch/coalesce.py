"""The per-path debounce between the watcher's events and the indexing worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(slots=True)
class _Pending:
    first: float  # clock time of the first event since the path was last popped
    last: float  # clock time of the latest event


class Coalescer:
    """Per-path debounce: a path is due when no event came for it for `quiet` seconds, or
    `max_wait` seconds after its first pending event, whichever is first. Thread-safe; time
    source injectable for tests (monotonic by default).

    It also carries the wake-up signal between producers and the worker: :meth:`add` and
    :meth:`wake` end a :meth:`wait` early, and a wake-up that comes while nobody waits is kept
    for the next :meth:`wait` (no lost wake-ups between ``pop_due`` and ``wait``).
    """

    def __init__(
        self, quiet: float = 0.3, max_wait: float = 3.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if quiet < 0 or max_wait < 0:
            raise ValueError(f"quiet and max_wait must be >= 0, got {quiet} and {max_wait}")
        self.quiet = quiet
        self.max_wait = max_wait
        self._clock = clock
        self._pending: dict[Path, _Pending] = {}
        self._changed = threading.Condition(threading.Lock())
        self._woken = False

    def add(self, path: Path) -> None:
        """Note an event for ``path`` (the watcher's sink; also used to submit work directly)."""
        now = self._clock()
        with self._changed:
            pending = self._pending.get(path)
            if pending is None:
                self._pending[path] = _Pending(now, now)
            else:
                pending.last = now
            self._woken = True
            self._changed.notify_all()

    def pop_due(self, limit: int | None = None) -> list[Path]:
        """Remove and return the due paths, oldest first event first (at most ``limit``)."""
        now = self._clock()
        due: list[Path] = []
        with self._changed:
            # The dict keeps arrival order, which is first-event order: a popped path that comes
            # back is re-inserted at the end. The scan stops early when ``limit`` is reached, so
            # popping one path at a time from a large, all-due backlog stays cheap.
            for path, pending in self._pending.items():
                if self._due_at(pending) <= now:
                    due.append(path)
                    if limit is not None and len(due) >= limit:
                        break
            for path in due:
                del self._pending[path]
        return due

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
