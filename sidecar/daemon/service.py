"""The indexing side of ``sidecar run``: watch the data root, index on one worker thread, tell the
change feed. It runs in the indexer process (``sidecar.daemon.indexer_process``).

Start-up order matters: the observer starts before the reconcile pass, so nothing saved during the
pass is missed; the reconcile itself runs on the worker thread, like every later index, so no two
updates of one chat ever overlap. A data folder that does not exist yet is waited for: it is
picked up when it appears (SillyTavern not installed yet, a drive mounted later).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError
from watchdog.observers.api import BaseObserver

from sidecar.config import Settings
from sidecar.daemon.jobs import FeedWaker, IndexJobs, StatusLine
from sidecar.daemon.report import EMPTY_COUNTS, catalog_report
from sidecar.daemon.wiring import backup_schedule, create_indexer, prepare_storage
from sidecar.errors import Damaged
from sidecar.indexer.indexer import ChatIndexer
from sidecar.recovery.backup_schedule import BackupSchedule
from sidecar.recovery.retry import RetryQueue
from sidecar.recovery.startup import Prepared
from sidecar.storage.extension_db import Database
from sidecar.storage.faults import FAULTS
from sidecar.storage.linestore import LineStore
from sidecar.storage.registry import CATALOG_FILE, ExtensionRegistry
from sidecar.watch.coalesce import Coalescer
from sidecar.watch.handler import ChatEventHandler
from sidecar.watch.observer import start_observer, stop_observer
from sidecar.watch.worker import WatchWorker

log = logging.getLogger("sidecar.daemon")

ROOT_POLL_SECONDS = 2.0  # how often a data folder that does not exist yet is looked for


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None)
    return str(original if original is not None else exc)


class IndexService:
    def __init__(
        self,
        settings: Settings,
        registry: ExtensionRegistry,
        hub: FeedWaker,
        notifier: StatusLine,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.hub = hub
        self.notifier = notifier
        self.root = settings.sillytavern.data_root
        self.mode = "disabled"
        self.error: str | None = None
        self.jobs: IndexJobs | None = None
        self.catalog: Database | None = None
        self.line_store: LineStore | None = None
        self.indexer: ChatIndexer | None = None
        self.observer: BaseObserver | None = None
        self.worker: WatchWorker | None = None
        self.coalescer: Coalescer | None = None
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()  # start (maybe from the root waiter) against stop
        self._rescanner: threading.Thread | None = None
        self._root_waiter: threading.Thread | None = None
        self.storage: Prepared | None = None
        self.backups: BackupSchedule | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.backups = backup_schedule(self.settings, self.registry)  # sidecar.recovery.backup
        self.backups.start()
        root = self.root
        if root is None:
            log.warning("no SillyTavern data folder configured: serving the API without indexing")
            return
        if not root.is_dir():
            # The API still serves; /healthz says what is missing until it appears.
            self.error = f"the SillyTavern data folder {root} does not exist; waiting for it"
            log.warning("%s (checked every %g s)", self.error, ROOT_POLL_SECONDS)
            self._root_waiter = threading.Thread(
                target=self._wait_for_root, args=(root,), daemon=True, name="sidecar-root-wait"
            )
            self._root_waiter.start()
            return
        self._start_watching(root)

    def _wait_for_root(self, root: Path) -> None:
        while not self._stopping.wait(ROOT_POLL_SECONDS):
            if root.is_dir():
                log.info("the SillyTavern data folder %s appeared", root)
                self._start_watching(root)
                return

    def _start_watching(self, root: Path) -> None:
        with self._lifecycle:
            if self._stopping.is_set():
                return
            try:
                self._start(root)
                self.error = None
            except OSError as exc:
                # The API still serves; /healthz reports why indexing is not running.
                self.error = f"cannot watch {root}: {exc}"
                log.error("%s", self.error)
            except Damaged as exc:  # the catalog: the API serves, indexing waits for repair
                self.error = exc.message
            except (sqlite3.DatabaseError, SQLAlchemyDatabaseError) as exc:
                self.error = (
                    f"cannot open the catalog {self.settings.storage.database_dir / CATALOG_FILE}"
                    f" ({_reason(exc)}); it may be damaged: run sidecar repair"
                )
                log.error("%s", self.error)

    def _start(self, root: Path) -> None:
        # Storage check and self-repair of derived data (sidecar.recovery.startup).
        self.storage = prepare_storage(self.settings, self.registry)
        self.catalog, self.line_store = self.storage.catalog, self.storage.line_store
        self.indexer = create_indexer(
            self.settings, self.registry, self.catalog, self.line_store, root
        )
        watch = self.settings.watch
        self.coalescer = Coalescer(watch.quiet_period_ms / 1000, watch.max_wait_ms / 1000)
        self.jobs = IndexJobs(
            self.settings,
            self.indexer,
            self.catalog,
            self.hub,
            self.notifier,
            moves_into=self.coalescer.pop_moves_into,
        )
        self.worker = WatchWorker(self.coalescer, self.jobs.process)
        # Chats that failed for a full disk or a damaged file (sidecar.recovery.retry).
        self.jobs.retry = RetryQueue(self.coalescer.add, self.settings.storage.database_dir)
        self.jobs.retry.start()
        handler = ChatEventHandler(root, self.coalescer.add, self.indexer.discovery)
        self.observer, self.mode = start_observer(
            root, handler, watch.mode, watch.polling_interval_ms / 1000
        )
        self.jobs.mode = self.mode
        log.info("watching %s (%s)", root, self.mode)
        if self.mode == "polling":  # a copy and its original's deletion may be a poll apart
            self.indexer.rename_window += watch.polling_interval_ms / 1000
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
        if self.backups is not None:
            self.backups.stop()
        with self._lifecycle:
            self._stop()

    def _stop(self) -> None:
        if self.jobs is not None and self.jobs.retry is not None:
            self.jobs.retry.stop()
        if self.observer is not None:
            stop_observer(self.observer)
        if self.worker is not None and not self.worker.stop(timeout=5):
            log.warning("the indexer did not finish its current file in time; it will resume")
        if self.line_store is not None:
            self.line_store.close()
        if self.catalog is not None:
            self.catalog.close()

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
        return FAULTS.health(self.settings.storage.database_dir)  # damaged files, a full disk

    @property
    def reconciling(self) -> bool:
        """From the start until the first full pass ends."""
        return self.jobs is not None and self.jobs.reconciling

    def live_status(self) -> dict[str, Any]:
        """What the indexer is doing, without reading a database."""
        busy = self.worker.busy_since if self.worker is not None else None
        return {
            "watchMode": self.mode,
            "dataRoot": str(self.root) if self.root else None,
            "reconciling": self.reconciling,
            "queueDepth": len(self.coalescer) if self.coalescer is not None else 0,
            "lastIndexed": self.jobs.last_indexed if self.jobs is not None else None,
            "lagSeconds": round(time.monotonic() - busy, 3) if busy is not None else 0.0,
            "storage": FAULTS.report(self.settings.storage.database_dir),  # of this process
        }

    def status(self) -> dict[str, Any]:
        report = self.live_status() | EMPTY_COUNTS
        if self.catalog is not None:
            with self.catalog.read() as conn:
                report |= catalog_report(conn, self.settings)
        return report
