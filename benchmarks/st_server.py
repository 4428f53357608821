"""The real SillyTavern 1.18 server (``../shared/sillytavern-1.18``) for benchmarks: installed once
into ``.cache/sillytavern-1.18`` of the work tree, started on 127.0.0.1 over a data root, and its
own chat search called the way its UI calls it (``POST /api/chats/search``)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "sillytavern-1.18"
DEST = REPO / ".cache" / "sillytavern-1.18"


def install() -> Path:
    """Install the snapshot (once; about 25 s) and return where it is."""
    script = SHARED / "install.sh"
    if not script.is_file():
        raise SystemExit(f"{SHARED} is absent: cannot run SillyTavern")
    subprocess.run([str(script), str(DEST)], check=True, stdout=subprocess.DEVNULL)
    return DEST


def _config(dest: Path, work: Path) -> Path:
    text = (dest / "default" / "config.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(\s*)autoUpdate: true", r"\1autoUpdate: false", text)
    text = text.replace(
        "enableServerPluginsAutoUpdate: true", "enableServerPluginsAutoUpdate: false"
    )
    path = work / "st-config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SillyTavern:
    """One server process over ``data_root``; ``search`` returns the chat names it finds."""

    def __init__(self, data_root: Path, work: Path) -> None:
        dest = install()
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = (work / "sillytavern.log").open("wb")
        command = [
            "node", "server.js", "--port", str(self.port), "--dataRoot", str(data_root),
            "--listen", "false", "--browserLaunchEnabled", "false",
            "--configPath", str(_config(dest, work)),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=dest, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.client = httpx.Client(base_url=self.base, timeout=600)
        self._wait()
        token = self.client.get("/csrf-token").json()["token"]
        self.client.headers["X-CSRF-Token"] = token

    def _wait(self) -> None:
        deadline = time.monotonic() + 600  # the first start compiles the front end (~70 s)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"SillyTavern exited ({self.process.returncode}): see its log")
            try:
                if self.client.get("/").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise SystemExit("SillyTavern did not start within 10 minutes")

    def search(self, query: str, character: str) -> tuple[set[str], float]:
        """Chat names (file names without ``.jsonl``) of ``character`` that SillyTavern's chat
        search finds for ``query``, and the milliseconds the call took."""
        body: dict[str, Any] = {"query": query, "avatar_url": f"{character}.png"}
        started = time.perf_counter()
        response = self.client.post("/api/chats/search", json=body)
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        return {str(item["file_name"]) for item in response.json()}, elapsed

    def close(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()
