"""The event hub's streams over the catalog's event log: replay and resets, live streams woken
from another thread (or by polling), filters, heartbeats, shutdown."""

from __future__ import annotations

import asyncio
import signal
import threading

import pytest

from sidecar.events import ChangeEvent, Reset
from sidecar.events.hub import StreamItem
from tests.event_log_helpers import Log
from tests.hub_helpers import AT, bound, ids_of, msg, run, take, until_waiting


def test_notify_from_another_thread_wakes_a_waiting_stream(log: Log) -> None:
    async def scenario() -> list[StreamItem]:
        hub = bound(log.hub(poll_seconds=60))
        stream = hub.stream(after=None, namespace=None, chat_id=None, heartbeat=60)
        first = asyncio.ensure_future(anext(stream))
        await until_waiting()
        assert not first.done()

        def indexer() -> None:
            for n in range(1, 201):
                log.publish(hub, [msg(position=n)])

        thread = threading.Thread(target=indexer)
        thread.start()
        items = [await first, *await take(stream, 199)]
        await asyncio.to_thread(thread.join)
        await stream.aclose()
        return items

    items = run(scenario())
    positions = [i[1].position for i in items if isinstance(i, tuple)]
    assert positions == list(range(1, 201))
    ids = ids_of(items)
    assert ids == list(range(ids[0], ids[0] + 200))


def test_without_a_wake_up_the_stream_finds_new_events_by_polling(log: Log) -> None:
    async def scenario() -> list[StreamItem]:
        hub = bound(log.hub(poll_seconds=0.05))
        stream = hub.stream(after=None, heartbeat=60)
        pending = asyncio.ensure_future(anext(stream))
        await until_waiting()
        log.append([msg(position=7)])  # committed by someone who does not notify
        return [await pending]

    assert [i[1].position for i in run(scenario()) if isinstance(i, tuple)] == [7]


def test_stream_replays_logged_events_then_continues_live(log: Log) -> None:
    async def scenario() -> tuple[list[int], list[StreamItem]]:
        hub = bound(log.hub())
        ids = log.publish(hub, [msg(position=1), msg(position=2), msg(position=3)])
        stream = hub.stream(after=ids[0], namespace=None, chat_id=None, heartbeat=60)
        replayed = await take(stream, 2)
        ids += log.publish(hub, [msg(position=4)])
        return ids, [*replayed, await anext(stream)]

    ids, items = run(scenario())
    assert ids_of(items) == ids[1:]


def test_filters_by_chat_and_namespace_keep_events_without_namespace(log: Log) -> None:
    ids = log.append(
        [
            msg("c1", "a", 1),
            msg("c1", "b", 2),
            msg("c2", "a", 3),
            ChangeEvent("shrunk", "c1", at=AT),
            ChangeEvent("removed", "c1", 5, at=AT),
            ChangeEvent("missing", "c2", at=AT),
            msg("c1", "a", 7),
        ]
    )

    async def seen(namespace: str | None, chat_id: str | None, count: int) -> list[int]:
        hub = bound(log.hub())
        stream = hub.stream(after=ids[0] - 1, namespace=namespace, chat_id=chat_id, heartbeat=60)
        return [ids.index(i) + 1 for i in ids_of(await take(stream, count))]

    assert run(seen("a", "c1", 4)) == [1, 4, 5, 7]
    assert run(seen(None, "c2", 2)) == [3, 6]
    assert run(seen("b", None, 4)) == [2, 4, 5, 6]
    assert run(seen(None, None, 7)) == [1, 2, 3, 4, 5, 6, 7]


def test_a_user_filter_shows_only_that_users_chats(log: Log) -> None:
    published = [
        ChangeEvent("new", "c1", user="alice", at=AT),
        ChangeEvent("new", "c2", user="bob", at=AT),
        ChangeEvent("changed", "c1", 0, 0, "ns", ("k",), "alice", AT),
    ]
    ids = log.append(published)

    async def seen(user: str | None, count: int) -> list[int]:
        hub = bound(log.hub())
        items = await take(hub.stream(after=ids[0] - 1, user=user, heartbeat=60), count)
        return [ids.index(i) + 1 for i in ids_of(items)]

    assert run(seen("alice", 2)) == [1, 3]
    assert run(seen("bob", 1)) == [2]
    assert run(seen(None, 3)) == [1, 2, 3]
    assert "user" not in published[0].payload(1)  # the wire format does not carry the owner


def test_heartbeat_after_the_interval_of_silence(log: Log) -> None:
    async def scenario() -> tuple[list[StreamItem], float]:
        hub = bound(log.hub())
        ids = log.publish(hub, [msg("other")])  # filtered out: not something the client sees
        stream = hub.stream(after=ids[0] - 1, namespace=None, chat_id="c1", heartbeat=0.05)
        loop = asyncio.get_running_loop()
        started = loop.time()
        items = await take(stream, 2)
        return items, loop.time() - started

    items, elapsed = run(scenario())
    assert items == [None, None]
    assert elapsed >= 0.1


def test_close_ends_open_streams_promptly_and_later_ones_at_once(log: Log) -> None:
    async def scenario() -> None:
        hub = bound(log.hub())
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


def test_close_is_safe_in_a_signal_handler_that_interrupts_the_hub(log: Log) -> None:
    """uvicorn's signal handler runs on the loop's thread, maybe while it is inside the hub."""
    hub = log.hub()

    def give_up(_signum: int, _frame: object) -> None:
        raise TimeoutError("close() waited for a lock held by the thread it interrupted")

    previous = {
        signal.SIGUSR1: signal.signal(signal.SIGUSR1, lambda _s, _f: hub.close()),
        signal.SIGALRM: signal.signal(signal.SIGALRM, give_up),
    }
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        with hub._lock, hub._reading:  # the loop's thread in a critical section
            signal.raise_signal(signal.SIGUSR1)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert hub.closed


def test_stop_event_ends_one_stream(log: Log) -> None:
    async def scenario() -> None:
        hub = bound(log.hub())
        stop = asyncio.Event()
        stream = hub.stream(after=None, namespace=None, chat_id=None, heartbeat=60, stop=stop)
        task = asyncio.ensure_future(anext(stream))
        await until_waiting()
        stop.set()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(task, 1.0)
        assert not hub.closed

    run(scenario())


def test_bind_reopens_a_closed_hub_and_keeps_events_logged_before(log: Log) -> None:
    hub = log.hub()
    ids = log.publish(hub, [msg(position=1)])  # not bound yet: only logged
    hub.close()

    async def scenario() -> list[StreamItem]:
        hub.bind(asyncio.get_running_loop())
        return await take(hub.stream(after=ids[0] - 1, heartbeat=60), 1)

    assert run(scenario()) == [(ids[0], msg(position=1))]


def test_unknown_last_id_resets_to_the_last_id_then_continues_live(log: Log) -> None:
    async def scenario() -> tuple[list[int], list[StreamItem]]:
        hub = bound(log.hub())
        ids = log.publish(hub, [msg(position=1), msg(position=2)])
        stream = hub.stream(after=ids[-1] + 50, heartbeat=60)  # from another catalog
        reset = await anext(stream)
        ids += log.publish(hub, [msg(position=3)])
        return ids, [reset, await anext(stream)]

    ids, items = run(scenario())
    assert items == [Reset(ids[1]), (ids[2], msg(position=3))]


def test_a_stale_id_from_before_the_log_gets_a_reset_not_silence(log: Log) -> None:
    """A client that saw ids 1 and 2 of an old log (the old per-process numbering) gets a
    reset, never the new log's events as if they followed its own."""

    async def scenario() -> tuple[list[int], list[StreamItem]]:
        hub = bound(log.hub())
        ids = log.publish(hub, [msg(position=1), msg(position=2)])
        return ids, await take(hub.stream(after=2, heartbeat=60), 1)

    ids, items = run(scenario())
    assert items == [Reset(ids[-1])]


def test_pruned_position_resets_to_the_last_id(log: Log) -> None:
    async def scenario() -> tuple[list[int], list[StreamItem]]:
        ids = log.append(msg(position=n) for n in range(1, 6))
        log.prune(keep=2)
        hub = bound(log.hub(cache_size=2))
        return ids, await take(hub.stream(after=ids[0], heartbeat=60), 1)

    ids, items = run(scenario())
    assert items == [Reset(ids[-1])]


def test_a_subscriber_that_falls_behind_the_log_gets_a_reset_and_memory_stays_bounded(
    log: Log,
) -> None:
    async def scenario() -> tuple[list[int], list[StreamItem], int]:
        hub = bound(log.hub(cache_size=3))
        ids = log.publish(hub, (msg(position=n) for n in range(1, 4)))
        stream = hub.stream(after=ids[0] - 1, heartbeat=60)
        first = await anext(stream)  # the stream read events 1-3 from the cache
        ids += log.publish(hub, (msg(position=n) for n in range(4, 14)))
        log.prune(keep=3)  # what it has not read is gone from the log too
        cached = len(hub._ids)
        return ids, [first, *await take(stream, 3)], cached

    ids, items, cached = run(scenario())
    assert cached == 3
    assert [item[0] if isinstance(item, tuple) else item for item in items] == [
        *ids[:3],
        Reset(ids[-1]),
    ]


def test_a_subscriber_behind_the_cache_reads_the_log_itself(log: Log) -> None:
    async def scenario() -> tuple[list[int], list[StreamItem]]:
        hub = bound(log.hub(cache_size=2))
        ids = log.publish(hub, (msg(position=n) for n in range(1, 11)))
        return ids, await take(hub.stream(after=ids[0] - 1, heartbeat=60), 10)

    ids, items = run(scenario())
    assert ids_of(items) == ids
