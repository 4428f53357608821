"""The change feed's log: events stored in the catalog, in the transaction of the change they
announce, read back by id.

Persisting them (rather than numbering them in memory) is what makes the feed lose nothing: ids
never repeat across restarts, and a client coming back with the id of the last event it saw gets
exactly the events after it, as long as they are kept (``events.buffer_size`` newest events), or
else is told to start over (a reset). The first id of a new log is a time-based seed
(microseconds since 1970), so even a catalog created later (a new database folder, a salvaged
catalog) never reissues an id a client may still hold: a stale id is then below the log's range.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Connection

from sidecar.clock import utc_now_iso
from sidecar.storage.sqlite import executemany, fetchall

MESSAGE_KINDS = frozenset({"added", "changed", "removed"})
CHAT_KINDS = frozenset({"new", "missing", "renamed", "shrunk", "updated"})

_INSERT = (
    "INSERT INTO events (chat_id, user, kind, position, swipe, namespace, keys, at, "
    "message_count, previous_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT = (
    "SELECT id, chat_id, user, kind, position, swipe, namespace, keys, at, message_count, "
    "previous_count FROM events WHERE id > ? ORDER BY id LIMIT ?"
)


@dataclass(frozen=True)
class ChangeEvent:
    """One change: a message-level kind (``MESSAGE_KINDS``) names ``position`` and usually
    ``swipe``, ``namespace`` and the changed ``keys`` (chat-level ``chat_metadata`` data has no
    position or swipe); a chat-level kind (``CHAT_KINDS``) concerns the whole chat and carries
    its message count after (``message_count``) and, for ``updated``/``shrunk``, before."""

    kind: str
    chat_id: str
    position: int | None = None
    swipe: int | None = None
    namespace: str | None = None
    keys: tuple[str, ...] = ()
    user: str | None = None  # the SillyTavern user whose chat it is; not sent to clients
    at: str | None = None  # ISO UTC time of the change
    message_count: int | None = None
    previous_count: int | None = None

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
            "at": self.at,
            "messageCount": self.message_count,
            "previousCount": self.previous_count,
        }


def time_seed() -> int:
    """The id before the first event of a new log."""
    return time.time_ns() // 1000


def ensure_event_sequence(conn: Connection) -> None:
    """Inside the transaction that creates the catalog: seed the ids of an empty event log."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute("SELECT 1 FROM sqlite_sequence WHERE name = 'events'")
        if cursor.fetchone() is None and not _has_rows(cursor):
            cursor.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?)", (time_seed(),)
            )
    finally:
        cursor.close()


def _has_rows(cursor: Any) -> bool:
    cursor.execute("SELECT 1 FROM events LIMIT 1")
    return cursor.fetchone() is not None


def append_events(conn: Connection, events: Iterable[ChangeEvent]) -> int:
    """Add events in the caller's (catalog write) transaction; returns how many. An event
    without a time gets the present one."""
    now = utc_now_iso()
    rows = [
        (e.chat_id, e.user, e.kind, e.position, e.swipe, e.namespace,
         msgspec.json.encode(list(e.keys)).decode(), e.at or now, e.message_count,
         e.previous_count)
        for e in events
    ]  # fmt: skip
    return executemany(conn, _INSERT, rows)


def read_events(conn: Connection, after: int, limit: int) -> list[tuple[int, ChangeEvent]]:
    """Up to ``limit`` events with ids above ``after``, oldest first."""
    rows = fetchall(conn, _SELECT, (after, limit))
    return [
        (row[0], ChangeEvent(row[3], row[1], row[4], row[5], row[6],
                             tuple(msgspec.json.decode(row[7])), row[2], row[8], row[9], row[10]))
        for row in rows
    ]  # fmt: skip


def event_bounds(conn: Connection) -> tuple[int, int]:
    """``(first, last)``: the oldest id still kept and the newest id ever issued (``first`` is
    ``last + 1`` when nothing is kept). A client whose last id is below ``first - 1`` missed
    events that are gone; one above ``last`` holds an id this log never issued."""
    last = fetchall(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'events'")
    oldest = fetchall(conn, "SELECT min(id) FROM events")
    newest = int(last[0][0]) if last else 0
    first = oldest[0][0] if oldest and oldest[0][0] is not None else newest + 1
    return int(first), newest


def prune_events(conn: Connection, keep: int) -> int:
    """Keep the newest ``keep`` events; returns how many were removed."""
    _, last = event_bounds(conn)
    return executemany(conn, "DELETE FROM events WHERE id <= ?", [(last - keep,)])
