"""``sidecar run`` as a subprocess, seen from outside (for benchmarks): start it on a free port,
wait until it has reconciled, follow its change feed, read its CPU and memory, stop it."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

PREFIX = "/api/plugins/valuetracker"
STOP_SECONDS, READY_SECONDS = 10.0, 600.0
RECONCILED = re.compile(r"reconciled (\d+) chats in ([0-9.]+) s")
Stop = tuple[str, float, int | None]  # which daemon run, seconds to exit, exit code
STARTED: list[subprocess.Popen[bytes]] = []  # killed at exit if a failure left one running


class Daemon:
    """``sidecar run`` as a subprocess; stdout and stderr go to ``log_path``."""

    def __init__(self, root: Path, db_dir: Path, log_path: Path, polling: bool) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
        env.pop("JOURNAL_STREAM", None)
        if polling:
            env["SIDECAR_WATCH__MODE"] = "polling"
        with socket.socket() as sock:  # a free port
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.started = time.perf_counter()
        with open(log_path, "wb") as log:
            command = [sys.executable, "-m", "sidecar", "run", "--port", str(port),
                       "--db-dir", str(db_dir), "--data-root", str(root)]  # fmt: skip
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        STARTED.append(self.proc)
        self.http = httpx.Client(base_url=self.base, timeout=5.0)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def status(self) -> dict[str, Any]:
        return dict(self.http.get(f"{PREFIX}/status").json())

    def wait_ready(self, chats: int) -> tuple[float, float, dict[str, Any]]:
        """Poll until healthy, the reconcile pass is logged as done and ``chats`` are indexed;
        returns (seconds since start, reconcile seconds the daemon logged, status)."""
        deadline = time.perf_counter() + READY_SECONDS
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"daemon exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            done = RECONCILED.search(self.log_text())
            try:
                healthy = self.http.get("/healthz").status_code == 200
                status = self.status() if healthy and done else {}
            except httpx.TransportError:  # not listening yet
                status = {}
            if done and status.get("reconciling") is False and status.get("chats") == chats:
                return time.perf_counter() - self.started, float(done.group(2)), status
            time.sleep(0.05)
        sys.exit(f"daemon not ready after {READY_SECONDS:g} s:\n{self.log_text()[-3000:]}")

    def stop(self, name: str) -> Stop:
        self.http.close()
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
            self.proc.kill()
            self.proc.wait(STOP_SECONDS)
        seconds = time.perf_counter() - started
        problems = [line for line in self.log_text().splitlines()
                    if re.search(r"WARNING|ERROR|CRITICAL|Traceback", line)]  # fmt: skip
        print(f"stop: exit code {code} after {seconds:.2f} s (SIGTERM); daemon log: "
              f"{len(problems)} warning/error lines", *problems[:10], sep="\n  ")  # fmt: skip
        return name, seconds, code


class Feed(threading.Thread):
    """SSE client: puts (perf_counter at arrival, data) of every ``change`` message in a queue."""

    def __init__(self, url: str) -> None:
        super().__init__(name="sse-client", daemon=True)
        self.url = url
        self.events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self.connected = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        timeout = httpx.Timeout(5.0, read=60.0)  # heartbeats come every 15 s
        try:
            with httpx.Client(timeout=timeout) as client, client.stream("GET", self.url) as resp:
                resp.raise_for_status()
                self.connected.set()
                event = ""
                for line in resp.iter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "change":
                        self.events.put((time.perf_counter(), json.loads(line[5:])))
                    elif not line:
                        event = ""
        except httpx.HTTPError as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.connected.set()


def usage(pid: int) -> tuple[float, float]:
    """CPU seconds (utime + stime, all threads) and VmRSS in MB of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(rss) / 1024
