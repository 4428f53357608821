"""Real ``sidecar`` processes for the kill tests: configs, start, wait, SIGKILL, stop.

Each process is ``python -m sidecar ...`` with this interpreter, its output in a log file (a pipe
nobody reads could block it). "Started" means it holds the database folder's lock: the lock file
then holds its pid, written after imports, right before it opens the databases.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sidecar.storage.lock import lock_holder
from tests.live_server import free_port

PREFIX = "/api/plugins/valuetracker"


class Failed(AssertionError):
    """A sidecar process did something it must not (exit with an error, never start)."""


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true; :class:`Failed` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise Failed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.01)


@dataclass
class Folder:
    """One database folder with its config file; ``root`` is SillyTavern's data folder."""

    db_dir: Path
    root: Path
    port: int = field(default_factory=free_port)

    @property
    def config(self) -> Path:
        return self.db_dir.with_name(self.db_dir.name + ".yaml")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    def write_config(self) -> Path:
        self.db_dir.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            "storage:\n"
            f"  database_dir: {self.db_dir}\n"
            "sillytavern:\n"
            f"  data_root: {self.root}\n"
            "api:\n"
            f"  port: {self.port}\n"
            "watch:\n"
            "  quiet_period_ms: 100\n"
            "  max_wait_ms: 1000\n"
            "  rescan_minutes: 0\n"
            "log:\n"
            "  level: warning\n",
            encoding="utf-8",
        )
        return self.config


class Proc:
    """A running ``sidecar <command>``."""

    def __init__(self, folder: Folder, command: str) -> None:
        self.folder = folder
        self.command = command
        if not folder.config.exists():
            folder.write_config()
        self.log_path = folder.db_dir.with_name(f"{folder.db_dir.name}.{command}.log")
        self.started_at = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "sidecar", command, "--config", str(folder.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "COLUMNS": "120"},
                start_new_session=True,  # its own process group: sidecar run's indexer too
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exited(self) -> bool:
        return self.popen.poll() is not None

    def holds_lock(self) -> bool:
        return lock_holder(self.folder.db_dir) == self.pid

    def wait_started(self, timeout: float = 30) -> bool:
        """Until it holds the lock; False when it exited first (a short run can finish first)."""
        wait_for(lambda: self.exited() or self.holds_lock(), timeout, f"{self.command} to start")
        if self.exited():
            self.check_exit()
            return False
        return True

    def wait_answering(self, timeout: float = 30) -> None:
        def answering() -> bool:
            if self.exited():
                self.check_exit()
                raise Failed(f"sidecar {self.command} exited before answering")
            try:
                return httpx.get(self.folder.base + "/probe", timeout=2).status_code == 204
            except httpx.TransportError:
                return False

        wait_for(answering, timeout, "the API to answer")

    def wait_exit(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for it to exit by itself (the kill delay); True if it
        did (with exit code 0, else :class:`Failed`)."""
        try:
            self.popen.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            return False
        self.check_exit()
        return True

    def check_exit(self) -> None:
        code = self.popen.poll()
        if code not in (0, None):
            tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise Failed(f"sidecar {self.command} exited with {code}:\n{tail}")

    def kill(self) -> None:
        """SIGKILL to every process of the command (``sidecar run`` and its indexer process) at
        once, as systemd's final kill or a power cut: no handler runs, nothing is flushed or
        closed by sidecar."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM and wait for a clean exit (code 0)."""
        if not self.exited():
            self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failed(f"sidecar {self.command} did not stop within {timeout} s") from None
        self.check_exit()


def run_to_end(folder: Folder, command: str = "index", timeout: float = 600) -> float:
    """Run ``command`` to completion; seconds from holding the lock to exit (its work)."""
    proc = Proc(folder, command)
    try:
        started = time.monotonic()
        if proc.wait_started():
            started = time.monotonic()
        if not proc.wait_exit(timeout):
            raise Failed(f"sidecar {command} did not finish within {timeout} s")
        return time.monotonic() - started
    finally:
        proc.kill()
