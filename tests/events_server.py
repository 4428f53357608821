"""A real uvicorn server for the change feed (``GET /events``) over a real event log, and
readers of its Server-Sent Events: Litestar's TestClient buffers whole bodies, so an endless
stream needs a real socket."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from litestar import Litestar, Router
from litestar.di import Provide

from sidecar.api.deps import provide_st_user
from sidecar.api.errors import EXCEPTION_HANDLERS
from sidecar.api.routes import events
from sidecar.events import ChangeEvent, EventHub
from tests.live_server import free_port, wait_until

PREFIX = "/api/plugins/valuetracker"
JOIN_TIMEOUT = 5.0


class ClosingServer(uvicorn.Server):
    """Closes the hub as soon as shutdown begins. uvicorn waits for open connections *before*
    the lifespan shutdown, so an ``on_shutdown`` hook alone runs only after the graceful timeout
    (or never, without one)."""

    def __init__(self, config: uvicorn.Config, hub: EventHub) -> None:
        super().__init__(config)
        self.hub = hub

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.hub.close()
        await super().shutdown(sockets)


class Served:
    def __init__(self, server: uvicorn.Server, port: int) -> None:
        self.server = server
        self.url = f"http://127.0.0.1:{port}{PREFIX}/events"
        self.thread = threading.Thread(target=server.run, daemon=True)

    def stop(self) -> float:
        """Ask the server to exit; seconds until its thread ended (fails if it did not)."""
        started = time.monotonic()
        self.server.should_exit = True
        self.thread.join(JOIN_TIMEOUT)
        assert not self.thread.is_alive(), "the server did not shut down"
        return time.monotonic() - started


def make_app(hub: EventHub, heartbeat: float | None) -> Litestar:
    def bind() -> None:
        hub.bind(asyncio.get_running_loop())

    app = Litestar(
        route_handlers=[
            Router(
                PREFIX,
                route_handlers=[events.router],
                dependencies={"st_user": Provide(provide_st_user, sync_to_thread=False)},
            )
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        on_startup=[bind],
        on_shutdown=[hub.close],
        logging_config=None,
    )
    app.state.events = hub
    if heartbeat is not None:
        app.state.events_heartbeat = heartbeat
    return app


@contextmanager
def serve(
    hub: EventHub,
    *,
    heartbeat: float | None = None,
    close_on_shutdown: bool = True,
    graceful_timeout: float | None = None,
) -> Iterator[Served]:
    port = free_port()
    config = uvicorn.Config(
        make_app(hub, heartbeat),
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on",
        timeout_graceful_shutdown=graceful_timeout,  # type: ignore[arg-type]
    )
    server = ClosingServer(config, hub) if close_on_shutdown else uvicorn.Server(config)
    served = Served(server, port)
    served.thread.start()
    try:
        wait_until(lambda: server.started)
        yield served
    finally:
        if served.thread.is_alive():
            served.stop()


def read_messages(lines: Iterator[str], count: int, *, positions: bool = False) -> list[list[str]]:
    """The next ``count`` SSE messages (each the lines before a blank line); the ``position``
    message that starts every stream is skipped unless ``positions``."""
    messages: list[list[str]] = []
    current: list[str] = []
    while len(messages) < count:
        line = next(lines)
        if line:
            current.append(line)
        else:
            if positions or current[1:2] != ["event: position"]:
                messages.append(current)
            current = []
    return messages


def position(event_id: int) -> list[str]:
    return [f"id: {event_id}", "event: position", f'data: {{"lastEventId":{event_id}}}']


def change(event_id: int, data: str) -> list[str]:
    return [f"id: {event_id}", "event: change", f"data: {data}"]


def ids(messages: list[list[str]]) -> list[int]:
    return [int(message[0].removeprefix("id: ")) for message in messages]


AT = "2026-12-04T10:00:00.000Z"
EV1 = ChangeEvent("added", "chat1", 0, 0, "tracker", ("hp", "mp"), at=AT)
EV2 = ChangeEvent("changed", "chat2", 3, 1, "other", ("x",), at=AT)
EV3 = ChangeEvent("renamed", "chat1", at=AT, message_count=12)


def data1(event_id: int) -> str:
    return (
        f'{{"eventId":{event_id},"chatId":"chat1","position":0,"swipe":0,"namespace":"tracker",'
        f'"keys":["hp","mp"],"kind":"added","at":"{AT}","messageCount":null,"previousCount":null}}'
    )


def data3(event_id: int) -> str:
    return (
        f'{{"eventId":{event_id},"chatId":"chat1","position":null,"swipe":null,"namespace":null,'
        f'"keys":[],"kind":"renamed","at":"{AT}","messageCount":12,"previousCount":null}}'
    )
