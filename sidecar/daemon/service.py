"""The indexing side of ``sidecar run``: watch the data root, index on one worker thread, publish.

Start-up order matters: the observer starts before the reconcile pass, so nothing saved during the
pass is missed; the reconcile itself runs on the worker thread, like every later index, so the API
answers while it runs and no two updates of one chat ever overlap.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from watchdog.observers.api import BaseObserver

from sidecar.clock import utc_now_iso
from sidecar.config import Settings
from sidecar.daemon.notify import Notifier
from sidecar.daemon.wiring import create_indexer, open_catalog, open_line_store
from sidecar.events.hub import EventHub
from sidecar.indexer.changes import index_change
from sidecar.indexer.indexer import ChatIndexer
from sidecar.indexer.namespaces import chat_namespaces_in_use
from sidecar.indexer.scan import QUIET_STATUSES, full_scan
from sidecar.indexer.update_state import IndexResult
from sidecar.sillytavern.discovery import ChatLocation, discover_chats, shown_path
from sidecar.storage.catalog_queries import catalog_counts, namespaces_in_use
from sidecar.storage.event_log import prune_events
from sidecar.storage.extension_db import Database
from sidecar.storage.linestore import LineStore
from sidecar.storage.registry import ExtensionRegistry
from sidecar.watch.coalesce import Change, Coalescer
from sidecar.watch.handler import ChatEventHandler
from sidecar.watch.observer import start_observer, stop_observer
from sidecar.watch.worker import WatchWorker

log = logging.getLogger("sidecar.daemon")

PROGRESS_LOG_SECONDS = 5.0
PRUNE_EVERY = 200  # indexed files between two prunings of the event log
PROBLEMS_LOGGED = 5  # per file and index; all of them are in the catalog's problems table


class IndexService:
    def __init__(
        self, settings: Settings, registry: ExtensionRegistry, hub: EventHub, notifier: Notifier
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.hub = hub
        self.notifier = notifier
        self.root = settings.sillytavern.data_root
        self.mode = "disabled"
        self.error: str | None = None
        self.reconciling = False
        self.last_indexed: str | None = None
        self.catalog: Database | None = None
        self.line_store: LineStore | None = None
        self.indexer: ChatIndexer | None = None
        self.observer: BaseObserver | None = None
        self.worker: WatchWorker | None = None
        self.coalescer: Coalescer | None = None
        self._stopping = threading.Event()
        self._rescanner: threading.Thread | None = None
        self._since_prune = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self.root is None:
            log.warning("no SillyTavern data folder configured: serving the API without indexing")
            return
        try:
            self._start(self.root)
        except OSError as exc:
            # The API still serves; /healthz reports why indexing is not running.
            self.error = f"cannot watch {self.root}: {exc}"
            log.error("%s", self.error)

    def _start(self, root: Path) -> None:
        self.catalog = open_catalog(self.settings)
        self.line_store = open_line_store(self.settings)
        self.indexer = create_indexer(
            self.settings, self.registry, self.catalog, self.line_store, root
        )
        watch = self.settings.watch
        self.coalescer = Coalescer(watch.quiet_period_ms / 1000, watch.max_wait_ms / 1000)
        self.worker = WatchWorker(self.coalescer, self._process)
        handler = ChatEventHandler(root, self.coalescer.add, self.indexer.discovery)
        self.observer, self.mode = start_observer(
            root, handler, watch.mode, watch.polling_interval_ms / 1000
        )
        log.info("watching %s (%s)", root, self.mode)
        if self.mode == "polling":  # a copy and its original's deletion may be a poll apart
            self.indexer.rename_window += watch.polling_interval_ms / 1000
        self.reconciling = True  # from now until the first pass ends (it waits a quiet period)
        self.worker.start()
        self.worker.submit(root)  # the reconcile pass, on the worker thread
        if watch.rescan_minutes > 0:
            self._rescanner = threading.Thread(
                target=self._rescan, args=(root, watch.rescan_minutes * 60), daemon=True,
                name="sidecar-rescan",
            )  # fmt: skip
            self._rescanner.start()

    def _rescan(self, root: Path, interval: float) -> None:
        """Queue a full pass every ``interval`` seconds until stopped."""
        while not self._stopping.wait(interval):
            if self.coalescer is not None:
                self.coalescer.add(root)

    def stop(self) -> None:
        self._stopping.set()
        if self.observer is not None:
            stop_observer(self.observer)
        if self.worker is not None and not self.worker.stop(timeout=5):
            log.warning("the indexer did not finish its current file in time; it will resume")
        if self.line_store is not None:
            self.line_store.close()
        if self.catalog is not None:
            self.catalog.close()

    # -- work --------------------------------------------------------------------------------

    def _process(self, change: Change) -> None:
        assert self.indexer is not None
        assert self.coalescer is not None
        if change.path == self.root:
            self._reconcile()
            return
        if change.path.is_dir():  # moves into the folder first, so they keep their chats
            for move in self.coalescer.pop_moves_into(change.path):
                self._process(move)
        for path, result in index_change(
            self.indexer, change.path, change.moved_from, change.observed
        ):
            self._done(result, path)

    def _reconcile(self) -> None:
        assert self.indexer is not None
        self.reconciling = True
        started = time.monotonic()
        locations = list(discover_chats(self.indexer.root, self.indexer.discovery))
        total = len(locations)
        log.info("reconciling %d chat files with the index", total)
        done = {"n": 0, "logged": started}

        def progress(location: ChatLocation, result: IndexResult) -> None:
            done["n"] += 1
            self._done(result, location.path)
            if done["n"] % 20 == 0 or done["n"] == total:
                self.notifier.status(f"reconciling: {done['n']}/{total} chats")
            if time.monotonic() - done["logged"] >= PROGRESS_LOG_SECONDS:
                done["logged"] = time.monotonic()
                log.info("reconciling: %d/%d chats", done["n"], total)

        try:
            summary = full_scan(self.indexer, locations, progress)
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
            return shown_path(path.relative_to(self.root)) if self.root else shown_path(path)
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

    # -- reporting ---------------------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        if self.root is None:
            return True, "ok (no data root: indexing disabled)"
        if self.error is not None:
            return False, self.error
        if self.observer is None or not self.observer.is_alive():
            return False, "the file watcher is not running"
        if self.worker is None or not self.worker.alive:
            return False, "the indexer worker is not running"
        try:
            assert self.catalog is not None
            with self.catalog.read() as conn:
                conn.execute(select(1))
        except Exception as exc:
            return False, f"the catalog database does not answer: {type(exc).__name__}"
        return True, "ok"

    def status(self) -> dict[str, Any]:
        busy = self.worker.busy_since if self.worker is not None else None
        report: dict[str, Any] = {
            "watchMode": self.mode,
            "dataRoot": str(self.root) if self.root else None,
            "reconciling": self.reconciling,
            "queueDepth": len(self.coalescer) if self.coalescer is not None else 0,
            "lastIndexed": self.last_indexed,
            "lagSeconds": round(time.monotonic() - busy, 3) if busy is not None else 0.0,
            "chats": 0,
            "messages": 0,
            "namespaces": [],
            "messageNamespaces": [],
            "chatNamespaces": [],
            "problems": 0,
        }
        if self.catalog is not None and self.indexer is not None:
            with self.catalog.read() as conn:
                counts = catalog_counts(conn)
                in_messages = namespaces_in_use(conn)
                in_chats = chat_namespaces_in_use(conn, self.indexer.settings.policy)
            report["namespaces"] = sorted(set(in_messages) | set(in_chats))
            report["messageNamespaces"], report["chatNamespaces"] = in_messages, in_chats
            report |= {name: counts[name] for name in ("chats", "messages", "problems")}
        return report
