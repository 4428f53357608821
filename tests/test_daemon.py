"""``sidecar run`` as systemd runs it: a real subprocess watching a real data root, serving
HTTP on 127.0.0.1, notifying a real datagram socket, streaming the change feed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from sidecar.exit_codes import ExitCode
from tests.daemon_proc import (
    PREFIX,
    Daemon,
    catalog_count,
    indexed,
)
from tests.live_server import free_port, wait_until
from tests.st_files import SOLO, header, message, st_save


def test_run_watches_serves_notifies_and_stops_cleanly(daemon: Daemon) -> None:
    daemon.start()
    ready = daemon.messages(until="READY=1")
    assert any("READY=1" in m for m in ready)
    health = daemon.get("/healthz")
    assert (health.status_code, health.json()["status"]) == (200, "ok")
    wait_until(lambda: indexed(daemon, chats=1, messages=1), timeout=15)
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
    # Every write is folded into its database: no WAL or shared-memory file stays behind.
    db_dir = daemon.tmp / "db"
    assert (db_dir / "sidecar.index.db").is_file()
    assert sorted(p.name for p in db_dir.glob("*.db-*")) == []


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
    wait_until(lambda: indexed(daemon, chats=1, messages=1), timeout=15)
    usage = daemon.get(PREFIX + "/status").json()["diskUsage"]
    assert usage["catalog"] > 0
    assert usage["lineStore"] > 0
    assert usage["extensions"]["ext"] > 0
    assert usage["total"] >= usage["catalog"] + usage["lineStore"] + usage["extensions"]["ext"]
    assert daemon.stop()[0] == 0
