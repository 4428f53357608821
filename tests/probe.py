"""The Python side of the test probe extension (``tests/st_probe_extension/``): create, open and
change chats in the real SillyTavern page (saved by its own ``saveChat()``), follow the change
feed and search through the client module, and wait for sidecar to index a chat."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.browser import Browser, js
from tests.st_harness import StEnv

Event = dict[str, Any]


def unique(stem: str) -> str:
    """A chat file name no other test uses."""
    return f"{stem} {uuid.uuid4().hex[:8]}"


def push(message: dict[str, Any]) -> dict[str, Any]:
    return {"op": "push", "message": message}


def set_value(index: int, path: list[str], value: Any) -> dict[str, Any]:
    return {"op": "set", "index": index, "path": path, "value": value}


class Feed:
    """One change-feed subscription made in the page by the probe."""

    def __init__(self, page: Browser, feed_id: int) -> None:
        self.page = page
        self.id = feed_id

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.page.value(f"sidecarProbe.feed({self.id})")
        return state

    def events(self) -> list[Event]:
        events: list[Event] = self.state()["events"]
        return events

    def wait_settled(self, timeout: float = 60) -> dict[str, Any]:
        """Wait until ``ready`` resolved or rejected; the state."""
        self.page.wait_for(
            lambda: self.state()["state"] != "pending", timeout, "the feed to connect"
        )
        return self.state()

    def wait_ready(self, timeout: float = 60) -> None:
        state = self.wait_settled(timeout)
        assert state["state"] == "ready", state

    def wait_event(
        self, match: Callable[[Event], bool], timeout: float = 60, what: str = ""
    ) -> Event:
        """The first event (change or reset) for which ``match`` is true."""

        def found() -> Event | None:
            return next((event for event in self.events() if match(event)), None)

        event: Event = self.page.wait_for(found, timeout, what or "a change event")
        return event

    def close(self) -> None:
        self.page.value(f"sidecarProbe.close({self.id}) || true")


class Probe:
    """``window.sidecarProbe`` in the SillyTavern page."""

    def __init__(self, page: Browser, env: StEnv) -> None:
        self.page = page
        self.env = env

    def create_chat(self, avatar: str, file_name: str, messages: list[dict[str, Any]],
                    metadata: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.page.run(
            "async (...a) => sidecarProbe.createChat(...a)", avatar, file_name, messages,
            metadata or {},
        )  # fmt: skip

    def create_group(self, name: str, members: list[str], chat_name: str,
                     messages: list[dict[str, Any]]) -> str:  # fmt: skip
        """A group chat saved through SillyTavern, then opened; the group's id."""
        group_id: str = self.page.run(
            "async (...a) => sidecarProbe.createGroup(...a)", name, members, chat_name, messages
        )
        return group_id

    def open_chat(self, avatar: str, file_name: str) -> int:
        count: int = self.page.run("async (a, f) => sidecarProbe.openChat(a, f)", avatar, file_name)
        return count

    def change(self, *operations: dict[str, Any]) -> int:
        """Apply the operations to the open chat and save it once with ``saveChat()``."""
        count: int = self.page.run("async (ops) => sidecarProbe.change(ops)", list(operations))
        return count

    def subscribe(self, filters: dict[str, Any], transport: str = "auto") -> Feed:
        feed_id: int = self.page.value(
            f"sidecarProbe.subscribe({js(filters)}, {{transport: {js(transport)}, retryMs: 200}})"
        )
        return Feed(self.page, feed_id)

    def search(self, q: str, **filters: Any) -> list[dict[str, Any]]:
        page: dict[str, Any] = self.page.run(
            "async (q, f) => sidecarProbe.search(q, f)", q, filters
        )
        return list(page["items"])

    # -- sidecar's view, read directly (not through the page) ----------------------------------

    def chat(self, file_name: str) -> dict[str, Any] | None:
        with self.env.api() as api:
            items = api.get("/chats", params={"q": file_name, "limit": 1000}).json()["items"]
        return next((c for c in items if c["fileName"] == file_name), None)

    def version_file(self, chat_id: str, version: int) -> bytes:
        """One version of a chat file, byte for byte, from sidecar."""
        with self.env.api() as api:
            answer = api.get(f"/chats/{chat_id}/versions/{version}/file")
            answer.raise_for_status()
            return answer.content

    def wait_indexed(self, file_name: str, messages: int, timeout: float = 60) -> str:
        """Wait until sidecar has indexed ``file_name`` with ``messages`` messages; its chatId."""

        def indexed() -> str | None:
            try:
                found = self.chat(file_name)
            except httpx.TransportError:  # sidecar restarting
                return None
            if found is not None and found["messageCount"] == messages:
                return str(found["chatId"])
            return None

        deadline = time.monotonic() + timeout
        while (chat_id := indexed()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{file_name} not indexed with {messages} messages: "
                                   f"{self.chat(file_name)}")  # fmt: skip
            time.sleep(0.05)
        return chat_id
