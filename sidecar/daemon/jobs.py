"""What the indexer does with a path the watcher (or a rescan) hands it, on the worker thread:
index a file, go through a folder, follow a move, or reconcile the whole data root; log what it
found, and tell the change feed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from sidecar.clock import utc_now_iso
from sidecar.config import Settings
from sidecar.errors import SidecarError
from sidecar.indexer.changes import index_change
from sidecar.indexer.indexer import ChatIndexer
from sidecar.indexer.scan import QUIET_STATUSES, full_scan
from sidecar.indexer.update_state import IndexResult
from sidecar.recovery.retry import RetryQueue
from sidecar.sillytavern.discovery import ChatLocation, discover_chats, shown_path
from sidecar.storage.event_log import prune_events
from sidecar.storage.extension_db import Database
from sidecar.watch.coalesce import Change

log = logging.getLogger("sidecar.daemon")

PROGRESS_LOG_SECONDS = 5.0
PRUNE_EVERY = 200  # indexed files between two prunings of the event log
PROBLEMS_LOGGED = 5  # per file and index; all of them are in the catalog's problems table


class FeedWaker(Protocol):
    """Told after each index that logged events (the hub, or the link to the API process)."""

    def notify(self) -> None: ...


class StatusLine(Protocol):
    """Where the one-line status goes (systemd's STATUS=, through the API process)."""

    def status(self, text: str) -> object: ...


class IndexJobs:
    """The indexing work of the daemon (``process`` is the worker's job function)."""

    def __init__(
        self,
        settings: Settings,
        indexer: ChatIndexer,
        catalog: Database,
        hub: FeedWaker,
        notifier: StatusLine,
        *,
        moves_into: Callable[[Path], list[Change]] | None = None,
    ) -> None:
        self.settings = settings
        self._moves_into = moves_into  # the watcher's pending moves into a folder
        self.indexer = indexer
        self.root = indexer.root
        self.catalog = catalog
        self.hub = hub
        self.notifier = notifier
        self.mode = "starting"  # the watch mode, for the status line
        self.reconciling = True  # until the first pass ends
        self.last_indexed: str | None = None
        self._since_prune = 0
        self.retry: RetryQueue | None = None  # set by the service

    def process(self, change: Change) -> None:
        """Do what ``change`` needs: the root means a full pass; anything else is indexed by
        ``index_change`` (a file, a folder, a move of either). A folder's pending moves go first,
        so the chats they bring keep their ids."""
        if change.path == self.root:
            self._reconcile()
            return
        if self._moves_into is not None and change.path.is_dir():
            for move in self._moves_into(change.path):
                self.process(move)
        for path, result in index_change(
            self.indexer, change.path, change.moved_from, change.observed
        ):
            if result.status == "failed" and self.retry is not None:
                self.retry.add(path)  # a storage fault: tried again by itself
            else:
                self._done(result, path)

    def _reconcile(self) -> None:
        self.reconciling = True
        started = time.monotonic()
        locations = list(discover_chats(self.root, self.indexer.discovery))
        total = len(locations)
        log.info("reconciling %d chat files with the index", total)
        done = {"n": 0, "logged": started}

        def progress(location: ChatLocation, result: IndexResult) -> None:
            done["n"] += 1
            if result.status == "failed" and self.retry is not None:
                self.retry.add(location.path)  # tried again by itself (sidecar.recovery.retry)
            else:
                self._done(result, location.path)
            if done["n"] % 20 == 0 or done["n"] == total:
                self.notifier.status(f"reconciling: {done['n']}/{total} chats")
            if time.monotonic() - done["logged"] >= PROGRESS_LOG_SECONDS:
                done["logged"] = time.monotonic()
                log.info("reconciling: %d/%d chats", done["n"], total)

        try:
            summary = full_scan(self.indexer, locations, progress)
        except SidecarError:  # a storage fault after the chats (logged where met): again later
            if self.retry is not None:
                self.retry.add(self.root)
            return
        finally:
            self.reconciling = False
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items()))
        log.info(
            "reconciled %d chats in %.1f s (%s)",
            total, time.monotonic() - started, statuses or "nothing to do",
        )  # fmt: skip
        self.notifier.status(f"watching {total} chats ({self.mode})")

    def _done(self, result: IndexResult, path: Path) -> None:
        if result.status not in QUIET_STATUSES:
            self.last_indexed = utc_now_iso()
            self._logged_events()
        if not result.problems:
            return
        where = self._shown(path)
        for line, reason in result.problems[:PROBLEMS_LOGGED]:
            log.warning("%s%s: %s", where, f":{line}" if line else "", reason)
        if len(result.problems) > PROBLEMS_LOGGED:
            more = len(result.problems) - PROBLEMS_LOGGED
            log.warning("%s: %d more problems (GET /chats/%s)", where, more, result.chat_id)

    def _shown(self, path: Path) -> str:
        """``path`` relative to the data root, as ``sidecar index`` shows it."""
        try:
            return shown_path(path.relative_to(self.root))
        except ValueError:
            return shown_path(path)

    def _logged_events(self) -> None:
        """The index just logged events in the catalog: wake the feed, and now and then keep
        only the newest ``events.buffer_size`` of them."""
        self.hub.notify()
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY and self.catalog is not None:
            self._since_prune = 0
            with self.catalog.write() as conn:
                prune_events(conn, self.settings.events.buffer_size)
