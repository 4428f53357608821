"""GET /events over a real uvicorn server: Litestar's TestClient buffers whole bodies, so an
endless stream needs a real socket. Events are published from the test thread."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import uvicorn
from litestar import Litestar, Router
from litestar.di import Provide

from sidecar.api.deps import USER_HEADER, provide_st_user
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


@pytest.fixture
def hub() -> EventHub:
    return EventHub(buffer_size=50)


@pytest.fixture
def served(hub: EventHub) -> Iterator[Served]:
    with serve(hub) as running:
        yield running


def read_messages(lines: Iterator[str], count: int) -> list[list[str]]:
    """The next ``count`` SSE messages (each the lines before a blank line)."""
    messages: list[list[str]] = []
    current: list[str] = []
    while len(messages) < count:
        line = next(lines)
        if line:
            current.append(line)
        else:
            messages.append(current)
            current = []
    return messages


def change(event_id: int, data: str) -> list[str]:
    return [f"id: {event_id}", "event: change", f"data: {data}"]


EV1 = ChangeEvent("added", "chat1", 0, 0, "tracker", ("hp", "mp"))
EV2 = ChangeEvent("changed", "chat2", 3, 1, "other", ("x",))
EV3 = ChangeEvent("renamed", "chat1")
DATA1 = (
    '{"eventId":1,"chatId":"chat1","position":0,"swipe":0,"namespace":"tracker",'
    '"keys":["hp","mp"],"kind":"added"}'
)
DATA3 = (
    '{"eventId":3,"chatId":"chat1","position":null,"swipe":null,"namespace":null,'
    '"keys":[],"kind":"renamed"}'
)


def test_live_events_arrive_as_sse_messages(served: Served, hub: EventHub) -> None:
    with httpx.stream("GET", served.url, timeout=JOIN_TIMEOUT) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        hub.publish([EV1, EV2])
        hub.publish([EV3])
        messages = read_messages(response.iter_lines(), 3)
    assert messages[0] == change(1, DATA1)
    assert messages[1][:2] == ["id: 2", "event: change"]
    assert messages[2] == change(3, DATA3)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?chatId=chat1", [1, 3, 4]),
        ("?namespace=other", [2, 3, 4]),
        ("?namespace=x&chatId=chat1", [3, 4]),
        ("?namespace=tracker", [1, 3, 4]),
    ],
)
def test_filters(served: Served, hub: EventHub, query: str, expected: list[int]) -> None:
    """Events without a namespace pass a namespace filter; the last one passes every filter,
    so anything let through wrongly before it would show."""
    with httpx.stream("GET", served.url + query, timeout=JOIN_TIMEOUT) as response:
        hub.publish([EV1, EV2, EV3, ChangeEvent("updated", "chat1")])
        messages = read_messages(response.iter_lines(), len(expected))
    assert [message[0] for message in messages] == [f"id: {n}" for n in expected]


def test_the_proxy_plugins_user_header_limits_the_feed_to_that_users_chats(
    served: Served, hub: EventHub
) -> None:
    with httpx.stream(
        "GET", served.url, headers={USER_HEADER: "alice"}, timeout=JOIN_TIMEOUT
    ) as response:
        hub.publish([
            ChangeEvent("new", "bobs", user="bob"),
            ChangeEvent("new", "alices", user="alice"),
            ChangeEvent("updated", "alices", user="alice"),
        ])  # fmt: skip
        messages = read_messages(response.iter_lines(), 2)
    assert [message[0] for message in messages] == ["id: 2", "id: 3"]


def test_resume_with_last_event_id_returns_exactly_the_missed_events(
    served: Served, hub: EventHub
) -> None:
    hub.publish([EV1, EV2, EV3, EV1, EV2])
    headers = {"Last-Event-ID": "2"}
    with httpx.stream("GET", served.url, headers=headers, timeout=JOIN_TIMEOUT) as response:
        lines = response.iter_lines()
        missed = read_messages(lines, 3)
        hub.publish([EV3])
        live = read_messages(lines, 1)
    assert [m[0] for m in missed + live] == ["id: 3", "id: 4", "id: 5", "id: 6"]
    assert missed[0] == change(3, DATA3)


def test_resume_with_query_and_the_header_wins(served: Served, hub: EventHub) -> None:
    hub.publish([EV1, EV2, EV3])
    with httpx.stream("GET", served.url + "?lastEventId=1", timeout=JOIN_TIMEOUT) as response:
        assert [m[0] for m in read_messages(response.iter_lines(), 2)] == ["id: 2", "id: 3"]
    headers = {"Last-Event-ID": "2"}
    url = served.url + "?lastEventId=0"
    with httpx.stream("GET", url, headers=headers, timeout=JOIN_TIMEOUT) as response:
        assert [m[0] for m in read_messages(response.iter_lines(), 1)] == ["id: 3"]


def test_unknown_last_event_id_gets_a_reset_then_live_events(served: Served, hub: EventHub) -> None:
    hub.publish([EV1, EV2])
    headers = {"Last-Event-ID": "999"}  # from before a restart
    with httpx.stream("GET", served.url, headers=headers, timeout=JOIN_TIMEOUT) as response:
        lines = response.iter_lines()
        reset = read_messages(lines, 1)
        hub.publish([EV3])
        live = read_messages(lines, 1)
    assert reset == [["id: 2", "event: reset", 'data: {"lastEventId":2}']]
    assert live == [change(3, DATA3)]


def test_heartbeat_comment_arrives() -> None:
    with (
        serve(EventHub(), heartbeat=0.05) as running,
        httpx.stream("GET", running.url, timeout=JOIN_TIMEOUT) as response,
    ):
        assert read_messages(response.iter_lines(), 2) == [[": heartbeat"], [": heartbeat"]]


@pytest.mark.parametrize(
    ("query", "headers", "message"),
    [
        ("", {"Last-Event-ID": "abc"}, "Invalid Last-Event-ID (expected a non-negative integer)"),
        ("", {"Last-Event-ID": "-1"}, "Invalid Last-Event-ID (expected a non-negative integer)"),
        ("?lastEventId=1.5", {}, "Invalid Last-Event-ID (expected a non-negative integer)"),
        ("?chatId=not%20valid", {}, "Invalid chat ID"),
        ("?chatId=" + "a" * 129, {}, "Invalid chat ID"),
        ("?namespace=", {}, "Namespace must be 1 to 512 characters"),
    ],
)
def test_malformed_parameters_are_400(
    served: Served, query: str, headers: dict[str, str], message: str
) -> None:
    response = httpx.get(served.url + query, headers=headers, timeout=JOIN_TIMEOUT)
    assert response.status_code == 400
    assert response.json() == {"error": message}


def test_shutdown_with_an_open_stream_ends_it_and_exits_quickly(hub: EventHub) -> None:
    with (
        serve(hub) as running,
        httpx.stream("GET", running.url, timeout=JOIN_TIMEOUT) as response,
    ):
        lines = response.iter_lines()
        hub.publish([EV1])
        assert read_messages(lines, 1) == [change(1, DATA1)]
        elapsed = running.stop()
        assert list(lines) == []  # the stream ended cleanly: no error, nothing more
    assert elapsed < 2.0
    assert hub.closed


def test_an_on_shutdown_hook_alone_waits_for_the_graceful_timeout(hub: EventHub) -> None:
    """What the daemon must avoid: the hook runs only after uvicorn gave up on the connection,
    which it cuts; without ``timeout_graceful_shutdown`` it would wait forever."""
    with (
        serve(hub, close_on_shutdown=False, graceful_timeout=0.5) as running,
        httpx.stream("GET", running.url, timeout=JOIN_TIMEOUT) as response,
    ):
        lines = response.iter_lines()
        hub.publish([EV1])
        assert read_messages(lines, 1) == [change(1, DATA1)]
        elapsed = running.stop()
        with pytest.raises(httpx.RemoteProtocolError):
            list(lines)
    assert elapsed >= 0.5
    assert hub.closed


def test_the_operation_is_documented() -> None:
    schema = make_app(EventHub(), None).openapi_schema.to_schema()
    operation = schema["paths"][f"{PREFIX}/events"]["get"]
    assert operation["operationId"] == "changeFeed"
    assert {(p["name"], p["in"]) for p in operation["parameters"]} == {
        ("namespace", "query"),
        ("chatId", "query"),
        ("lastEventId", "query"),
        ("last-event-id", "header"),
    }
    assert all(p["description"] for p in operation["parameters"])
    success = operation["responses"]["200"]
    assert list(success["content"]) == ["text/event-stream"]
    assert set(success["headers"]) == {"Cache-Control", "X-Accel-Buffering"}
    error = operation["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
