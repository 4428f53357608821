"""Daemon wiring: resolve locations, build the app, serve it with uvicorn."""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from sidecar.api.app import API_PREFIX, create_app
from sidecar.config import Settings
from sidecar.wiring import resolve_data_root

log = logging.getLogger("sidecar")


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown, so the process would die by the
    signal; a service stopped on request should exit 0 instead."""

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
    config = uvicorn.Config(
        create_app(settings),
        host=api.host,
        port=api.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )
    server = _Server(config)
    server.run()
    return 0 if server.started else 1
