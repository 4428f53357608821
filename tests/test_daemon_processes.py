"""``sidecar run``'s two processes and its change feed across restarts, from the outside: the
indexer process restarted after a crash, stopped with the daemon, killed along with it; a feed
client from before a restart gets exactly what it missed."""

from __future__ import annotations

import os
import signal

from tests.daemon_proc import (
    PREFIX,
    Daemon,
    alive,
    catalog_count,
    indexed,
    indexer_pid,
    sse_messages,
)
from tests.live_server import wait_until
from tests.st_files import SOLO, header, message, st_save


def test_a_client_from_before_a_restart_gets_exactly_what_it_missed(daemon: Daemon) -> None:
    """Event ids persist: after a restart, the last id a client saw resumes the feed exactly
    (the changes found while reconciling included); an id sidecar never issued gets a reset."""
    daemon.start()
    daemon.messages(until="READY=1")
    wait_until(lambda: indexed(daemon, chats=1, messages=1), timeout=15)
    first = sse_messages(daemon, 1, None)[0]
    assert first["event"] == "position"
    st_save(daemon.root / SOLO / "old.jsonl", [header(), message("hi", extra={"ext": {"n": 2}})])
    seen = sse_messages(daemon, 3, first["id"])[1:]  # position, changed, updated
    assert [m["data"]["kind"] for m in seen] == ["changed", "updated"]
    last_seen = seen[-1]["id"]
    assert daemon.stop()[0] == 0

    old = daemon.root / SOLO / "old.jsonl"
    st_save(old, [header(), message("hi", extra={"ext": {"n": 3}}), message("more")])
    daemon.start()
    daemon.messages(until="READY=1")
    wait_until(lambda: daemon.get(PREFIX + "/status").json()["reconciling"] is False, timeout=15)
    missed = sse_messages(daemon, 3, last_seen)
    assert missed[0] == {"event": "position", "id": last_seen,
                         "data": {"lastEventId": int(last_seen)}}  # fmt: skip
    assert [(m["event"], m["data"]["kind"]) for m in missed[1:]] == [
        ("change", "changed"),
        ("change", "updated"),
    ]
    assert int(missed[1]["id"]) == int(last_seen) + 1  # nothing skipped, nothing repeated
    assert missed[2]["data"]["previousCount"] == 1
    assert missed[2]["data"]["messageCount"] == 2
    stale = sse_messages(daemon, 2, "2")  # an id of the old per-process numbering
    assert stale[1]["event"] == "reset"
    assert stale[1]["data"] == {"lastEventId": int(missed[2]["id"])}
    assert daemon.stop()[0] == 0


def test_the_indexer_process_is_restarted_when_it_dies(daemon: Daemon) -> None:
    daemon.start()
    daemon.messages(until="READY=1")
    wait_until(lambda: indexed(daemon, chats=1, messages=1), timeout=15)
    first = indexer_pid(daemon)
    os.kill(first, signal.SIGKILL)
    reasons: list[str] = []

    def restarting() -> bool:
        answer = daemon.get("/healthz")
        reasons.append(answer.json()["reason"])
        return bool(answer.status_code == 503)

    wait_until(restarting, timeout=15, interval=0.01)
    assert reasons[-1].startswith("the indexer process exited (code -9); restarting it in")
    wait_until(lambda: daemon.get("/healthz").status_code == 200, timeout=30)
    assert indexer_pid(daemon) != first
    st_save(daemon.root / SOLO / "after.jsonl", [header(), message("indexed by the new one")])
    wait_until(lambda: catalog_count(daemon) == 2, timeout=15)
    assert daemon.stop()[0] == 0


def test_stopping_stops_both_processes_and_a_killed_daemon_takes_its_indexer_along(
    daemon: Daemon,
) -> None:
    daemon.start()
    daemon.messages(until="READY=1")
    child = indexer_pid(daemon)
    code, output = daemon.stop()
    assert code == 0, output
    assert not alive(child)
    daemon.start()
    daemon.messages(until="READY=1")
    child = indexer_pid(daemon)
    assert daemon.process is not None
    daemon.process.kill()  # SIGKILL: no handler runs in the API process
    daemon.process.wait(timeout=10)
    wait_until(lambda: not alive(child), timeout=15)
