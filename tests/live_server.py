"""A real uvicorn server on 127.0.0.1 in a background thread, for end-to-end tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from sidecar.api.app import create_app
from sidecar.config import Settings
from tests import handsoff


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: object, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll ``condition()`` until it is true; fail after ``timeout`` seconds."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """Serve ``create_app(settings)``; yields the base URL and stops the server afterwards."""
    if settings.sillytavern.data_root is not None:
        handsoff.using_root(settings.sillytavern.data_root)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        try:
            return httpx.get(base + "/api/plugins/valuetracker/probe").status_code == 204
        except httpx.TransportError:
            return False

    try:
        wait_until(lambda: server.started and answering())
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)
