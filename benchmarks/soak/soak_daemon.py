"""The soak benchmark's daemon: ``python -m sidecar run`` as a subprocess, and what ``/proc``
says about it (RSS, open file descriptors by kind, threads, CPU time)."""

from __future__ import annotations

import argparse
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from soak_chats import Saver

PREFIX = "/api/plugins/valuetracker"


@dataclass(frozen=True)
class Sample:
    at: float
    rss: float  # MB
    fds: int
    sockets: int  # of those fds, sockets (client connections, the listening socket)
    threads: int
    cpu: float  # seconds of CPU used so far (user + system)
    open_files: tuple[tuple[str, int], ...] = ()  # fds other than sockets, by name, with counts
    saves: int = 0  # saves made so far

    @property
    def files(self) -> int:
        """Open fds other than sockets: databases, WAL files, line packs, the log, pipes."""
        return self.fds - self.sockets


class Daemon:
    def __init__(self, root: Path, db_dir: Path, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
        env.pop("JOURNAL_STREAM", None)
        command = [sys.executable, "-m", "sidecar", "run", "--port", str(port),
                   "--db-dir", str(db_dir), "--data-root", str(root)]  # fmt: skip
        with log.open("wb") as sink:
            self.proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
        self.http = httpx.Client(base_url=self.base + PREFIX, timeout=30)

    def status(self) -> dict[str, Any]:
        try:
            return dict(self.http.get("/status").json())
        except httpx.TransportError:
            return {}

    def wait(self, ready: Any, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not ready(self.status()):
            if self.proc.poll() is not None:
                sys.exit(f"daemon exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                sys.exit(f"daemon not {what} after {seconds:g} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def pids(self) -> list[int]:
        """The daemon's processes: the API process and its children (the indexer process)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [self.proc.pid, *(int(pid) for pid in children.read_text().split())]
        except OSError:
            return [self.proc.pid]

    def sample(self) -> Sample:
        """RSS, fds, threads and CPU summed over both of the daemon's processes."""
        rss = cpu = 0.0
        threads = 0
        names: Counter[str] = Counter()
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text().splitlines()
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                names += self.open_fds(pid)
            except OSError:  # a child that just ended
                continue
            fields = dict(line.split(":", 1) for line in status)
            cpu += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
            rss += int(fields["VmRSS"].split()[0]) / 1024
            threads += int(fields["Threads"])
        fds, sockets = sum(names.values()), names.pop("socket", 0)
        return Sample(time.monotonic(), rss, fds, sockets, threads, cpu,
                      tuple(sorted(names.items())))  # fmt: skip

    def open_fds(self, pid: int) -> Counter[str]:
        """Open fds by name: ``socket``, a file's name (``qvink_memory.db-wal``), or the kind
        (``pipe``, ``anon_inode:inotify``)."""
        names: Counter[str] = Counter()
        folder = f"/proc/{pid}/fd"
        for fd in os.listdir(folder):
            try:
                target = os.readlink(f"{folder}/{fd}")
            except OSError:
                continue
            if target.startswith("socket:"):
                names["socket"] += 1
            else:
                names[os.path.basename(target) if target.startswith("/") else
                      target.split(":[")[0]] += 1  # fmt: skip
        return names

    def stop(self) -> tuple[int | None, float]:
        self.http.close()
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            code = None
            self.proc.kill()
            self.proc.wait(10)
        return code, time.monotonic() - started

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class Sampler(threading.Thread):
    """Samples the daemon at the end of every interval."""

    def __init__(self, daemon: Daemon, saver: Saver, start: float, args: argparse.Namespace):
        super().__init__(name="sampler", daemon=True)
        self.sidecar, self.saver, self.start_at, self.args = daemon, saver, start, args
        self.samples: list[Sample] = []
        self.count = math.ceil(args.seconds / args.interval)

    def run(self) -> None:
        for i in range(self.count):
            at = min(
                self.start_at + (i + 1) * self.args.interval, self.start_at + self.args.seconds
            )
            if (delay := at - time.monotonic()) > 0:
                time.sleep(delay)
            sample = self.sidecar.sample()
            self.samples.append(replace(sample, saves=self.saver.made))

    def wait_for(self, index: int) -> Sample:
        while len(self.samples) <= index:
            time.sleep(0.05)
        return self.samples[index]
