"""The change feed's event log in the catalog, read through the hub: ids that follow each other,
persist across restarts and never repeat, pruning, every field kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.events import ChangeEvent
from sidecar.storage.event_log import time_seed
from tests.event_log_helpers import Log
from tests.hub_helpers import msg, run


def test_ids_follow_each_other_and_since_returns_later_events(log: Log) -> None:
    hub = log.hub()
    empty_last = hub.last_id
    assert hub.since(empty_last) == ([], False)
    first = log.publish(hub, [msg(position=1), msg(position=2)])
    log.publish(hub, [])
    third = log.publish(hub, [msg(position=3)])
    assert third == [first[1] + 1]
    assert first[0] == empty_last + 1
    assert hub.last_id == third[0]
    events, lost = hub.since(empty_last)
    assert [(i, e.position) for i, e in events] == [(first[0], 1), (first[1], 2), (third[0], 3)]
    assert not lost
    assert hub.since(first[1]) == ([(third[0], msg(position=3))], False)
    assert hub.since(third[0]) == ([], False)


def test_ids_persist_across_restarts_and_a_new_catalog_never_reissues_one(tmp_path: Path) -> None:
    """The first id of a log is time-based, and ids continue after a restart (a new hub, a new
    connection to the same file), so a client's last id is never handed out again."""
    before = time_seed()
    log = Log(tmp_path / "first")
    ids = log.append([msg(position=1), msg(position=2)])
    assert ids[0] > before  # not 1: a reset catalog must start above any earlier one's ids
    log.close()
    reopened = Log(log.path.parent)  # sidecar restarted
    more = reopened.append([msg(position=3)])
    assert more == [ids[-1] + 1]
    hub = reopened.hub()
    assert hub.since(ids[-1]) == ([(more[0], msg(position=3))], False)
    reopened.close()
    elsewhere = Log(tmp_path / "new-folder")  # a catalog created later, e.g. after a repair
    assert elsewhere.append([msg()])[0] > more[0]
    assert elsewhere.hub().since(ids[0]) == ([], True)  # the old id is unknown there: reset
    elsewhere.close()


def test_pruned_events_are_reported_lost(log: Log) -> None:
    ids = log.append(msg(position=n) for n in range(1, 8))
    log.prune(keep=3)
    hub = log.hub()
    events, lost = hub.since(ids[0] - 1)
    assert lost
    assert events == []
    assert [i for i, _ in hub.since(ids[3])[0]] == ids[4:]  # the oldest kept is ids[4]
    assert not hub.since(ids[3])[1]


def test_an_id_beyond_the_last_is_lost_history(log: Log) -> None:
    ids = log.append([msg()])
    assert log.hub().since(ids[0] + 5) == ([], True)


def test_change_event_payload_and_kinds() -> None:
    event = ChangeEvent("added", "abc", 4, 1, "tracker", ("hp", "mp"), at="2026-01-02T03:04:05Z")
    assert event.payload(9) == {
        "eventId": 9,
        "chatId": "abc",
        "position": 4,
        "swipe": 1,
        "namespace": "tracker",
        "keys": ["hp", "mp"],
        "kind": "added",
        "at": "2026-01-02T03:04:05Z",
        "messageCount": None,
        "previousCount": None,
    }
    shrunk = ChangeEvent("shrunk", "abc", message_count=1, previous_count=120).payload(1)
    assert (shrunk["keys"], shrunk["messageCount"], shrunk["previousCount"]) == ([], 1, 120)
    with pytest.raises(ValueError, match="unknown change kind"):
        ChangeEvent("exploded", "abc")


def test_every_field_survives_the_log(log: Log) -> None:
    event = ChangeEvent("shrunk", "c9", None, None, None, (), "alice", "2026-05-06T07:08:09.010Z",
                        2, 400)  # fmt: skip
    keyed = ChangeEvent("removed", "c9", 3, 2, "ns.x", ("a", "b/c"), "alice", "2026-05-06Z")
    ids = log.append([event, keyed])
    assert log.hub().since(ids[0] - 1)[0] == [(ids[0], event), (ids[1], keyed)]


def test_invalid_arguments(log: Log) -> None:
    with pytest.raises(ValueError, match="cache_size"):
        log.hub(cache_size=0)
    with pytest.raises(ValueError, match="non-negative"):
        log.hub().since(-1)

    async def bad_heartbeat() -> None:
        await anext(log.hub().stream(after=None, heartbeat=0))

    with pytest.raises(ValueError, match="heartbeat"):
        run(bad_heartbeat())
