"""GET /events over a real uvicorn server: Litestar's TestClient buffers whole bodies, so an
endless stream needs a real socket. Events are logged in a real catalog from the test thread,
as the indexer logs them, and the hub is told."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from litestar import Litestar, Router
from litestar.di import Provide

from sidecar.api.deps import USER_HEADER, provide_st_user
from sidecar.api.errors import EXCEPTION_HANDLERS
from sidecar.api.routes import events
from sidecar.events import ChangeEvent, EventHub
from tests.event_log_helpers import Log
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
def log(tmp_path: Path) -> Iterator[Log]:
    opened = Log(tmp_path / "db")
    yield opened
    opened.close()


@pytest.fixture
def hub(log: Log) -> EventHub:
    return log.hub()


@pytest.fixture
def served(hub: EventHub) -> Iterator[Served]:
    with serve(hub) as running:
        yield running


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


def test_live_events_arrive_as_sse_messages(served: Served, hub: EventHub, log: Log) -> None:
    with httpx.stream("GET", served.url, timeout=JOIN_TIMEOUT) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        logged = log.publish(hub, [EV1, EV2])
        logged += log.publish(hub, [EV3])
        messages = read_messages(response.iter_lines(), 3)
    assert messages[0] == change(logged[0], data1(logged[0]))
    assert messages[1][:2] == [f"id: {logged[1]}", "event: change"]
    assert messages[2] == change(logged[2], data3(logged[2]))


def test_every_stream_starts_with_its_position(served: Served, hub: EventHub, log: Log) -> None:
    """So that a client cut off before any change arrives resumes from where it started."""
    logged = log.publish(hub, [EV1, EV2])
    with httpx.stream("GET", served.url, timeout=JOIN_TIMEOUT) as response:
        assert read_messages(response.iter_lines(), 1, positions=True) == [position(logged[-1])]
    headers = {"Last-Event-ID": str(logged[0])}
    with httpx.stream("GET", served.url, headers=headers, timeout=JOIN_TIMEOUT) as response:
        first, second = read_messages(response.iter_lines(), 2, positions=True)
    assert first == position(logged[0])
    assert second == change(logged[1], second[2].removeprefix("data: "))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?chatId=chat1", [0, 2, 3]),
        ("?namespace=other", [1, 2, 3]),
        ("?namespace=x&chatId=chat1", [2, 3]),
        ("?namespace=tracker", [0, 2, 3]),
    ],
)
def test_filters(served: Served, hub: EventHub, log: Log, query: str, expected: list[int]) -> None:
    """Events without a namespace pass a namespace filter; the last one passes every filter,
    so anything let through wrongly before it would show."""
    with httpx.stream("GET", served.url + query, timeout=JOIN_TIMEOUT) as response:
        logged = log.publish(hub, [EV1, EV2, EV3, ChangeEvent("updated", "chat1", at=AT)])
        messages = read_messages(response.iter_lines(), len(expected))
    assert ids(messages) == [logged[n] for n in expected]


def test_the_proxy_plugins_user_header_limits_the_feed_to_that_users_chats(
    served: Served, hub: EventHub, log: Log
) -> None:
    with httpx.stream(
        "GET", served.url, headers={USER_HEADER: "alice"}, timeout=JOIN_TIMEOUT
    ) as response:
        logged = log.publish(hub, [
            ChangeEvent("new", "bobs", user="bob"),
            ChangeEvent("new", "alices", user="alice"),
            ChangeEvent("updated", "alices", user="alice"),
        ])  # fmt: skip
        messages = read_messages(response.iter_lines(), 2)
    assert ids(messages) == logged[1:]


def test_resume_with_last_event_id_returns_exactly_the_missed_events(
    served: Served, hub: EventHub, log: Log
) -> None:
    logged = log.publish(hub, [EV1, EV2, EV3, EV1, EV2])
    headers = {"Last-Event-ID": str(logged[1])}
    with httpx.stream("GET", served.url, headers=headers, timeout=JOIN_TIMEOUT) as response:
        lines = response.iter_lines()
        missed = read_messages(lines, 3)
        logged += log.publish(hub, [EV3])
        live = read_messages(lines, 1)
    assert ids(missed + live) == logged[2:]
    assert missed[0] == change(logged[2], data3(logged[2]))


def test_resume_after_a_restart_replays_what_the_previous_process_logged(
    tmp_path: Path, log: Log
) -> None:
    """The client saw some events of one sidecar process; the next process (a new hub on the
    same catalog) replays exactly those it missed, with the same ids."""
    first = log.hub()
    with serve(first) as running, httpx.stream("GET", running.url, timeout=JOIN_TIMEOUT) as resp:
        seen = log.publish(first, [EV1, EV2])
        assert ids(read_messages(resp.iter_lines(), 2)) == seen
    missed = log.append([EV3, EV1])  # logged while the client was away
    restarted = log.hub()
    headers = {"Last-Event-ID": str(seen[-1])}
    with (
        serve(restarted) as running,
        httpx.stream("GET", running.url, headers=headers, timeout=JOIN_TIMEOUT) as response,
    ):
        assert ids(read_messages(response.iter_lines(), 2)) == missed


def test_resume_with_query_and_the_header_wins(served: Served, hub: EventHub, log: Log) -> None:
    logged = log.publish(hub, [EV1, EV2, EV3])
    url = f"{served.url}?lastEventId={logged[0]}"
    with httpx.stream("GET", url, timeout=JOIN_TIMEOUT) as response:
        assert ids(read_messages(response.iter_lines(), 2)) == logged[1:]
    headers = {"Last-Event-ID": str(logged[1])}
    url = f"{served.url}?lastEventId={logged[0] - 1}"
    with httpx.stream("GET", url, headers=headers, timeout=JOIN_TIMEOUT) as response:
        assert ids(read_messages(response.iter_lines(), 1)) == logged[2:]


@pytest.mark.parametrize("stale", ["2", "far-ahead"])
def test_unknown_last_event_id_gets_a_reset_then_live_events(
    served: Served, hub: EventHub, log: Log, stale: str
) -> None:
    """``2``: an id of an old per-process numbering; far ahead: an id this log never issued."""
    logged = log.publish(hub, [EV1, EV2])
    last = str(logged[-1] + 999) if stale == "far-ahead" else stale
    with httpx.stream(
        "GET", served.url, headers={"Last-Event-ID": last}, timeout=JOIN_TIMEOUT
    ) as response:
        lines = response.iter_lines()
        reset = read_messages(lines, 1)
        logged += log.publish(hub, [EV3])
        live = read_messages(lines, 1)
    assert reset == [[f"id: {logged[1]}", "event: reset", f'data: {{"lastEventId":{logged[1]}}}']]
    assert live == [change(logged[2], data3(logged[2]))]


def test_heartbeat_comment_arrives(log: Log) -> None:
    with (
        serve(log.hub(), heartbeat=0.05) as running,
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


def test_shutdown_with_an_open_stream_ends_it_and_exits_quickly(hub: EventHub, log: Log) -> None:
    with (
        serve(hub) as running,
        httpx.stream("GET", running.url, timeout=JOIN_TIMEOUT) as response,
    ):
        lines = response.iter_lines()
        logged = log.publish(hub, [EV1])
        assert read_messages(lines, 1) == [change(logged[0], data1(logged[0]))]
        elapsed = running.stop()
        assert list(lines) == []  # the stream ended cleanly: no error, nothing more
    assert elapsed < 2.0
    assert hub.closed


def test_an_on_shutdown_hook_alone_waits_for_the_graceful_timeout(hub: EventHub, log: Log) -> None:
    """What the daemon must avoid: the hook runs only after uvicorn gave up on the connection,
    which it cuts; without ``timeout_graceful_shutdown`` it would wait forever."""
    with (
        serve(hub, close_on_shutdown=False, graceful_timeout=0.5) as running,
        httpx.stream("GET", running.url, timeout=JOIN_TIMEOUT) as response,
    ):
        lines = response.iter_lines()
        logged = log.publish(hub, [EV1])
        assert read_messages(lines, 1) == [change(logged[0], data1(logged[0]))]
        elapsed = running.stop()
        with pytest.raises(httpx.RemoteProtocolError):
            list(lines)
    assert elapsed >= 0.5
    assert hub.closed


def test_the_operation_is_documented(hub: EventHub) -> None:
    schema = make_app(hub, None).openapi_schema.to_schema()
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
