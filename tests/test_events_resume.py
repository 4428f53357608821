"""GET /events resumed with Last-Event-ID: exactly the missed events, from this process or an
earlier one (the ids persist), or a reset for an id that cannot be replayed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sidecar.events import EventHub
from tests.event_log_helpers import Log
from tests.events_server import (
    EV1,
    EV2,
    EV3,
    JOIN_TIMEOUT,
    Served,
    change,
    data3,
    ids,
    read_messages,
    serve,
)


def test_resume_with_last_event_id_returns_exactly_the_missed_events(
    served: Served, hub: EventHub, log: Log
) -> None:
    logged = log.publish(hub, [EV1, EV2, EV3, EV1, EV2])
    headers = {"Last-Event-ID": str(logged[1])}
    with httpx.stream("GET", served.url, headers=headers, timeout=JOIN_TIMEOUT) as response:
        lines = response.iter_lines()
        missed = read_messages(lines, 3)
        logged += log.publish(hub, [EV3])
        live = read_messages(lines, 1)
    assert ids(missed + live) == logged[2:]
    assert missed[0] == change(logged[2], data3(logged[2]))


def test_resume_after_a_restart_replays_what_the_previous_process_logged(
    tmp_path: Path, log: Log
) -> None:
    """The client saw some events of one sidecar process; the next process (a new hub on the
    same catalog) replays exactly those it missed, with the same ids."""
    first = log.hub()
    with serve(first) as running, httpx.stream("GET", running.url, timeout=JOIN_TIMEOUT) as resp:
        seen = log.publish(first, [EV1, EV2])
        assert ids(read_messages(resp.iter_lines(), 2)) == seen
    missed = log.append([EV3, EV1])  # logged while the client was away
    restarted = log.hub()
    headers = {"Last-Event-ID": str(seen[-1])}
    with (
        serve(restarted) as running,
        httpx.stream("GET", running.url, headers=headers, timeout=JOIN_TIMEOUT) as response,
    ):
        assert ids(read_messages(response.iter_lines(), 2)) == missed


def test_resume_with_query_and_the_header_wins(served: Served, hub: EventHub, log: Log) -> None:
    logged = log.publish(hub, [EV1, EV2, EV3])
    url = f"{served.url}?lastEventId={logged[0]}"
    with httpx.stream("GET", url, timeout=JOIN_TIMEOUT) as response:
        assert ids(read_messages(response.iter_lines(), 2)) == logged[1:]
    headers = {"Last-Event-ID": str(logged[1])}
    url = f"{served.url}?lastEventId={logged[0] - 1}"
    with httpx.stream("GET", url, headers=headers, timeout=JOIN_TIMEOUT) as response:
        assert ids(read_messages(response.iter_lines(), 1)) == logged[2:]


@pytest.mark.parametrize("stale", ["2", "far-ahead"])
def test_unknown_last_event_id_gets_a_reset_then_live_events(
    served: Served, hub: EventHub, log: Log, stale: str
) -> None:
    """``2``: an id of an old per-process numbering; far ahead: an id this log never issued."""
    logged = log.publish(hub, [EV1, EV2])
    last = str(logged[-1] + 999) if stale == "far-ahead" else stale
    with httpx.stream(
        "GET", served.url, headers={"Last-Event-ID": last}, timeout=JOIN_TIMEOUT
    ) as response:
        lines = response.iter_lines()
        reset = read_messages(lines, 1)
        logged += log.publish(hub, [EV3])
        live = read_messages(lines, 1)
    assert reset == [[f"id: {logged[1]}", "event: reset", f'data: {{"lastEventId":{logged[1]}}}']]
    assert live == [change(logged[2], data3(logged[2]))]
