"""A real sidecar daemon in this process for the hostile-file tests: the indexing service with a
real watchdog observer, served by uvicorn on 127.0.0.1, and the HTTP calls the tests make."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from sidecar.api.app import create_app
from sidecar.config import Settings
from sidecar.daemon.notify import Notifier
from sidecar.daemon.service import IndexService
from sidecar.daemon.wiring import create_registry
from tests import handsoff
from tests.event_log_helpers import daemon_hub
from tests.live_server import free_port, wait_until

PREFIX = "/api/plugins/valuetracker"


class Client:
    def __init__(self, base: str, root: Path) -> None:
        self.base = base
        self.root = root  # the data root the daemon watches

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.base + PREFIX + path, params=params, timeout=30)

    def healthy(self) -> bool:
        response = httpx.get(self.base + "/healthz", timeout=10)
        return response.status_code == 200 and response.json()["status"] == "ok"

    def chat_id(self, file_name: str) -> str | None:
        """The chat with this file name (without ``.jsonl``), if indexed and not missing."""
        items = self.get("/chats", limit=1000).json()["items"]
        found = [c["chatId"] for c in items if c["fileName"] == file_name and c["state"] == "ok"]
        assert len(found) <= 1, found
        return found[0] if found else None

    def messages(self, chat_id: str) -> list[tuple[str | None, Any]]:
        """(text, ``ext.n`` of the selected swipe) of every message, in order."""
        items = self.get(f"/chats/{chat_id}/messages", namespace="ext", limit=1000).json()["items"]
        return [(m["text"], (m["data"] or {}).get("n")) for m in items]


@contextmanager
def running_daemon(tmp: Path, root: Path, mode: str) -> Iterator[tuple[Client, IndexService]]:
    """``sidecar run``'s parts on ``root``: yields once the first reconcile has finished."""
    handsoff.using_root(root)
    settings = Settings.model_validate({
        "storage": {"database_dir": str(tmp / "db")},
        "sillytavern": {"data_root": str(root)},
        "watch": {"mode": mode, "quiet_period_ms": 50, "polling_interval_ms": 100,
                  "rescan_minutes": 0},
    })  # fmt: skip
    registry = create_registry(settings)
    hub = daemon_hub(tmp / "db")
    service = IndexService(settings, registry, hub, Notifier({}))
    app = create_app(settings, registry, service=service, hub=hub)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True, name="hostile-uvicorn")
    thread.start()
    client = Client(f"http://127.0.0.1:{port}", root)

    def ready() -> bool:
        try:
            return client.healthy() and not service.reconciling
        except httpx.TransportError:
            return False

    try:
        wait_until(lambda: server.started and ready(), timeout=30)
        yield client, service
    finally:
        server.should_exit = True
        thread.join(timeout=15)
