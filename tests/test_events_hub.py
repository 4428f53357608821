"""The event hub: ids, the bounded buffer, live streams fed from another thread, shutdown."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncGenerator, Coroutine
from typing import Any, TypeVar

import pytest

from sidecar.events import ChangeEvent, EventHub, Reset
from sidecar.events.hub import StreamItem

T = TypeVar("T")
TIMEOUT = 5.0  # generous upper bound for anything that should happen at once


def run(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, TIMEOUT)

    return asyncio.run(bounded())


def msg(chat: str = "c1", namespace: str | None = "ns", position: int = 0) -> ChangeEvent:
    return ChangeEvent("changed", chat, position, 0, namespace, ("k",))


def bound_hub(buffer_size: int = 1000) -> EventHub:
    hub = EventHub(buffer_size)
    hub.bind(asyncio.get_running_loop())
    return hub


async def take(stream: AsyncGenerator[StreamItem, None], count: int) -> list[StreamItem]:
    return [await anext(stream) for _ in range(count)]


async def until_waiting() -> None:
    """Let a freshly started stream task run up to its first wait (two loop turns)."""
    for _ in range(3):
        await asyncio.sleep(0)


def test_ids_increase_from_one_and_since_returns_later_events() -> None:
    hub = EventHub()
    assert hub.last_id == 0
    assert hub.since(0) == ([], False)
    hub.publish([msg(position=1), msg(position=2)])
    hub.publish([])
    hub.publish([msg(position=3)])
    assert hub.last_id == 3
    events, lost = hub.since(0)
    assert [(i, e.position) for i, e in events] == [(1, 1), (2, 2), (3, 3)]
    assert not lost
    assert hub.since(2) == ([(3, msg(position=3))], False)
    assert hub.since(3) == ([], False)


def test_buffer_is_bounded_and_evicted_events_are_reported_lost() -> None:
    hub = EventHub(buffer_size=3)
    hub.publish(msg(position=n) for n in range(1, 8))
    assert hub.last_id == 7
    events, lost = hub.since(0)
    assert [i for i, _ in events] == [5, 6, 7]
    assert lost
    assert [i for i, _ in hub.since(3)[0]] == [5, 6, 7]
    assert hub.since(3)[1]
    assert hub.since(4) == (hub.since(0)[0], False)  # 5 is the oldest kept: nothing lost


def test_an_id_beyond_last_id_is_lost_history() -> None:
    hub = EventHub()
    hub.publish([msg()])
    assert hub.since(5) == ([], True)


def test_change_event_payload_and_kinds() -> None:
    event = ChangeEvent("added", "abc", 4, 1, "tracker", ("hp", "mp"))
    assert event.payload(9) == {
        "eventId": 9,
        "chatId": "abc",
        "position": 4,
        "swipe": 1,
        "namespace": "tracker",
        "keys": ["hp", "mp"],
        "kind": "added",
    }
    assert ChangeEvent("renamed", "abc").payload(1)["keys"] == []
    with pytest.raises(ValueError, match="unknown change kind"):
        ChangeEvent("exploded", "abc")


def test_publish_from_another_thread_wakes_a_waiting_stream() -> None:
    async def scenario() -> list[StreamItem]:
        hub = bound_hub()
        stream = hub.stream(after=None, namespace=None, chat_id=None, heartbeat=60)
        first = asyncio.ensure_future(anext(stream))
        await until_waiting()
        assert not first.done()

        def publisher() -> None:
            for n in range(1, 201):
                hub.publish([msg(position=n)])

        thread = threading.Thread(target=publisher)
        thread.start()
        items = [await first, *await take(stream, 199)]
        await asyncio.to_thread(thread.join)
        await stream.aclose()
        return items

    positions = [(i[0], i[1].position) for i in run(scenario()) if isinstance(i, tuple)]
    assert positions == [(n, n) for n in range(1, 201)]


def test_stream_replays_buffered_events_then_continues_live() -> None:
    async def scenario() -> list[StreamItem]:
        hub = bound_hub()
        hub.publish([msg(position=1), msg(position=2), msg(position=3)])
        stream = hub.stream(after=1, namespace=None, chat_id=None, heartbeat=60)
        replayed = await take(stream, 2)
        hub.publish([msg(position=4)])
        return [*replayed, await anext(stream)]

    assert [item[0] for item in run(scenario()) if isinstance(item, tuple)] == [2, 3, 4]


def test_filters_by_chat_and_namespace_keep_events_without_namespace() -> None:
    published = [
        msg("c1", "a", 1),
        msg("c1", "b", 2),
        msg("c2", "a", 3),
        ChangeEvent("shrunk", "c1"),
        ChangeEvent("removed", "c1", 5),
        ChangeEvent("missing", "c2"),
        msg("c1", "a", 7),
    ]

    async def ids(namespace: str | None, chat_id: str | None, count: int) -> list[int]:
        hub = bound_hub()
        hub.publish(published)
        stream = hub.stream(after=0, namespace=namespace, chat_id=chat_id, heartbeat=60)
        items = await take(stream, count)
        return [item[0] for item in items if isinstance(item, tuple)]

    assert run(ids("a", "c1", 4)) == [1, 4, 5, 7]
    assert run(ids(None, "c2", 2)) == [3, 6]
    assert run(ids("b", None, 4)) == [2, 4, 5, 6]
    assert run(ids(None, None, 7)) == [1, 2, 3, 4, 5, 6, 7]


def test_a_user_filter_shows_only_that_users_chats() -> None:
    published = [
        ChangeEvent("new", "c1", user="alice"),
        ChangeEvent("new", "c2", user="bob"),
        ChangeEvent("changed", "c1", 0, 0, "ns", ("k",), "alice"),
    ]

    async def ids(user: str | None, count: int) -> list[int]:
        hub = bound_hub()
        hub.publish(published)
        stream = hub.stream(after=0, user=user, heartbeat=60)
        items = await take(stream, count)
        return [item[0] for item in items if isinstance(item, tuple)]

    assert run(ids("alice", 2)) == [1, 3]
    assert run(ids("bob", 1)) == [2]
    assert run(ids(None, 3)) == [1, 2, 3]
    assert "user" not in published[0].payload(1)  # the wire format does not change


def test_heartbeat_after_the_interval_of_silence() -> None:
    async def scenario() -> tuple[list[StreamItem], float]:
        hub = bound_hub()
        hub.publish([msg("other")])  # filtered out: not something the client sees
        stream = hub.stream(after=0, namespace=None, chat_id="c1", heartbeat=0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        items = await take(stream, 2)
        return items, loop.time() - started

    items, elapsed = run(scenario())
    assert items == [None, None]
    assert elapsed >= 0.1


def test_close_ends_open_streams_promptly_and_later_ones_at_once() -> None:
    async def scenario() -> None:
        hub = bound_hub()
        streams = [
            hub.stream(after=None, namespace=None, chat_id=None, heartbeat=60) for _ in range(3)
        ]
        pending = [asyncio.ensure_future(anext(stream)) for stream in streams]
        await until_waiting()
        assert not any(task.done() for task in pending)
        await asyncio.to_thread(hub.close)  # from another thread, like a signal handler
        for task in pending:
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(task, 1.0)
        assert hub.closed
        later = hub.stream(after=0, namespace=None, chat_id=None, heartbeat=60)
        with pytest.raises(StopAsyncIteration):
            await anext(later)

    run(scenario())


def test_close_is_safe_in_a_signal_handler_that_interrupts_the_hub() -> None:
    """uvicorn's signal handler runs on the loop's thread, maybe while it is inside the hub."""
    hub = EventHub()

    def give_up(_signum: int, _frame: object) -> None:
        raise TimeoutError("close() waited for a lock held by the thread it interrupted")

    previous = {
        signal.SIGUSR1: signal.signal(signal.SIGUSR1, lambda _s, _f: hub.close()),
        signal.SIGALRM: signal.signal(signal.SIGALRM, give_up),
    }
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        with hub._lock:  # the loop's thread in a critical section when the signal lands
            signal.raise_signal(signal.SIGUSR1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert hub.closed


def test_stop_event_ends_one_stream() -> None:
    async def scenario() -> None:
        hub = bound_hub()
        stop = asyncio.Event()
        stream = hub.stream(after=None, namespace=None, chat_id=None, heartbeat=60, stop=stop)
        task = asyncio.ensure_future(anext(stream))
        await until_waiting()
        stop.set()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(task, 1.0)
        assert not hub.closed

    run(scenario())


def test_bind_reopens_a_closed_hub_and_keeps_events_published_before() -> None:
    hub = EventHub()
    hub.publish([msg(position=1)])  # not bound yet: only buffered
    hub.close()

    async def scenario() -> list[StreamItem]:
        hub.bind(asyncio.get_running_loop())
        return await take(hub.stream(after=0, heartbeat=60), 1)

    assert run(scenario()) == [(1, msg(position=1))]


def test_unknown_last_id_resets_to_last_id_then_continues_live() -> None:
    async def scenario() -> list[StreamItem]:
        hub = bound_hub()
        hub.publish([msg(position=1), msg(position=2)])
        stream = hub.stream(after=50, heartbeat=60)  # an id from before a restart
        reset = await anext(stream)
        hub.publish([msg(position=3)])
        return [reset, await anext(stream)]

    assert run(scenario()) == [Reset(2), (3, msg(position=3))]


def test_evicted_position_resets_to_last_id() -> None:
    async def scenario() -> list[StreamItem]:
        hub = bound_hub(buffer_size=2)
        hub.publish(msg(position=n) for n in range(1, 6))
        return await take(hub.stream(after=1, heartbeat=60), 1)

    assert run(scenario()) == [Reset(5)]


def test_a_subscriber_that_falls_behind_gets_a_reset_and_the_buffer_stays_bounded() -> None:
    async def scenario() -> list[StreamItem]:
        hub = bound_hub(buffer_size=3)
        hub.publish(msg(position=n) for n in range(1, 4))
        stream = hub.stream(after=0, heartbeat=60)
        first = await anext(stream)  # the stream holds a copy of events 1-3
        hub.publish(msg(position=n) for n in range(4, 14))  # evicts what it has not read
        assert [i for i, _ in hub.since(0)[0]] == [11, 12, 13]
        return [first, *await take(stream, 3)]

    items = run(scenario())
    assert [item[0] if isinstance(item, tuple) else item for item in items] == [
        1,
        2,
        3,
        Reset(13),
    ]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="buffer_size"):
        EventHub(0)
    with pytest.raises(ValueError, match="non-negative"):
        EventHub().since(-1)

    async def bad_heartbeat() -> None:
        await anext(EventHub().stream(after=None, heartbeat=0))

    with pytest.raises(ValueError, match="heartbeat"):
        run(bad_heartbeat())
