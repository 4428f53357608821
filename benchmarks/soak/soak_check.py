"""The soak benchmark's end checks: wait until the daemon has caught up with the last saves, then
compare every chat as the API shows it with the file on disk.

For each chat: the message count; each message's text, selected swipe and swipe count; and each
swipe's extension data (``GET /chats/{id}/messages/{position}``) against what the file holds: the
selected swipe's from ``message.extra``, the others' from ``swipe_info[k].extra``. Values are
compared as canonical JSON, so ``1`` and ``true`` or ``1`` and ``1.0`` are different.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
from soak_chats import SoakChat, expected


@dataclass
class Comparison:
    chats_equal: int = 0
    messages: int = 0
    values: int = 0  # swipe/namespace objects compared
    problems: list[str] = field(default_factory=list)


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def caught_up(http: httpx.Client, quiet: float = 1.0, timeout: float = 120.0) -> float:
    """Seconds until the indexer's queue is empty and it is idle for ``quiet`` seconds."""
    started = time.monotonic()
    idle_since: float | None = None
    while time.monotonic() - started < timeout:
        status = http.get("/status").json()
        if status["queueDepth"] == 0 and status["lagSeconds"] == 0:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= quiet:
                return idle_since - started
        else:
            idle_since = None
        time.sleep(0.1)
    return float("inf")


def _messages(http: httpx.Client, chat_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
        page = http.get(f"/chats/{chat_id}/messages", params=params).json()
        items += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            return items


def compare_chat(http: httpx.Client, chat: SoakChat, chat_id: str, into: Comparison) -> None:
    name = f"{chat.user}/{chat.character}/{chat.name}"
    lines = [msgspec.json.decode(line) for line in chat.path.read_bytes().split(b"\n")]
    messages = lines[1:]
    count = http.get(f"/chats/{chat_id}").json()["messageCount"]
    items = _messages(http, chat_id)
    if count != len(messages) or len(items) != len(messages):
        into.problems.append(f"{name}: {len(messages)} messages in the file, the API says "
                             f"{count} ({len(items)} listed)")  # fmt: skip
        return
    before = len(into.problems)
    for position, (item, message) in enumerate(zip(items, messages, strict=True)):
        want, selected = expected(message)
        swipes = len(message["swipes"]) if "swipes" in message else None
        seen = (item["text"], item["swipeId"], item["swipeCount"] if swipes else None)
        if seen != (message["mes"], selected, swipes):
            into.problems.append(f"{name} #{position}: text/swipe {seen[1:]} != {selected, swipes}")
        if want or item["namespaces"]:
            detail = http.get(f"/chats/{chat_id}/messages/{position}").json()
            got = {s["swipe"]: s["data"] for s in detail["swipes"]}
            flags = {s["swipe"]: s["selected"] for s in detail["swipes"]}
            if canonical(got) != canonical(want):
                api, file = canonical(got)[:300], canonical(want)[:300]
                into.problems.append(f"{name} #{position}: data differs: API {api} file {file}")
            if any(flag != (swipe == selected) for swipe, flag in flags.items()):
                into.problems.append(f"{name} #{position}: selected swipe flags {flags}")
            into.values += sum(len(data) for data in want.values())
        into.messages += 1
    if len(into.problems) == before:
        into.chats_equal += 1


def compare(http: httpx.Client, chats: list[SoakChat], ids: list[str]) -> Comparison:
    result = Comparison()
    for chat, chat_id in zip(chats, ids, strict=True):
        compare_chat(http, chat, chat_id, result)
    return result


def versions(http: httpx.Client, ids: list[str]) -> list[int]:
    """How many versions of each chat sidecar recorded (version numbers count from 1)."""
    found = []
    for chat_id in ids:
        items = http.get(f"/chats/{chat_id}/versions", params={"limit": 1}).json()["items"]
        found.append(int(items[0]["version"]) if items else 0)
    return found
