"""The soak benchmark's clients, run in a process of their own: an open-loop request stream at a
fixed rate over keep-alive connections (``soak_http``), and change-feed subscribers (httpx).

Open loop: request ``n`` is due at ``start + n / rate`` and is sent then, whether or not earlier
ones have been answered, and its latency is counted from when it was due. A server that stalls
therefore shows its stall in the latencies instead of slowing the clients down (no coordinated
omission). Every request expects 200: it only asks for things that exist (instances, keys,
message positions that are never deleted), so anything else is an error.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from soak_http import Connection, HttpError

PREFIX = "/api/plugins/valuetracker"
TIMEOUT = 10.0
CONNECTIONS = 32
WORDS = ("tavern", "shadow", "letter", "promise", "castle", "morning", "whisper", "forest")
KINDS: dict[str, int] = {  # request kind -> weight
    "tracker: get key": 18, "tracker: set key": 12, "tracker: merge": 5,
    "tracker: get instance": 5, "tracker: get character": 3,
    "chats": 4, "chat": 5, "messages": 10, "message data": 10, "message": 6, "search": 5,
    "value history": 5, "chat history": 2, "data across chats": 2, "status": 3,
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    chat_id: str
    stable: int  # positions below this always exist
    with_data: tuple[int, ...]  # stable positions whose swipes have qvink_memory data


@dataclass(frozen=True)
class Plan:
    base: str
    rate: float
    start: float  # time.monotonic() when the first request is due (the same clock system-wide)
    seconds: float
    interval: float
    seed: int
    targets: tuple[Target, ...]
    ext: str
    characters: tuple[str, ...]
    instances: tuple[str, ...]
    keys: tuple[str, ...]
    subscribers: int


@dataclass
class Interval:
    index: int
    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # ms
    events: int = 0


@dataclass
class Feed:
    url: str
    events: int = 0
    resets: int = 0
    reconnects: int = 0  # streams that ended before the load did
    failures: int = 0  # of those, how many with an error or a status other than 200
    last_id: str | None = None


def request(rng: random.Random, plan: Plan) -> tuple[str, str, str, Any]:
    """(kind, method, path, json body or None)."""
    kind = rng.choices(list(KINDS), weights=list(KINDS.values()))[0]
    t = rng.choice(plan.targets)
    chat = f"/chats/{t.chat_id}"
    pos = rng.choice(t.with_data) if t.with_data else 0
    instance, key = rng.choice(plan.instances), rng.choice(plan.keys)
    value = {"n": rng.randrange(1_000_000), "s": "x" * rng.randrange(64)}
    routes: dict[str, tuple[str, str, Any]] = {
        "tracker: get key": ("GET", f"/instances/{instance}/data/{quote(key)}", None),
        "tracker: set key": ("POST", f"/instances/{instance}/data", {"key": key, "value": value}),
        "tracker: merge": ("PUT", f"/instances/{instance}/data/merge", {key: value, "hp": 3}),
        "tracker: get instance": ("GET", f"/instances/{instance}", None),
        "tracker: get character": ("GET", f"/characters/{rng.choice(plan.characters)}", None),
        "chats": ("GET", "/chats?limit=50", None),
        "chat": ("GET", chat, None),
        "messages": ("GET", f"{chat}/messages?from={pos}&to={pos + 19}&namespace=qvink_memory",
                     None),
        "message data": ("GET", f"{chat}/messages/{pos}/data/qvink_memory?swipe=all", None),
        "message": ("GET", f"{chat}/messages/{rng.randrange(t.stable)}", None),
        "search": ("GET", f"/search?q={rng.choice(WORDS)}&limit=20", None),
        "value history": ("GET", f"{chat}/messages/{pos}/history/qvink_memory/memory", None),
        "chat history": ("GET", f"{chat}/history", None),
        "data across chats": ("GET", "/data/auto_recap_memory?key=scene_break&value=true&limit=50",
                              None),
        "status": ("GET", "/status", None),
    }  # fmt: skip
    method, path, body = routes[kind]
    return kind, method, path, body


class Load:
    """Sends each request when it is due; ``CONNECTIONS`` workers with a keep-alive connection
    each take them in order. A request waiting for a free worker is late, and that counts."""

    def __init__(self, plan: Plan, emit: Any) -> None:
        self.plan, self.emit = plan, emit
        self.queue: asyncio.Queue[tuple[float, tuple[str, str, str, Any]] | None] = asyncio.Queue()
        self.intervals: dict[int, Interval] = {}
        self.outstanding: Counter[int] = Counter()
        self.scheduled = 0  # intervals whose requests have all been sent
        self.next_emit = 0
        self.waiting_max = 0  # the most requests due and not yet taken by a worker
        self.events: Counter[int] = Counter()  # change events received, by interval

    def index(self, at: float) -> int:
        return max(0, int((at - self.plan.start) // self.plan.interval))

    async def worker(self, port: int) -> None:
        connection = Connection(port, TIMEOUT)
        while (item := await self.queue.get()) is not None:
            due, (kind, method, path, body) = item
            slot = self.intervals.setdefault(self.index(due), Interval(self.index(due)))
            headers = {"x-extension-id": self.plan.ext} if kind.startswith("tracker") else {}
            try:
                status, answer = await connection.request(method, PREFIX + path, body, headers)
                if status != 200:
                    error = f"{kind}: HTTP {status}"
                    slot.errors[error] += 1
                    slot.samples.setdefault(error, f"{method} {path}: {answer[:200]!r}")
            except HttpError as exc:
                error = f"{kind}: {str(exc).split(':')[0]}"
                slot.errors[error] += 1
                slot.samples.setdefault(error, f"{method} {path}: {exc}"[:300])
            slot.requests += 1
            slot.latencies.append((time.monotonic() - due) * 1000)
            self.outstanding[slot.index] -= 1
            self.flush()
        connection.close()

    def flush(self) -> None:
        """Hand over, in order, the intervals whose requests have all been sent and answered."""
        while self.next_emit < self.scheduled and self.outstanding[self.next_emit] == 0:
            done = self.intervals.pop(self.next_emit, Interval(self.next_emit))
            done.events = self.events[self.next_emit]
            self.emit(("interval", done))
            self.next_emit += 1

    async def run(self, port: int) -> None:
        plan = self.plan
        rng = random.Random(plan.seed)
        workers = [asyncio.create_task(self.worker(port)) for _ in range(CONNECTIONS)]
        for n in range(int(plan.seconds * plan.rate)):
            due = plan.start + n / plan.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            index = self.index(due)
            if index > self.scheduled:
                self.scheduled = index
                self.flush()
            self.outstanding[index] += 1
            self.queue.put_nowait((due, request(rng, plan)))
            self.waiting_max = max(self.waiting_max, self.queue.qsize())
        self.scheduled = math.ceil(plan.seconds / plan.interval)
        for _ in workers:
            self.queue.put_nowait(None)
        await asyncio.gather(*workers)
        self.flush()


async def follow(client: httpx.AsyncClient, feed: Feed, load: Load) -> None:
    """Read the change feed until cancelled, reconnecting with ``Last-Event-ID``."""
    while True:
        headers = {"last-event-id": feed.last_id} if feed.last_id else {}
        event = ""
        try:
            async with client.stream("GET", feed.url, headers=headers) as response:
                if response.status_code != 200:
                    feed.failures += 1
                async for line in response.aiter_lines():
                    if line.startswith("id:"):
                        feed.last_id = line[3:].strip()
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif not line:
                        if event == "change":
                            feed.events += 1
                            load.events[load.index(time.monotonic())] += 1
                        elif event == "reset":
                            feed.resets += 1
                        event = ""
        except httpx.HTTPError:
            feed.failures += 1
        feed.reconnects += 1
        await asyncio.sleep(0.5)


async def _main(plan: Plan, emit: Any) -> None:
    load = Load(plan, emit)
    feeds = [
        Feed(f"{plan.base}{PREFIX}/events" + ("?namespace=qvink_memory" if i % 2 else ""))
        for i in range(plan.subscribers)
    ]
    sse_timeout = httpx.Timeout(TIMEOUT, read=60.0)  # heartbeats come every 15 s
    async with httpx.AsyncClient(timeout=sse_timeout) as sse:
        followers = [asyncio.create_task(follow(sse, feed, load)) for feed in feeds]
        await load.run(int(plan.base.rsplit(":", 1)[1]))
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
    summary = {
        "feeds": [
            {"filter": f.url.split("/events")[1] or "none", "events": f.events,
             "resets": f.resets, "reconnects": f.reconnects, "failures": f.failures}
            for f in feeds
        ],
        "waiting_max": load.waiting_max,
    }  # fmt: skip
    emit(("done", summary))


def client_process(plan: Plan, out: Any) -> None:
    """Entry point of the client process: puts ("interval", Interval) and ("done", summary)."""
    asyncio.run(_main(plan, out.put))
