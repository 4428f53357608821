"""``sidecar run`` as systemd runs it: a real subprocess watching a real data root, serving
HTTP on 127.0.0.1, notifying a real datagram socket, streaming the change feed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sidecar.exit_codes import ExitCode
from tests.live_server import free_port, wait_until
from tests.st_files import SOLO, header, message, st_save

PREFIX = "/api/plugins/valuetracker"


class Daemon:
    def __init__(self, tmp: Path, root: Path) -> None:
        self.tmp, self.root = tmp, root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.notify_path = tmp / "notify.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.settimeout(20)
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
        env |= {
            "NOTIFY_SOCKET": str(self.notify_path),
            "WATCHDOG_USEC": "400000",
            "SIDECAR_WATCH__QUIET_PERIOD_MS": "100",
            "SIDECAR_EVENTS__HEARTBEAT_SECONDS": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "run", "--port", str(self.port),
             "--db-dir", str(self.tmp / "db"), "--data-root", str(self.root)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def messages(self, until: str) -> list[str]:
        """Datagrams received up to and including one containing ``until``."""
        got: list[str] = []
        while True:
            data = self.notify.recv(4096).decode()
            got.append(data)
            if until in data:
                return got

    def get(self, path: str) -> Any:
        return httpx.get(self.base + path, timeout=5)

    def stop(self) -> tuple[int, str]:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=10)
        return self.process.returncode, output

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()
        self.notify.close()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    root = tmp_path / "st"
    st_save(root / SOLO / "old.jsonl", [header(), message("hi", extra={"ext": {"n": 1}})])
    d = Daemon(tmp_path, root)
    yield d
    d.close()


def catalog_count(daemon: Daemon) -> int:
    status = daemon.get(PREFIX + "/status").json()
    return int(status["chats"])


def test_run_watches_serves_notifies_and_stops_cleanly(daemon: Daemon) -> None:
    daemon.start()
    ready = daemon.messages(until="READY=1")
    assert any("READY=1" in m for m in ready)
    health = daemon.get("/healthz")
    assert (health.status_code, health.json()["status"]) == (200, "ok")
    wait_until(lambda: catalog_count(daemon) == 1, timeout=15)
    status = daemon.get(PREFIX + "/status").json()
    assert status["watchMode"] in ("native", "polling")
    assert status["messages"] == 1
    assert status["namespaces"] == ["ext"]
    assert any(m == "WATCHDOG=1" for m in daemon.messages(until="WATCHDOG=1"))

    events: list[dict[str, Any]] = []
    connected = threading.Event()

    def listen() -> None:
        with httpx.stream("GET", daemon.base + PREFIX + "/events", timeout=30) as stream:
            connected.set()
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    data = json.loads(line[len("data: ") :])
                    if "kind" in data:  # not the stream's position message
                        events.append(data)

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert connected.wait(10)
    # A save exactly as SillyTavern does it, and a brand-new chat.
    st_save(daemon.root / SOLO / "old.jsonl", [header(), message("hi", extra={"ext": {"n": 2}})])
    st_save(daemon.root / SOLO / "new.jsonl", [header(), message("new")])
    wait_until(lambda: len({e["kind"] for e in events} & {"changed", "new"}) == 2, timeout=15)
    changed = next(e for e in events if e["kind"] == "changed")
    assert {k: changed[k] for k in ("position", "swipe", "namespace", "keys")} == {
        "position": 0,
        "swipe": 0,
        "namespace": "ext",
        "keys": ["n"],
    }
    assert isinstance(changed["eventId"], int)
    assert changed["chatId"]
    # Stop while the change-feed client is still connected: exit 0 within 10 s.
    started = time.monotonic()
    code, output = daemon.stop()
    assert code == 0, output
    assert time.monotonic() - started < 10
    assert any("STOPPING=1" in m for m in daemon.messages(until="STOPPING=1"))
    listener.join(timeout=5)


def test_changes_made_while_stopped_are_picked_up_at_start(daemon: Daemon) -> None:
    daemon.start()
    daemon.messages(until="READY=1")
    wait_until(lambda: catalog_count(daemon) == 1, timeout=15)
    assert daemon.stop()[0] == 0
    st_save(daemon.root / SOLO / "while-down.jsonl", [header(), message("a"), message("b")])
    (daemon.root / SOLO / "old.jsonl").unlink()
    daemon.start()
    daemon.messages(until="READY=1")
    wait_until(lambda: catalog_count(daemon) == 2, timeout=15)
    wait_until(lambda: daemon.get(PREFIX + "/status").json()["reconciling"] is False, timeout=15)
    status = daemon.get(PREFIX + "/status").json()
    assert status["messages"] == 3  # the missing chat keeps its message: never purged
    assert daemon.stop()[0] == 0


def test_a_data_root_that_appears_after_start_is_picked_up(tmp_path: Path) -> None:
    """No restart needed: while the folder is missing the API serves and /healthz says what is
    missing; once it appears it is watched and indexed, and /healthz follows."""
    root = tmp_path / "does-not-exist-yet"
    d = Daemon(tmp_path, root)
    try:
        d.start()
        d.messages(until="READY=1")  # the API serves meanwhile
        wait_until(lambda: d.get("/healthz").status_code == 503, timeout=15)
        reason = d.get("/healthz").json()["reason"]
        assert reason == f"the SillyTavern data folder {root} does not exist; waiting for it"
        st_save(root / SOLO / "late.jsonl", [header(), message("here now")])
        wait_until(lambda: d.get("/healthz").status_code == 200, timeout=20)
        wait_until(lambda: catalog_count(d) == 1, timeout=15)
        assert d.stop()[0] == 0
    finally:
        d.close()


def test_one_writer_per_database_folder(daemon: Daemon) -> None:
    daemon.start()
    daemon.messages(until="READY=1")
    args = ["--db-dir", str(daemon.tmp / "db"), "--data-root", str(daemon.root)]
    index = subprocess.run(
        [sys.executable, "-m", "sidecar", "index", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert index.returncode != 0
    assert "a running sidecar indexes by itself" in index.stderr
    second = subprocess.run(
        [sys.executable, "-m", "sidecar", "run", "--port", str(free_port()), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert second.returncode == ExitCode.LOCKED
    assert "another sidecar process" in second.stderr
    assert "is using the database folder" in second.stderr
    assert daemon.stop()[0] == 0


def test_status_reports_disk_use(daemon: Daemon) -> None:
    daemon.start()
    daemon.messages(until="READY=1")
    wait_until(lambda: catalog_count(daemon) == 1, timeout=15)
    usage = daemon.get(PREFIX + "/status").json()["diskUsage"]
    assert usage["catalog"] > 0
    assert usage["lineStore"] > 0
    assert usage["extensions"]["ext"] > 0
    assert usage["total"] >= usage["catalog"] + usage["lineStore"] + usage["extensions"]["ext"]
    assert daemon.stop()[0] == 0


def sse_messages(daemon: Daemon, count: int, last_event_id: str | None) -> list[dict[str, Any]]:
    """The first ``count`` messages of a new feed connection, as ``{event, id, data}``."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
    got: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with httpx.stream(
        "GET", daemon.base + PREFIX + "/events", headers=headers, timeout=20
    ) as stream:
        for line in stream.iter_lines():
            if not line:
                if "event" in current:
                    got.append(current)
                current = {}
                if len(got) == count:
                    return got
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = json.loads(value) if field == "data" else value
    return got


def test_a_client_from_before_a_restart_gets_exactly_what_it_missed(daemon: Daemon) -> None:
    """Event ids persist: after a restart, the last id a client saw resumes the feed exactly
    (the changes found while reconciling included); an id sidecar never issued gets a reset."""
    daemon.start()
    daemon.messages(until="READY=1")
    wait_until(lambda: catalog_count(daemon) == 1, timeout=15)
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


def children(pid: int) -> list[int]:
    """Child processes of every thread of ``pid`` (a restart spawns from another thread)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread just ended
            continue
    return found


def indexer_pid(daemon: Daemon) -> int:
    assert daemon.process is not None
    found: list[int] = []

    def started() -> bool:
        found[:] = [
            child
            for child in children(daemon.process.pid)  # type: ignore[union-attr]
            if "sidecar.daemon.indexer_process" in Path(f"/proc/{child}/cmdline").read_text()
        ]
        return len(found) == 1

    wait_until(started, timeout=20)
    return found[0]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return bool(stat.split(") ", 1)[1][0] != "Z")  # a zombie has exited


def test_the_indexer_process_is_restarted_when_it_dies(daemon: Daemon) -> None:
    daemon.start()
    daemon.messages(until="READY=1")
    wait_until(lambda: catalog_count(daemon) == 1, timeout=15)
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
