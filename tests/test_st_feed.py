"""The change feed as an extension meets it (issue 12, part 1): a real SillyTavern 1.18 page saves
chats with its own ``saveChat()``, and the test probe extension follows ``/events`` through the
proxy plugin with the client module (``integrations/client/``), EventSource and fetch alike.

The payload of every ``change`` event: ``eventId, chatId, kind, position, swipe, namespace, keys,
at, messageCount, previousCount``; ``kind`` added/changed/removed for message data (null
position/swipe for chat-level data), new/updated/shrunk/missing/renamed for a whole chat.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser import Browser
from tests.probe import Event, Feed, Probe, push, set_value, unique
from tests.st_files import message
from tests.st_harness import StEnv

pytestmark = pytest.mark.xdist_group("sillytavern")

PAYLOAD_KEYS = {
    "eventId", "chatId", "kind", "position", "swipe", "namespace", "keys", "at",
    "messageCount", "previousCount",
}  # fmt: skip


@pytest.fixture
def probe(page: Browser, sillytavern: StEnv) -> Probe:
    return Probe(page, sillytavern)


def aria(text: str, **extra: Any) -> dict[str, Any]:
    return message(text, name="Aria", extra=extra)


def kind_at(kind: str, position: int, namespace: str | None = None) -> Any:
    def match(event: Event) -> bool:
        data = event["data"]
        return bool(
            event["type"] == "change" and data["kind"] == kind and data["position"] == position
            and (namespace is None or data["namespace"] == namespace)
        )  # fmt: skip

    return match


def check_payload(event: Event, chat_id: str) -> dict[str, Any]:
    data: dict[str, Any] = event["data"]
    assert set(data) == PAYLOAD_KEYS, data
    assert data["chatId"] == chat_id
    assert data["eventId"] == event["id"]
    at = datetime.fromisoformat(data["at"].replace("Z", "+00:00"))
    assert at.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - at) < timedelta(minutes=5)
    return data


def open_new_chat(probe: Probe, stem: str, *messages: dict[str, Any]) -> tuple[str, str]:
    name = unique(stem)
    probe.create_chat("Aria.png", name, list(messages))
    return name, probe.wait_indexed(name, len(messages))


def test_an_appended_message_is_announced_with_its_data(probe: Probe) -> None:
    _, chat_id = open_new_chat(probe, "appended", aria("Hello."))
    feed = probe.subscribe({"chatId": chat_id})
    feed.wait_ready()
    probe.change(push(aria("A new message.", probe_feed={"hp": 3, "mood": "calm"})))
    event = feed.wait_event(kind_at("added", 1, "probe_feed"), what="added at position 1")
    data = check_payload(event, chat_id)
    assert (data["swipe"], sorted(data["keys"])) == (0, ["hp", "mood"])
    feed.close()


def test_a_save_that_appends_and_edits_announces_both(probe: Probe) -> None:
    _, chat_id = open_new_chat(
        probe, "mixed", aria("Hello."), aria("Data here.", probe_feed={"hp": 1, "mood": "calm"})
    )
    feed = probe.subscribe({"chatId": chat_id, "namespace": "probe_feed"})
    feed.wait_ready()
    probe.change(
        push(aria("And a new one.", probe_feed={"hp": 9})),
        set_value(1, ["extra", "probe_feed", "hp"], 2),
    )
    added = feed.wait_event(kind_at("added", 2, "probe_feed"), what="the new message's data")
    changed = feed.wait_event(kind_at("changed", 1, "probe_feed"), what="the edited value")
    assert (added["data"]["swipe"], added["data"]["keys"]) == (0, ["hp"])
    assert (changed["data"]["swipe"], changed["data"]["keys"]) == (0, ["hp"])
    check_payload(added, chat_id)
    check_payload(changed, chat_id)
    feed.close()


def _missed_or_reset(events: list[Event], last_id: int, expected: list[Any]) -> None:
    """Either a ``reset`` first, or exactly the missed changes after ``last_id``, in order."""
    assert events, "no event at all after the restart"
    if events[0]["type"] == "reset":
        return
    ids = [event["id"] for event in events]
    assert all(event["type"] == "change" for event in events), events
    assert ids == sorted(set(ids)), ids
    assert ids[0] > last_id, ids
    for match in expected:
        assert any(match(event) for event in events), (match, events)


def test_a_stale_last_event_id_after_a_restart_gets_the_missed_events_or_a_reset(
    probe: Probe, sillytavern: StEnv
) -> None:
    name, chat_id = open_new_chat(probe, "restart", aria("Hello."))
    feed = probe.subscribe({"chatId": chat_id})
    live = probe.subscribe({"chatId": chat_id})  # stays open across the restart
    feed.wait_ready()
    live.wait_ready()
    probe.change(push(aria("One.", probe_feed={"n": 1})))
    last_id = feed.wait_event(kind_at("added", 1))["id"]
    feed.close()  # this client goes away with last_id; the next changes happen without it
    probe.change(push(aria("Two.", probe_feed={"n": 2})))
    probe.wait_indexed(name, 3)
    before_restart = live.wait_event(kind_at("added", 2))["id"]
    sillytavern.sidecar.restart()
    probe.change(push(aria("Three.", probe_feed={"n": 3})))
    probe.wait_indexed(name, 4)

    # The live EventSource reconnects by itself with Last-Event-ID = before_restart.
    after = live.wait_event(
        lambda e: e["type"] == "reset" or kind_at("added", 3)(e), what="event 3 or a reset"
    )
    if after["type"] == "change":
        assert after["id"] > before_restart, "an event id was reused after the restart"
    # A client that comes back later with its stale id: the missed events, exactly, or a reset.
    late = probe.subscribe({"chatId": chat_id, "lastEventId": last_id})
    late.wait_event(lambda e: e["type"] == "reset" or kind_at("added", 3)(e), what="catch-up")
    _missed_or_reset(late.events(), last_id, [kind_at("added", 2), kind_at("added", 3)])
    live.close()
    late.close()


@pytest.mark.parametrize("transport", ["eventsource", "fetch"])
def test_a_4xx_ends_the_subscription(probe: Probe, page: Browser, transport: str) -> None:
    feed = probe.subscribe({"chatId": "not a chat id!"}, transport=transport)
    state = feed.wait_settled()
    assert state["state"] == "rejected", state
    assert state["status"] == 400, state
    assert state["closed"] is True
    assert_no_retry(page, feed, state["connections"])


def assert_no_retry(page: Browser, feed: Feed, connections: int) -> None:
    """The absence of retries can only be observed over a window: 10 retry delays (200 ms)."""
    page.run("async () => new Promise((resolve) => setTimeout(resolve, 2000))")
    assert feed.state()["connections"] == connections, feed.state()
