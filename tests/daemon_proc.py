"""``sidecar run`` as a real subprocess for tests: a data root, a notify socket, helpers to read
its feed and find its indexer process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.live_server import free_port, wait_until

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


def catalog_count(daemon: Daemon) -> int:
    status = daemon.get(PREFIX + "/status").json()
    return int(status["chats"])


def indexed(daemon: Daemon, chats: int, messages: int) -> bool:
    """The catalog holds ``chats`` chats and ``messages`` messages: a new chat's row can be
    committed before its messages are (reconciled first, then indexed)."""
    status = daemon.get(PREFIX + "/status").json()
    return (status["chats"], status["messages"]) == (chats, messages)


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
