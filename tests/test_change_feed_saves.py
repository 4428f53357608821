"""What each kind of save announces on the change feed, read back from the event log the way
the feed reads it: per message, swipe and namespace, new messages included, whatever else the
same save did; and the whole-chat events with their message counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sidecar.storage.event_log import ChangeEvent
from tests.event_log_helpers import all_events
from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save, swiped

CHAT = f"{SOLO}/feed.jsonl"
Shape = tuple[str, int | None, int | None, str | None, tuple[str, ...]]


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    opened = Harness(tmp_path / "st", tmp_path / "db")
    yield opened
    opened.close()


def save(harness: Harness, objs: list[Any]) -> list[ChangeEvent]:
    """Save the chat, index it, and return the events that index logged."""
    before = len(all_events(harness.catalog))
    path = harness.root / CHAT
    st_save(path, objs)
    harness.index(path)
    return [event for _id, event in all_events(harness.catalog)[before:]]


def shapes(events: list[ChangeEvent]) -> list[Shape]:
    return [(e.kind, e.position, e.swipe, e.namespace, e.keys) for e in events]


def tracker(**values: Any) -> dict[str, Any]:
    return {"tracker": values}


def start(harness: Harness) -> list[dict[str, Any]]:
    chat = [header(), message("hi", is_user=True), message("hello", extra=tracker(hp=10))]
    first = save(harness, chat)
    assert [(e.kind, e.message_count) for e in first] == [("new", 2)]  # once, not key by key
    return chat


def test_an_appended_message_announces_its_data(harness: Harness) -> None:
    chat = start(harness)
    events = save(harness, [*chat, message("more", extra=tracker(hp=9, mood="calm"))])
    assert shapes(events) == [
        ("added", 2, 0, "tracker", ("hp", "mood")),
        ("updated", None, None, None, ()),
    ]
    updated = events[-1]
    assert (updated.message_count, updated.previous_count) == (3, 2)
    assert all(e.user == "default-user" and e.at for e in events)


def test_a_mixed_save_announces_every_change(harness: Harness) -> None:
    """One save appends a message with data and edits another's: both are announced."""
    chat = start(harness)
    chat[2] = message("hello", extra=tracker(hp=11))
    events = save(
        harness,
        [*chat, message("appended", is_user=True, extra={"notes": {"text": "new"}})],
    )
    assert sorted(shapes(events)[:-1]) == [
        ("added", 2, 0, "notes", ("text",)),
        ("changed", 1, 0, "tracker", ("hp",)),
    ]
    assert shapes(events)[-1] == ("updated", None, None, None, ())


def test_swipes_removed_keys_and_chat_level_data(harness: Harness) -> None:
    chat = start(harness)
    chat[2] = swiped(["a", "b"], 1, [tracker(hp=1), tracker(hp=10)])  # hp 10 moves to swipe 1
    events = save(harness, chat)
    assert shapes(events)[:-1] == [
        ("changed", 1, 0, "tracker", ("hp",)),
        ("added", 1, 1, "tracker", ("hp",)),
    ]
    chat[2] = swiped(["a", "b"], 1, [tracker(hp=1), {}])
    chat[0] = header(my_ext={"scene": 4})
    events = save(harness, chat)
    assert sorted(shapes(events)[:-1], key=repr) == sorted(
        [("removed", 1, 1, "tracker", ("hp",)), ("added", None, None, "my_ext", ("scene",))],
        key=repr,
    )


def test_a_text_only_edit_is_an_update_without_data_events(harness: Harness) -> None:
    chat = start(harness)
    chat[1] = message("hi there", is_user=True)
    assert shapes(save(harness, chat)) == [("updated", None, None, None, ())]


def test_a_chat_emptied_to_its_header_is_announced_as_shrunk_with_counts(
    harness: Harness,
) -> None:
    chat = [header(), *(message(f"m{n}", extra=tracker(n=n)) for n in range(6))]
    save(harness, chat)
    events = save(harness, [header()])
    kinds = [e.kind for e in events]
    assert kinds.count("removed") == 6
    assert kinds[-2:] == ["updated", "shrunk"]
    assert (events[-1].message_count, events[-1].previous_count) == (0, 6)


def test_missing_and_back_under_another_name(harness: Harness) -> None:
    chat = start(harness)
    path = harness.root / CHAT
    path.unlink()
    harness.index(path)
    events = [e for _i, e in all_events(harness.catalog)]
    assert (events[-1].kind, events[-1].message_count) == ("missing", 2)
    renamed = harness.root / SOLO / "feed-renamed.jsonl"
    st_save(renamed, chat)
    harness.index(renamed)
    last = all_events(harness.catalog)[-1][1]
    assert (last.kind, last.chat_id) == ("renamed", events[-1].chat_id)


def test_event_ids_follow_each_other(harness: Harness) -> None:
    chat = start(harness)
    save(harness, [*chat, message("x", extra=tracker(a=1))])
    ids = [event_id for event_id, _e in all_events(harness.catalog)]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
