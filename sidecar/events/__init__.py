"""The change feed: events the indexer logs in the catalog, streamed to clients."""

from sidecar.events.hub import EventHub, EventSource, Reset
from sidecar.events.source import CatalogEvents
from sidecar.storage.event_log import CHAT_KINDS, MESSAGE_KINDS, ChangeEvent

__all__ = [
    "CHAT_KINDS",
    "MESSAGE_KINDS",
    "CatalogEvents",
    "ChangeEvent",
    "EventHub",
    "EventSource",
    "Reset",
]
