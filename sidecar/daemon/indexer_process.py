"""The indexer process of ``sidecar run``: watching and indexing on a core of its own, so the API
never waits behind it.

It is started by :class:`sidecar.daemon.supervisor.IndexerSupervisor` as
``python -m sidecar.daemon.indexer_process <fd> <parent pid>`` with one end of a socket pair (and
the database folder's lock, inherited: the folder stays locked until this process has exited
too). The first message it receives is the settings; then it talks in small tuples:

- to the API process: ``("ready", health, status)`` once started; ``("status", health, status)``
  whenever either changes and at least every ``HEARTBEAT_SECONDS`` (so a silent process is
  noticed); ``("events",)`` after an index logged change-feed events in the catalog (the API
  reads them from there); ``("line", text)``, a one-line status for systemd.
- from it: ``("stop",)``; ``("registry",)``, registrations changed (re-read them).

It stops on ``("stop",)``, on SIGTERM or SIGINT (systemd and a terminal's Ctrl-C signal the
whole group), and when the API process is gone (the pipe closes; on Linux the kernel also sends
SIGTERM: ``PR_SET_PDEATHSIG``). Stopping finishes the file being indexed; a kill at any moment
is safe too (the indexer's own crash consistency).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from sidecar.config import Settings
from sidecar.daemon.service import IndexService
from sidecar.daemon.wiring import create_registry
from sidecar.logs import setup_logging

log = logging.getLogger("sidecar.indexer")

STATUS_SECONDS = 0.5  # how often the status is looked at (and sent when it changed)
HEARTBEAT_SECONDS = 2.0  # the status is sent at least this often


class ParentLink:
    """This process's end of the pipe. Sends come from several threads (the index worker, the
    main loop): one at a time. A closed pipe is not an error here: the main loop notices it."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        with self._lock, contextlib.suppress(BrokenPipeError, EOFError, OSError):
            self._conn.send(message)

    def notify(self) -> None:
        """The index logged events: the API process wakes its change-feed streams."""
        self.send(("events",))

    def status(self, text: str) -> None:
        """A one-line status for systemd (the API process owns the notification socket)."""
        self.send(("line", text))


def run_indexer(settings: Settings, conn: Connection) -> None:
    """The process's main function: index until told to stop."""
    setup_logging(settings.log.level)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stop.set())
    link = ParentLink(conn)
    registry = create_registry(settings)
    registry.open()
    service = IndexService(settings, registry, link, link)
    try:
        service.start()
        last = (service.health(), service.live_status())
        link.send(("ready", *last))
        sent_at = time.monotonic()
        while not stop.is_set():
            if conn.poll(STATUS_SECONDS) and not _obey(conn, registry.reload):
                break
            current = (service.health(), service.live_status())
            if current != last or time.monotonic() - sent_at >= HEARTBEAT_SECONDS:
                link.send(("status", *current))
                last, sent_at = current, time.monotonic()
    finally:
        service.stop()
        registry.close()
        log.debug("indexer process stopped")


def _obey(conn: Connection, reload_registry: Any) -> bool:
    """Handle one message from the API process; False when this process must stop."""
    try:
        message = conn.recv()
    except (EOFError, OSError):  # the API process is gone
        return False
    if message[0] == "stop":
        return False
    if message[0] == "registry":
        reload_registry()
    return True


def _die_with_parent(parent: int) -> bool:
    """Ask Linux for SIGTERM when the API process dies; False when it already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the closed pipe still says it
            pass
    return os.getppid() == parent


def main(argv: list[str]) -> int:
    fd, parent = int(argv[0]), int(argv[1])
    if not _die_with_parent(parent):
        return 0
    conn = Connection(fd)
    try:
        settings = conn.recv()
    except (EOFError, OSError):
        return 0
    run_indexer(settings, conn)
    return 0


PR_SET_PDEATHSIG = 1

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
