"""Real damage to real files, and a real ``sidecar run`` to meet it: shared by the fault tests
and ``benchmarks/faults.py`` (which puts the repository root on ``sys.path``)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

from tests.live_server import free_port, wait_until
from tests.st_files import header, message, st_save, swiped

PREFIX = "/api/plugins/valuetracker"
TRACKER = "tracker"  # a registered extension: value-tracker data AND namespace rows
RECAP = "recap"  # a namespace only (never registered): derived rows only
CHATS = ("default-user/chats/Sera/one.jsonl", "default-user/chats/Sera/two.jsonl",
         "default-user/chats/Eve/three.jsonl")  # fmt: skip


def chat_lines(n: int, salt: str = "") -> list[Any]:
    objs: list[Any] = [header(**{RECAP: {"summary": f"chat {n}{salt}"}})]
    for i in range(12):
        extra = {TRACKER: {"mood": f"m{n}-{i}{salt}"}, RECAP: {"line": i}}
        if i % 4 == 3:
            objs.append(swiped([f"a{i}", f"b{i}{salt}"], 1, [extra, {RECAP: {"alt": i}}]))
        else:
            objs.append(message(f"message {i} of chat {n}{salt} " + "x" * 200, extra=extra))
    return objs


def make_root(root: Path) -> None:
    for n, rel in enumerate(CHATS):
        st_save(root / rel, chat_lines(n))


def resave(root: Path, salt: str) -> None:
    """A second version of the first chat (version history to keep)."""
    st_save(root / CHATS[0], chat_lines(0, salt))


def smash_page(path: Path, table: str | None = None, *, seed: int = 13) -> int:
    """Random bytes over one whole page: the root page of ``table``, or page 1 (the header
    and schema) when ``table`` is None. Returns the page number."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        page = 1
        if table is not None:
            page = conn.execute(
                "SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)
            ).fetchone()[0]
    noise = random.Random(seed).randbytes(size)
    with path.open("r+b") as fh:
        fh.seek((page - 1) * size)
        fh.write(noise)
    return int(page)


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file short (a database is checkpointed first, so its pages are in the file)."""
    if path.suffix == ".db":
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    os.truncate(path, int(size * keep) // 4096 * 4096 or 1024)


def tracker_rows(db: Path) -> dict[str, list[Any]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return {
            t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall())
            for t in ("characters", "instances", "instance_data")
        }


class Daemon:
    """``sidecar run`` on a data root and database folder, spoken to over real HTTP."""

    def __init__(self, db_dir: Path, root: Path, *extra: str) -> None:
        self.db_dir, self.root, self.extra = db_dir, root, extra
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[str] | None = None
        self.output = ""

    def __enter__(self) -> Daemon:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
        env |= {"SIDECAR_WATCH__QUIET_PERIOD_MS": "50", "SIDECAR_STORAGE__BACKUP_EVERY_HOURS": "0"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "run", "--port", str(self.port),
             "--db-dir", str(self.db_dir), "--data-root", str(self.root), *self.extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        wait_until(self._answers, timeout=30)
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"sidecar run exited: {self.process.communicate()[0]}")
        try:
            httpx.get(self.base + "/healthz", timeout=2)
        except httpx.HTTPError:
            return False
        return True

    def __exit__(self, *_exc: object) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.output = self.process.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.output = self.process.communicate()[0]

    def request(self, method: str, path: str, ext: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"x-extension-id": ext} if ext else {}
        return httpx.request(method, self.base + path, headers=headers, timeout=30, **kw)

    def api(self, method: str, path: str, ext: str | None = None, **kw: Any) -> httpx.Response:
        return self.request(method, PREFIX + path, ext, **kw)

    def indexed(self, chats: int | None = len(CHATS)) -> bool:
        """The first pass is over and nothing is queued (and ``chats`` are catalogued)."""
        status = self.api("GET", "/status").json()
        counted = chats is None or status.get("chats") == chats
        return counted and not status.get("reconciling") and status.get("queueDepth") == 0

    def wait_indexed(self, chats: int | None = len(CHATS)) -> None:
        wait_until(lambda: self.indexed(chats), timeout=60)


def populate(db_dir: Path, root: Path) -> dict[str, str]:
    """Index the root, register TRACKER with value-tracker data, save a second version of the
    first chat. Returns chat key (``<character>/<file name>``) -> chatId."""
    with Daemon(db_dir, root) as d:
        d.wait_indexed()
        assert d.api("POST", "/register", json={"extensionId": TRACKER}).is_success
        for c in range(3):
            write_tracker(d, c)
        resave(root, "v2")
        wait_until(lambda: versions_of(d, "Sera/one") == 2, timeout=30)
        return chat_ids(d)


def write_tracker(d: Daemon, c: int) -> None:
    assert d.api("POST", "/characters", TRACKER, json={"id": f"c{c}", "name": f"C{c}"}).is_success
    for i in range(3):
        inst = f"c{c}-i{i}"
        r = d.api("POST", "/instances", TRACKER, json={"id": inst, "characterId": f"c{c}"})
        assert r.is_success, r.text
        for key, value in (("hp", c * 10 + i), ("name", f"n{i}")):
            r = d.api("POST", f"/instances/{inst}/data", TRACKER, json={"key": key, "value": value})
            assert r.is_success, r.text


def chat_ids(d: Daemon) -> dict[str, str]:
    items = d.api("GET", "/chats").json()["items"]
    return {f"{c['character']}/{c['fileName']}": c["chatId"] for c in items}


def versions_of(d: Daemon, key: str) -> int:
    chat = chat_ids(d).get(key)
    if chat is None:
        return 0
    return len(d.api("GET", f"/chats/{chat}/versions").json()["items"])


def run_cli(*args: str, db_dir: Path, root: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
    cmd = [sys.executable, "-m", "sidecar", *args, "--db-dir", str(db_dir)]
    if root is not None:
        cmd += ["--data-root", str(root)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)
