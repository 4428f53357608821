"""The servers ``valuetracker.py`` compares: the old Value Tracker plugin (Node, from
``../shared/baselines/valuetracker-plugin``) and ``sidecar run``, each a real process on 127.0.0.1,
with the CPU time of its process tree read from ``/proc``."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
PREFIX = "/api/plugins/valuetracker"
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
PLUGIN_BASELINE = SHARED / "baselines" / "valuetracker-plugin"
HTTP_LOAD = SHARED / "tools" / "http_load.py"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live descendants (an indexer child counts too)."""
    total = 0
    for each in _descendants(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


@dataclass
class Server:
    """One server process; ``call`` sets data up through its API (raises on non-2xx)."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    conn: http.client.HTTPConnection | None = field(default=None, repr=False)

    def call(self, method: str, path: str, body: Any = None, ext: str = "") -> Any:
        headers = {"content-type": "application/json", "x-extension-id": ext}
        payload = None if body is None else json.dumps(body)
        for attempt in (1, 2):  # a kept-alive connection may have been closed by the server
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
            try:
                self.conn.request(method, PREFIX + path, payload, headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.RemoteDisconnected):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if not 200 <= resp.status < 300:
            raise RuntimeError(f"{self.name}: {method} {path} -> {resp.status}: {data[:300]!r}")
        return json.loads(data) if data else None

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait_ready(name: str, proc: subprocess.Popen[bytes], port: int, log: Path, path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", PREFIX + path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status < 300 and (path != "/status" or not json.loads(body)["reconciling"]):
                return
        except (OSError, ValueError, KeyError):
            pass
        finally:
            conn.close()
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{name} did not become ready within 60 s:\n{log.read_text()[-3000:]}")


def start_plugin(work: Path) -> Server:
    """The old plugin as its README says: a copy of the baseline, ``npm ci``, ``node serve.js``
    (its databases go to ``<work>/db``)."""
    if not PLUGIN_BASELINE.is_dir():
        raise SystemExit(f"the old plugin baseline is missing: {PLUGIN_BASELINE}")
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise SystemExit("node and npm are needed to run the old plugin")
    shutil.copytree(PLUGIN_BASELINE, work, ignore=shutil.ignore_patterns("node_modules"))
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=work, check=True, timeout=300
    )
    port, log = free_port(), work / "plugin.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [node, "serve.js", str(port)], cwd=work, stdout=sink, stderr=subprocess.STDOUT
        )
    _wait_ready("old plugin", proc, port, log, "/probe")
    return Server("old plugin", port, proc, log)


def start_sidecar(work: Path, name: str, data_root: Path | None) -> Server:
    """``python -m sidecar run`` on a fresh database folder, with or without a data root."""
    work.mkdir(parents=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SIDECAR_") and k != "SILLYTAVERN_DATAROOT"
    }
    port, log = free_port(), work / "sidecar.log"
    cmd = [sys.executable, "-m", "sidecar", "run", "--host", HOST, "--port", str(port)]
    cmd += ["--db-dir", str(work / "db"), "--log-level", "warning"]
    if data_root is not None:
        cmd += ["--data-root", str(data_root)]
    else:  # no data root found in the usual places either: the API alone
        env["HOME"] = str(work)
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, cwd=work, stdout=sink, stderr=subprocess.STDOUT, env=env)
    _wait_ready(name, proc, port, log, "/status" if data_root is not None else "/probe")
    return Server(name, port, proc, log)
