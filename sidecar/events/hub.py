"""The change feed's memory: a bounded buffer of recent events, and the streams that read it.

The indexer publishes from its worker thread; streams are asyncio consumers on the server's loop.
Every event gets an id 1, 2, 3, ... **per process**: after a restart ids start again at 1, so a
client may come back with an id this process never issued. Such a client, and one whose position
was evicted from the buffer (it fell too far behind, or stayed away too long), gets a
:class:`Reset` instead of silence: it must re-read what it caches, then continue with the events
after ``Reset.last_id``.

The buffer is a bounded deque: a slow subscriber never makes it grow. Each stream keeps only a
cursor (the last id it has seen) and re-reads the buffer by id, a bounded batch at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any, TypeAlias

MESSAGE_KINDS = frozenset({"added", "changed", "removed"})
CHAT_KINDS = frozenset({"new", "missing", "renamed", "shrunk", "updated"})
READ_BATCH = 500  # events a stream copies out of the buffer at a time


@dataclass(frozen=True)
class ChangeEvent:
    """One change: a message-level kind (``MESSAGE_KINDS``) names ``position`` and usually
    ``swipe``, ``namespace`` and the changed ``keys``; a chat-level kind (``CHAT_KINDS``) concerns
    the whole chat and leaves them empty."""

    kind: str
    chat_id: str
    position: int | None = None
    swipe: int | None = None
    namespace: str | None = None
    keys: tuple[str, ...] = ()
    user: str | None = None  # the SillyTavern user whose chat it is; not sent to clients

    def __post_init__(self) -> None:
        if self.kind not in MESSAGE_KINDS and self.kind not in CHAT_KINDS:
            raise ValueError(f"unknown change kind: {self.kind!r}")

    def matches(self, namespace: str | None, chat_id: str | None, user: str | None = None) -> bool:
        """The feed's filters. An event without a namespace concerns every namespace (a chat
        that vanished, a message removed), so it passes any namespace filter. With ``user``
        (the proxy plugin's ``x-sillytavern-user``), only that user's chats pass."""
        if chat_id is not None and self.chat_id != chat_id:
            return False
        if user is not None and self.user != user:
            return False
        return namespace is None or self.namespace is None or self.namespace == namespace

    def payload(self, event_id: int) -> dict[str, Any]:
        """The JSON object clients receive (camelCase)."""
        return {
            "eventId": event_id,
            "chatId": self.chat_id,
            "position": self.position,
            "swipe": self.swipe,
            "namespace": self.namespace,
            "keys": list(self.keys),
            "kind": self.kind,
        }


@dataclass(frozen=True)
class Reset:
    """Yielded by :meth:`EventHub.stream` when its position is not in the buffer (evicted, or an
    id from another process); the stream goes on with the events after ``last_id``."""

    last_id: int


StreamItem: TypeAlias = tuple[int, ChangeEvent] | Reset | None


class EventHub:
    """Bounded in-memory buffer of recent events with increasing ids.

    Publishing is thread-safe; subscribers are asyncio consumers on the loop given to
    :meth:`bind`. ``close()`` ends every open stream (call it when the server starts shutting
    down: open streams otherwise keep their connections, and uvicorn, open).
    """

    def __init__(self, buffer_size: int = 10_000) -> None:
        if buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        self._lock = threading.Lock()
        self._buffer: deque[tuple[int, ChangeEvent]] = deque(maxlen=buffer_size)
        self._last_id = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_pending = False
        self._closed = False
        self._changed = asyncio.Event()  # replaced by a fresh one at each wake-up

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver to streams on ``loop`` (app startup); (re)opens the hub. Events published
        before are kept in the buffer."""
        with self._lock:
            self._loop = loop
            self._closed = False
            self._wake_pending = False
            self._changed = asyncio.Event()

    def publish(self, events: Iterable[ChangeEvent]) -> None:
        """Append events with the next ids and wake the streams; callable from any thread."""
        batch = list(events)  # outside the lock: the iterable may be slow
        if not batch:
            return
        with self._lock:
            for event in batch:
                self._last_id += 1
                self._buffer.append((self._last_id, event))
            self._request_wake()

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
        """The id of the newest event (0 before the first)."""
        with self._lock:
            return self._last_id

    def since(self, last_event_id: int) -> tuple[list[tuple[int, ChangeEvent]], bool]:
        """Buffered events with ids above ``last_event_id``, and whether some events after it
        are lost: evicted from the buffer, or ``last_event_id`` is beyond :attr:`last_id` (an id
        from before a restart)."""
        events, lost, _ = self._read(last_event_id, None)
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
        """Buffered events after ``after`` (``None``: only events published from now), then live
        ones, filtered (:meth:`ChangeEvent.matches`), as ``(id, event)``.

        Yields ``None`` after ``heartbeat`` seconds without yielding anything, and a
        :class:`Reset` when the position is not in the buffer (then continues after
        ``Reset.last_id``). Returns as soon as ``stop`` is set or the hub is closed.
        """
        if heartbeat <= 0:
            raise ValueError("heartbeat must be positive")
        if after is not None and after < 0:
            raise ValueError("event ids are non-negative")
        loop = self._attach()
        cursor = self.last_id if after is None else after
        quiet_until = loop.time() + heartbeat
        while not self._stopped(stop):
            changed = self._changed  # taken before reading: a publish after the read sets it
            events, lost, last_id = self._read(cursor, READ_BATCH)
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
                await _first_of(changed, stop, quiet_until - loop.time())

    def _stopped(self, stop: asyncio.Event | None) -> bool:
        return self._closed or (stop is not None and stop.is_set())

    def _read(
        self, cursor: int, limit: int | None
    ) -> tuple[list[tuple[int, ChangeEvent]], bool, int]:
        """Up to ``limit`` buffered events after ``cursor``, whether some are lost, last id."""
        if cursor < 0:
            raise ValueError("event ids are non-negative")
        with self._lock:
            last_id = self._last_id
            if cursor >= last_id:
                return [], cursor > last_id, last_id
            oldest = self._buffer[0][0]  # ids in the buffer are consecutive, ending at last_id
            start = max(cursor + 1 - oldest, 0)
            stop = None if limit is None else start + limit
            return list(islice(self._buffer, start, stop)), cursor < oldest - 1, last_id

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


async def _first_of(changed: asyncio.Event, stop: asyncio.Event | None, timeout: float) -> None:
    """Wait until ``changed`` or ``stop`` is set, or ``timeout`` seconds pass."""
    waiters = [asyncio.ensure_future(changed.wait())]
    if stop is not None:
        waiters.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
