"""From what the indexer did to the events of the change feed."""

from __future__ import annotations

from collections import defaultdict

from sidecar.events.hub import ChangeEvent
from sidecar.indexer.update_state import IndexResult

_CHAT_KINDS = {"new": "new", "missing": "missing", "renamed": "renamed"}


def events_of(result: IndexResult, user: str | None = None) -> list[ChangeEvent]:
    """One event per (position, swipe, namespace, kind) with the keys that changed, plus the
    chat-level events: new, missing, renamed, shrunk; ``user`` owns the chat."""
    chat_id = result.chat_id
    if chat_id is None:
        return []
    events: list[ChangeEvent] = []
    if result.status in _CHAT_KINDS:
        events.append(ChangeEvent(_CHAT_KINDS[result.status], chat_id, user=user))
    if result.shrunk:
        events.append(ChangeEvent("shrunk", chat_id, user=user))
    grouped: dict[tuple[int | None, int | None, str, str], list[str]] = defaultdict(list)
    for change in result.changes:
        grouped[(change.position, change.swipe, change.namespace, change.kind)].append(change.key)
    for (position, swipe, namespace, kind), keys in grouped.items():
        events.append(
            ChangeEvent(kind, chat_id, position, swipe, namespace, tuple(sorted(keys)), user)
        )
    if result.status == "updated" and not result.changes:
        # Messages or text changed without extension data changing (or too much to list).
        events.append(ChangeEvent("updated", chat_id, user=user))
    return events
