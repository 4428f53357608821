"""Daemon wiring: resolve locations, build the parts, serve them with uvicorn, talk to systemd."""

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
from sidecar.daemon.service import IndexService
from sidecar.daemon.wiring import create_registry, resolve_data_root, sqlite_options
from sidecar.events import CatalogEvents, EventHub
from sidecar.storage.lock import DatabaseLocked, hold_lock
from sidecar.storage.registry import CATALOG_FILE

log = logging.getLogger("sidecar")


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


async def _watchdog(service: IndexService, notifier: Notifier, interval: float) -> None:
    """Ping systemd's watchdog only while the watcher, worker and databases are healthy."""
    while True:
        await asyncio.sleep(interval)
        healthy, reason = service.health()
        if healthy:
            notifier.watchdog()
        else:
            log.error("unhealthy, not pinging the systemd watchdog: %s", reason)


async def _run(server: _Server, service: IndexService, notifier: Notifier) -> int:
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.02)
    pinger = None
    if server.started:
        notifier.ready("serving; reconciling the index" if service.root else "serving")
        interval = notifier.watchdog_interval()
        if interval:
            pinger = asyncio.create_task(_watchdog(service, notifier, interval))
    await serving
    if pinger is not None:
        pinger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pinger
    return 0 if server.started else 1


def serve(settings: Settings) -> int:
    """Run until SIGINT/SIGTERM; returns the process exit code."""
    settings = resolve_data_root(settings)
    api = settings.api
    log.info("database folder: %s", settings.storage.database_dir)
    if not _is_loopback(api.host) and api.token is None:
        log.warning(
            "listening on %s without api.token: anyone who can reach this port can read and "
            "change every extension's data",
            api.host,
        )
    log.info(
        "serving http://%s:%d%s (token %s)",
        api.host,
        api.port,
        API_PREFIX,
        "required" if api.token else "not required",
    )
    notifier = Notifier()
    registry = create_registry(settings)
    hub = EventHub(
        CatalogEvents(settings.storage.database_dir / CATALOG_FILE, sqlite_options(settings))
    )
    service = IndexService(settings, registry, hub, notifier)
    config = uvicorn.Config(
        create_app(settings, registry, service=service, hub=hub),
        host=api.host,
        port=api.port,
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

    try:
        # One process writes a database folder at a time (the line store's packs are appended
        # by offset): a second daemon, `sidecar index` or `sidecar gc` on it would corrupt them.
        with hold_lock(settings.storage.database_dir):
            return asyncio.run(_run(_Server(config, stopping), service, notifier))
    except DatabaseLocked as exc:
        log.error("%s", exc.message)
        return 1
    finally:
        notifier.close()
