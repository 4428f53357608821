"""A real change-feed log for hub and API tests: the catalog database in a temporary folder, with
events appended the way the indexer does (in a catalog write transaction)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sidecar.events import CatalogEvents, EventHub
from sidecar.events.hub import CACHE_SIZE
from sidecar.storage.catalog import CatalogDatabase
from sidecar.storage.event_log import (
    ChangeEvent,
    append_events,
    event_bounds,
    prune_events,
    read_events,
)
from sidecar.storage.extension_db import Database
from sidecar.storage.registry import CATALOG_FILE
from sidecar.storage.sqlite import SqliteOptions


class Log:
    """The catalog's event log at ``folder``; ``append`` returns the ids given."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / CATALOG_FILE
        self.catalog = CatalogDatabase(self.path, SqliteOptions())
        self.hubs: list[EventHub] = []
        self.sources: list[CatalogEvents] = []

    def append(self, events: Iterable[ChangeEvent]) -> list[int]:
        batch = list(events)
        with self.catalog.write() as conn:
            before = event_bounds(conn)[1]
            append_events(conn, batch)
        return list(range(before + 1, before + 1 + len(batch)))

    def publish(self, hub: EventHub, events: Iterable[ChangeEvent]) -> list[int]:
        """Append, then tell the hub, as the indexer does after its commit."""
        ids = self.append(events)
        hub.notify()
        return ids

    def last(self) -> int:
        with self.catalog.read() as conn:
            return event_bounds(conn)[1]

    def prune(self, keep: int) -> None:
        with self.catalog.write() as conn:
            prune_events(conn, keep)

    def hub(self, cache_size: int = CACHE_SIZE, poll_seconds: float = 1.0) -> EventHub:
        source = CatalogEvents(self.path, SqliteOptions())
        self.sources.append(source)
        hub = EventHub(source, cache_size=cache_size, poll_seconds=poll_seconds)
        self.hubs.append(hub)
        return hub

    def close(self) -> None:
        for source in self.sources:
            source.close()
        self.catalog.close()


def daemon_hub(database_dir: Path) -> EventHub:
    """The hub ``sidecar run`` builds for a database folder."""
    return EventHub(CatalogEvents(database_dir / CATALOG_FILE, SqliteOptions()))


def all_events(catalog: CatalogDatabase | Database | None) -> list[tuple[int, ChangeEvent]]:
    """Every event the catalog's log holds, oldest first."""
    assert catalog is not None
    with catalog.read() as conn:
        return read_events(conn, 0, 1_000_000)
