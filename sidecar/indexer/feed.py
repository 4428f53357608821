"""What one index of a chat announces on the change feed, written in the same catalog
transaction as the change itself (``sidecar.storage.event_log``): a committed change always has
its events, and an interrupted one has none."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection

from sidecar.indexer.update_state import IndexResult
from sidecar.storage.event_log import ChangeEvent, append_events


def events_of(
    result: IndexResult, *, user: str | None, at: str, previous_count: int | None
) -> list[ChangeEvent]:
    """One event per (position, swipe, namespace, kind) with the keys that changed, then the
    chat-level ones: ``new`` for a chat seen for the first time, else ``updated`` (the chat's
    messages or data changed) and ``shrunk`` when this save dropped most of them."""
    chat_id = result.chat_id
    if chat_id is None:
        return []
    count = result.messages
    if result.status == "new":
        return [ChangeEvent("new", chat_id, user=user, at=at, message_count=count)]
    grouped: dict[tuple[int | None, int | None, str, str], list[str]] = defaultdict(list)
    for change in result.changes:
        grouped[(change.position, change.swipe, change.namespace, change.kind)].append(change.key)
    events = [
        ChangeEvent(kind, chat_id, position, swipe, namespace, tuple(sorted(keys)), user, at)
        for (position, swipe, namespace, kind), keys in grouped.items()
    ]
    events.append(
        ChangeEvent("updated", chat_id, user=user, at=at, message_count=count,
                    previous_count=previous_count)
    )  # fmt: skip
    if result.shrunk:
        events.append(
            ChangeEvent("shrunk", chat_id, user=user, at=at, message_count=count,
                        previous_count=previous_count)
        )  # fmt: skip
    return events


def announce_chat(
    conn: Connection,
    kind: str,
    chat_id: str,
    *,
    user: str | None,
    at: str,
    message_count: int | None,
) -> None:
    """A whole-chat event (``missing``, ``renamed``) in the caller's catalog transaction."""
    append_events(conn, [ChangeEvent(kind, chat_id, user=user, at=at, message_count=message_count)])
