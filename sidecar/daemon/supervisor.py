"""The API process's side of the indexer process: start it, restart it when it dies, and answer
for it (health and status) from what it last said.

The indexer runs in its own process (``sidecar.daemon.indexer_process``) so that parsing and
indexing, which are CPU-bound Python, use the second core and never hold up a request. Only one
process writes each thing: the indexer writes the catalog, the line store and the indexed rows;
this process writes the registry and the value-tracker tables (SQLite's locking, WAL and
``BEGIN IMMEDIATE`` serialise the two writers of an extension database).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from sidecar.config import Settings
from sidecar.daemon.indexer_process import HEARTBEAT_SECONDS
from sidecar.daemon.jobs import FeedWaker, StatusLine
from sidecar.daemon.report import EMPTY_COUNTS, catalog_report
from sidecar.errors import SidecarError
from sidecar.query.context import open_catalog_reader
from sidecar.storage.faults import FAULTS, guarded
from sidecar.storage.sqlite import SqliteOptions

log = logging.getLogger("sidecar.daemon")

RESTART_FIRST_DELAY = 1.0  # seconds before restarting a crashed indexer, doubling...
RESTART_MAX_DELAY = 30.0  # ...up to this
STABLE_SECONDS = 60.0  # an indexer up this long has its restart delay reset
SILENT_SECONDS = 5 * HEARTBEAT_SECONDS  # no word for this long: it does not answer
STOP_SECONDS = 8.0  # how long a stop waits for the indexer before killing it


class IndexerSupervisor:
    """The daemon's indexing, as the API sees it: ``start``/``stop``, ``health``, ``status``."""

    def __init__(
        self,
        settings: Settings,
        hub: FeedWaker,
        notifier: StatusLine,
        catalog_path: Path,
        options: SqliteOptions,
        *,
        lock_fd: int | None = None,
    ) -> None:
        self.settings = settings
        self.root = settings.sillytavern.data_root
        self._hub = hub
        self._notifier = notifier
        self._catalog_path = catalog_path
        self._options = options
        self._lock_fd = lock_fd  # the database folder's lock: the indexer holds it too
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._follower: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._health: tuple[bool, str] = (False, "the indexer process is starting")
        self._live: dict[str, Any] = {"watchMode": "starting", "reconciling": True}
        self._heard_at = time.monotonic()
        self._down: str | None = None
        self._catalog: Engine | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self.root is None:
            log.warning("no SillyTavern data folder configured: serving the API without indexing")
            self._ready.set()
            return
        self._spawn()
        self._follower = threading.Thread(target=self._follow, daemon=True, name="sidecar-indexer")
        self._follower.start()

    def wait_ready(self, timeout: float) -> bool:
        """True once the indexer process runs (watching, or waiting for the data folder)."""
        return self._ready.wait(timeout)

    def registry_changed(self) -> None:
        """Registrations changed in this process: the indexer reads them again."""
        self._send(("registry",))

    def request_stop(self) -> None:
        """Ask the indexer to stop now (shutdown began), without waiting for it."""
        self._stopping.set()
        self._send(("stop",))

    def stop(self) -> None:
        self.request_stop()
        process = self._process
        if process is not None and not _ended(process, STOP_SECONDS):
            log.warning("the indexer process did not stop in %g s; ending it", STOP_SECONDS)
            process.terminate()
            if not _ended(process, 2):
                process.kill()
                _ended(process, 2)
        if self._conn is not None:
            self._conn.close()
        if self._catalog is not None:
            self._catalog.dispose()

    # -- the indexer process -----------------------------------------------------------------

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        keep = [theirs.fileno()] + ([self._lock_fd] if self._lock_fd is not None else [])
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "sidecar.daemon.indexer_process", str(theirs.fileno()),
             str(os.getpid())],
            pass_fds=keep,
        )  # fmt: skip
        theirs.close()  # the child has it; keeping it here would hide the child's exit
        conn = Connection(ours.detach())
        conn.send(self.settings)
        with self._lock:
            self._process, self._conn = process, conn
            self._heard_at = time.monotonic()
        log.info("indexer process started (pid %s)", process.pid)

    def _send(self, message: tuple[Any, ...]) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            with self._lock:
                conn.send(message)
        except (BrokenPipeError, EOFError, OSError):
            pass  # it is gone: the follower restarts it

    def _follow(self) -> None:
        """Read what the indexer says; when it dies, restart it with a growing delay."""
        delay = RESTART_FIRST_DELAY
        while not self._stopping.is_set():
            conn, process = self._conn, self._process
            assert conn is not None
            assert process is not None
            try:
                self._handle(conn.recv())
                continue
            except (EOFError, OSError):
                pass
            _ended(process, 5)
            if self._stopping.is_set():
                return
            lived = time.monotonic() - self._heard_at
            delay = RESTART_FIRST_DELAY if lived > STABLE_SECONDS else delay
            self._down = (
                f"the indexer process exited (code {process.returncode}); restarting it in "
                f"{delay:g} s"
            )
            log.error("%s", self._down)
            if self._stopping.wait(delay):
                return
            delay = min(delay * 2, RESTART_MAX_DELAY)
            self._spawn()

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        self._heard_at = time.monotonic()
        if kind in ("ready", "status"):
            self._health, self._live = (bool(message[1][0]), str(message[1][1])), dict(message[2])
            # Files the indexer process found damaged are damaged here too (503 at once).
            FAULTS.adopt(self._catalog_path.parent, self._live.get("storage"))
            if kind == "ready":
                if self._down is not None:
                    log.info("indexer process is back")
                self._down = None
                self._ready.set()
        elif kind == "events":
            self._hub.notify()
        elif kind == "line":
            self._notifier.status(str(message[1]))

    # -- reporting ---------------------------------------------------------------------------

    def health(self) -> tuple[bool, str]:
        if self.root is None:
            return True, "ok (no data root: indexing disabled)"
        if self._down is not None:
            return False, self._down
        silent = time.monotonic() - self._heard_at
        if self._ready.is_set() and silent > SILENT_SECONDS:
            return False, f"the indexer process has not answered for {silent:.0f} s"
        return self._health

    def responsive(self) -> tuple[bool, str]:
        """Not hung: the indexer process answers, or is being restarted (for the watchdog)."""
        silent = time.monotonic() - self._heard_at
        if self.root is None or self._down is not None or silent <= SILENT_SECONDS:
            return True, "ok"
        return False, f"the indexer process has not answered for {silent:.0f} s"

    def status(self) -> dict[str, Any]:
        report: dict[str, Any] = {
            "watchMode": "disabled",
            "dataRoot": str(self.root) if self.root else None,
            "reconciling": False,
            "queueDepth": 0,
            "lastIndexed": None,
            "lagSeconds": 0.0,
        }
        if self.root is not None:
            report |= self._live
        return report | self._counts()

    def _counts(self) -> dict[str, Any]:
        try:
            with guarded(self._catalog_path):  # a damaged catalog: no counts, no 500
                if self._catalog is None:
                    self._catalog = open_catalog_reader(
                        self._catalog_path, self._options, pool_size=1
                    )
                    if self._catalog is None:
                        return dict(EMPTY_COUNTS)
                with self._catalog.begin() as conn:
                    return catalog_report(conn, self.settings)
        except SidecarError as exc:
            return dict(EMPTY_COUNTS) | {"catalogError": exc.message}


def _ended(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True
