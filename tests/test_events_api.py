"""GET /events over a real uvicorn server: the wire format, filters, the user header,
heartbeats, bad parameters, shutdown with open streams. Events are logged in a real catalog from
the test thread, as the indexer logs them, and the hub is told."""

from __future__ import annotations

import httpx
import pytest

from sidecar.api.deps import USER_HEADER
from sidecar.events import ChangeEvent, EventHub
from tests.event_log_helpers import Log
from tests.events_server import (
    AT,
    EV1,
    EV2,
    EV3,
    JOIN_TIMEOUT,
    PREFIX,
    Served,
    change,
    data1,
    data3,
    ids,
    make_app,
    position,
    read_messages,
    serve,
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
