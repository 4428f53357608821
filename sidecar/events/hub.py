"""The change feed's streams: they read the event log (``sidecar.storage.event_log``) by id.

Events are written by the indexer into the catalog, in the transaction of the change they announce;
the hub only reads them. It keeps the newest events in memory (one read of the log per batch of
changes, however many streams follow it) and wakes its streams when :meth:`EventHub.notify` says
the log grew (the indexer, in this process or another, calls it after each commit) or, as a
fallback, when a stream has waited ``poll_seconds``.

A client that resumes after an id the log no longer holds (pruned, or from a catalog that was
replaced) or never issued gets a :class:`Reset` instead of silence: it must re-read what it
caches, then continue with the events after ``Reset.last_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from bisect import bisect_right
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol, TypeAlias

from sidecar.storage.event_log import ChangeEvent

READ_BATCH = 500  # events a stream takes at a time
CACHE_SIZE = 5000  # newest events kept in memory


class EventSource(Protocol):
    """Where the events are: the catalog's log (``sidecar.events.source``)."""

    def bounds(self) -> tuple[int, int]:
        """``(first, last)``: oldest id kept, newest id issued (``first = last + 1``: none)."""
        ...

    def read(self, after: int, limit: int) -> list[tuple[int, ChangeEvent]]: ...


@dataclass(frozen=True)
class Reset:
    """Yielded by :meth:`EventHub.stream` when its position cannot be replayed; the stream goes
    on with the events after ``last_id``."""

    last_id: int


StreamItem: TypeAlias = tuple[int, ChangeEvent] | Reset | None
Batch: TypeAlias = tuple[list[tuple[int, ChangeEvent]], bool, int]


class EventHub:
    """Streams over an :class:`EventSource`. ``notify`` is thread-safe; streams are asyncio
    consumers on the loop given to :meth:`bind`. ``close()`` ends every open stream (call it
    when the server starts shutting down: open streams otherwise keep uvicorn open)."""

    def __init__(
        self, source: EventSource, cache_size: int = CACHE_SIZE, poll_seconds: float = 1.0
    ) -> None:
        if cache_size < 1 or poll_seconds <= 0:
            raise ValueError("cache_size must be positive and poll_seconds above 0")
        self._source = source
        self._poll = poll_seconds
        self._lock = threading.Lock()  # guards the fields below
        self._reading = threading.Lock()  # one reader of the log at a time
        self._cache_size = cache_size
        self._ids: list[int] = []  # the cache: ids and events of the newest events read,
        self._events: list[ChangeEvent] = []
        self._cache_from = 0  # ...every event with an id above this one,...
        self._first, self._last = 1, 0  # ...up to _last; the log's bounds at the last read
        self._read_at = float("-inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_pending = False
        self._closed = False
        self._changed = asyncio.Event()  # replaced by a fresh one at each wake-up

    # -- producers -----------------------------------------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver to streams on ``loop`` (app startup); (re)opens the hub."""
        with self._lock:
            self._loop = loop
            self._closed = False
            self._wake_pending = False
            self._changed = asyncio.Event()

    def notify(self) -> None:
        """The log may have grown: read it and wake the streams. Callable from any thread."""
        if self.refresh(force=True):
            with self._lock:
                self._request_wake()

    def refresh(self, *, force: bool = False) -> bool:
        """Read new events into the cache (at most every ``poll_seconds`` unless ``force``);
        returns whether there were any."""
        with self._reading:
            if not force and time.monotonic() - self._read_at < self._poll:
                return False
            self._read_at = time.monotonic()
            first, last = self._source.bounds()
            with self._lock:
                start = self._last
                if last < start or last - start > self._cache_size:  # far behind, or replaced
                    start = max(last - self._cache_size, first - 1)
                    self._ids, self._events, self._cache_from = [], [], start
            fresh: list[tuple[int, ChangeEvent]] = []
            while start < last:
                batch = self._source.read(start, min(READ_BATCH, last - start))
                if not batch:
                    break
                fresh += batch
                start = batch[-1][0]
            with self._lock:
                grew = last > self._last
                self._ids += [event_id for event_id, _ in fresh]
                self._events += [event for _, event in fresh]
                excess = len(self._ids) - self._cache_size
                if excess > 0:
                    self._cache_from = self._ids[excess - 1]
                    del self._ids[:excess], self._events[:excess]
                self._first, self._last = first, last
            return grew

    def close(self) -> None:
        """End every open stream promptly, and any stream started later at once.

        Takes no lock, so it is safe in a signal handler: one that interrupts the loop's thread
        while it holds the (non-reentrant) lock must not wait for it."""
        self._closed = True
        loop = self._loop
        if loop is not None:
            # An extra wake-up is harmless; a closed loop has no streams left to end.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def last_id(self) -> int:
        """The id of the newest event issued (what a new stream starts after)."""
        self.refresh(force=True)
        with self._lock:
            return self._last

    # -- consumers -----------------------------------------------------------------------------

    def since(self, last_event_id: int) -> tuple[list[tuple[int, ChangeEvent]], bool]:
        """Up to ``READ_BATCH`` events after ``last_event_id``, and whether events after it are
        lost (no longer kept, or it is an id the log never issued)."""
        self.refresh(force=True)
        events, lost, _ = self._read(last_event_id)
        return events, lost

    async def stream(
        self,
        *,
        after: int | None,
        namespace: str | None = None,
        chat_id: str | None = None,
        user: str | None = None,
        heartbeat: float,
        stop: asyncio.Event | None = None,
    ) -> AsyncGenerator[StreamItem, None]:
        """Events after ``after`` (``None``: only events from now), then live ones, filtered
        (:meth:`ChangeEvent.matches`), as ``(id, event)``; ``None`` after ``heartbeat`` seconds
        without anything; a :class:`Reset` when the position cannot be replayed. Returns as soon
        as ``stop`` is set or the hub is closed."""
        if heartbeat <= 0:
            raise ValueError("heartbeat must be positive")
        if after is not None and after < 0:
            raise ValueError("event ids are non-negative")
        loop = self._attach()
        last_id = self.last_id  # reads the log
        cursor = last_id if after is None else after
        quiet_until = loop.time() + heartbeat
        while not self._stopped(stop):
            changed = self._changed  # taken before reading: a wake after the read sets it
            events, lost, last_id = self._read(cursor)
            if lost:
                cursor = last_id
                yield Reset(last_id)
                quiet_until = loop.time() + heartbeat
                continue
            for event_id, event in events:
                if self._stopped(stop):
                    return
                cursor = event_id
                if event.matches(namespace, chat_id, user):
                    yield event_id, event
                    quiet_until = loop.time() + heartbeat
            if loop.time() >= quiet_until:
                yield None
                quiet_until = loop.time() + heartbeat
            elif not events:
                wait = min(quiet_until - loop.time(), self._poll)
                if not await _first_of(changed, stop, wait):
                    self.refresh()  # no wake-up came: look at the log ourselves

    def _stopped(self, stop: asyncio.Event | None) -> bool:
        return self._closed or (stop is not None and stop.is_set())

    def _read(self, cursor: int) -> Batch:
        """Up to ``READ_BATCH`` events after ``cursor``, whether some are lost, the last id."""
        if cursor < 0:
            raise ValueError("event ids are non-negative")
        with self._lock:
            first, last = self._first, self._last
            if cursor >= last:
                return [], cursor > last, last
            if cursor >= self._cache_from:
                start = bisect_right(self._ids, cursor)
                stop = start + READ_BATCH
                batch = list(zip(self._ids[start:stop], self._events[start:stop], strict=True))
                return batch, False, last
        if cursor < first - 1:
            return [], True, last
        # Behind the cache: read the log. Ids follow each other (one writer, AUTOINCREMENT), so
        # a gap after the cursor means the events there were pruned since the last refresh.
        batch = self._source.read(cursor, READ_BATCH)
        if not batch or batch[0][0] != cursor + 1:
            return [], True, last
        return batch, False, last

    def _attach(self) -> asyncio.AbstractEventLoop:
        """The running loop, bound if the hub was not bound yet (or its loop is closed)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._loop is loop:
                return loop
            if self._loop is not None and not self._loop.is_closed():
                raise RuntimeError("EventHub is bound to another event loop")
            self._loop = loop
            self._wake_pending = False
            self._changed = asyncio.Event()
            return loop

    def _request_wake(self) -> None:
        """Schedule one :meth:`_wake` on the loop (with the lock held); coalesces bursts."""
        if self._loop is None or self._wake_pending:
            return
        try:
            self._loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            return
        self._wake_pending = True

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
            changed, self._changed = self._changed, asyncio.Event()
        changed.set()


async def _first_of(changed: asyncio.Event, stop: asyncio.Event | None, timeout: float) -> bool:
    """Wait until ``changed`` or ``stop`` is set (True), or ``timeout`` seconds pass (False)."""
    waiters = [asyncio.ensure_future(changed.wait())]
    if stop is not None:
        waiters.append(asyncio.ensure_future(stop.wait()))
    try:
        done, _ = await asyncio.wait(
            waiters, timeout=max(timeout, 0), return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for waiter in waiters:
            waiter.cancel()
    return bool(done)
