"""Helpers of the event hub tests: a bounded event loop run, events, stream readers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Coroutine
from typing import Any, TypeVar

from sidecar.events import ChangeEvent, EventHub
from sidecar.events.hub import StreamItem

T = TypeVar("T")
TIMEOUT = 5.0  # generous upper bound for anything that should happen at once


def run(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, TIMEOUT)

    return asyncio.run(bounded())


AT = "2026-12-04T10:00:00.000Z"


def msg(chat: str = "c1", namespace: str | None = "ns", position: int = 0) -> ChangeEvent:
    return ChangeEvent("changed", chat, position, 0, namespace, ("k",), at=AT)


def bound(hub: EventHub) -> EventHub:
    hub.bind(asyncio.get_running_loop())
    return hub


async def take(stream: AsyncGenerator[StreamItem, None], count: int) -> list[StreamItem]:
    return [await anext(stream) for _ in range(count)]


async def until_waiting() -> None:
    """Let a freshly started stream task run up to its first wait (a few loop turns)."""
    for _ in range(3):
        await asyncio.sleep(0)


def ids_of(items: list[StreamItem]) -> list[int]:
    return [item[0] for item in items if isinstance(item, tuple)]
