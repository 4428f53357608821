"""``sidecar run``: check the database folder and the port, build the parts, serve them with
uvicorn in this process and index in a second one, talk to systemd."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn

from sidecar.api.app import API_PREFIX, create_app
from sidecar.config import Settings
from sidecar.daemon.notify import Notifier
from sidecar.daemon.startup import StartupError, bind, check_database_dir
from sidecar.daemon.supervisor import IndexerSupervisor
from sidecar.daemon.wiring import create_registry, resolve_data_root, sqlite_options
from sidecar.events import CatalogEvents, EventHub
from sidecar.exit_codes import ExitCode
from sidecar.storage.lock import DatabaseLocked, hold_lock
from sidecar.storage.registry import CATALOG_FILE
from sidecar.storage.wal import fold_wal_files

log = logging.getLogger("sidecar")

READY_SECONDS = 30.0  # READY waits this long at most for the indexer process
# A daemon restarted at once after a crash waits this long for its predecessor's indexer
# process (which holds the folder's lock until it has stopped).
LOCK_WAIT_SECONDS = 10.0


class _Server(uvicorn.Server):
    """Two changes to uvicorn: ``on_stop`` runs when shutdown begins (uvicorn waits for open
    connections, such as change-feed streams, before the app's shutdown hooks run, so those
    streams must be ended first), and after a requested stop the process exits 0 instead of
    re-raising the signal."""

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._on_stop()
        await super().shutdown(sockets)

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _watchdog(supervisor: IndexerSupervisor, notifier: Notifier, interval: float) -> None:
    """Ping systemd's watchdog while sidecar is responsive: this event loop runs (it sends the
    ping) and the indexer process answers or is being restarted. A missing data folder or a
    damaged file is not a hang: /healthz reports those, and a restart would not fix them."""
    while True:
        await asyncio.sleep(interval)
        alive, reason = supervisor.responsive()
        if alive:
            notifier.watchdog()
        else:
            log.error("not pinging the systemd watchdog: %s", reason)


async def _run(
    server: _Server, sock: socket.socket, supervisor: IndexerSupervisor, notifier: Notifier
) -> int:
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    pinger = None
    if server.started:
        api = supervisor.settings.api
        log.info(
            "serving http://%s:%d%s (token %s)",
            api.host,
            sock.getsockname()[1],
            API_PREFIX,
            "required" if api.token else "not required",
        )
        if not await asyncio.to_thread(supervisor.wait_ready, READY_SECONDS):
            log.warning(
                "the indexer process is not ready after %g s; serving anyway", READY_SECONDS
            )
        notifier.ready("serving; reconciling the index" if supervisor.root else "serving")
        interval = notifier.watchdog_interval()
        if interval:
            pinger = asyncio.create_task(_watchdog(supervisor, notifier, interval))
    await serving
    if pinger is not None:
        pinger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pinger
    return ExitCode.OK if server.started else ExitCode.FAILURE


def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit code (``sidecar.exit_codes``)."""
    settings = resolve_data_root(settings)
    api = settings.api
    database_dir = settings.storage.database_dir
    log.info("database folder: %s", database_dir)
    if not _is_loopback(api.host) and api.token is None:
        log.warning(
            "listening on %s without api.token: anyone who can reach this port can read and "
            "change every extension's data",
            api.host,
        )
    notifier = Notifier()
    try:
        check_database_dir(database_dir)
        # One process writes a database folder at a time (the line store's packs are appended
        # by offset): a second daemon, `sidecar index` or `sidecar gc` on it would corrupt them.
        with hold_lock(database_dir, wait=LOCK_WAIT_SECONDS) as lock_fd:
            sock = bind(api.host, api.port)
            try:
                return _serve(settings, sock, notifier, lock_fd)
            finally:
                sock.close()
    except DatabaseLocked as exc:
        log.error("%s", exc.message)
        return ExitCode.LOCKED
    except StartupError as exc:
        log.error("%s", exc.message)
        return exc.exit_code
    finally:
        notifier.close()


def _serve(settings: Settings, sock: socket.socket, notifier: Notifier, lock_fd: int) -> int:
    options = sqlite_options(settings)
    catalog = settings.storage.database_dir / CATALOG_FILE
    registry = create_registry(settings)
    events = CatalogEvents(catalog, options)
    hub = EventHub(events)
    supervisor = IndexerSupervisor(settings, hub, notifier, catalog, options, lock_fd=lock_fd)
    registry.on_change.append(supervisor.registry_changed)
    config = uvicorn.Config(
        create_app(settings, registry, service=supervisor, hub=hub),
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )

    def stopping() -> None:
        log.info("stopping")
        notifier.stopping()
        hub.close()
        supervisor.request_stop()  # the indexer stops while uvicorn closes its connections

    # uvicorn's loop choice ("auto": uvloop, installed with uvicorn[standard]), as uvicorn.run
    # would make it: about 30 us less CPU per request than asyncio's own loop.
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        code = runner.run(_run(_Server(config, stopping), sock, supervisor, notifier))
    events.close()
    # Both halves have closed every connection; the lock is still ours (sidecar.storage.wal).
    fold_wal_files(settings.storage.database_dir)
    return code
