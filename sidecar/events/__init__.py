"""The change feed: events published by the indexer, streamed to clients."""

from sidecar.events.hub import CHAT_KINDS, MESSAGE_KINDS, ChangeEvent, EventHub, Reset

__all__ = ["CHAT_KINDS", "MESSAGE_KINDS", "ChangeEvent", "EventHub", "Reset"]
