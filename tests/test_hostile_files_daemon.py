"""Hostile chat files meet a running daemon: unreadable files, every hostile case arriving in its
data root, files written in steps, folder symlink loops; the daemon keeps serving."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sidecar.watch import ChatEventHandler, WatchMode, start_observer, stop_observer
from tests import handsoff
from tests.hostile_cases import CASES
from tests.hostile_checks import (
    HANG,
    NEIGHBOUR,
    assert_messages,
    hostile_path,
    unprivileged,
    unreadable,
    within,
)
from tests.hostile_daemon import Client, running_daemon
from tests.hostile_parts import HEADER, HOSTILE_DIR, Case, good, joined
from tests.live_server import free_port, wait_until
from tests.st_files import st_save

pytestmark = pytest.mark.filterwarnings(
    "ignore:Callback with id .* already exists for watch:RuntimeWarning"
)


# -- unreadable files, for real -------------------------------------------------------------


def test_unreadable_files_in_a_running_daemon_and_in_sidecar_index(tmp_path: Path) -> None:
    prefix = unprivileged()
    root = tmp_path / "st"
    st_save(root / NEIGHBOUR, joined(HEADER, good(1)))
    (root / HOSTILE_DIR).mkdir(parents=True)
    unreadable(root / HOSTILE_DIR / "secret.jsonl", joined(HEADER, good(2)))
    port = free_port()
    db = tmp_path / "db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDECAR_")}
    env |= {"SIDECAR_WATCH__QUIET_PERIOD_MS": "50", "SIDECAR_WATCH__MODE": "native"}
    args = ["--db-dir", str(db), "--data-root", str(root)]
    process = subprocess.Popen(
        [*prefix, sys.executable, "-m", "sidecar", "run", "--port", str(port), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    client = Client(f"http://127.0.0.1:{port}", root)
    try:

        def up() -> bool:
            try:
                status = client.get("/status").json()
            except httpx.TransportError:
                return False
            return status["chats"] == 1 and not status["reconciling"]

        wait_until(up, timeout=30)
        unreadable(root / HOSTILE_DIR / "arrives-unreadable.jsonl", joined(HEADER, good(3)))
        st_save(root / HOSTILE_DIR / "later.jsonl", joined(HEADER, good(4)))
        wait_until(lambda: client.chat_id("later") is not None, timeout=30)
        assert client.healthy()
        assert client.messages(client.chat_id("later") or "") == [("good 4", 4)]
        assert client.chat_id("secret") is None
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    for name in ("secret", "arrives-unreadable"):
        assert f"{HOSTILE_DIR}/{name}.jsonl: cannot read: Permission denied" in output
    index = subprocess.run(
        [*prefix, sys.executable, "-m", "sidecar", "index", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert index.returncode == 0, index.stderr
    for name in ("secret", "arrives-unreadable"):
        assert f"{HOSTILE_DIR}/{name}.jsonl:0: cannot read: Permission denied" in index.stdout


# -- the daemon keeps serving -----------------------------------------------------------------


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    tmp = tmp_path_factory.mktemp("hostile-daemon")
    root = tmp / "st"
    st_save(root / NEIGHBOUR, joined(HEADER, good(1)))
    with running_daemon(tmp, root, "native") as (client, service):
        yield client
        assert service.worker is not None
        assert service.worker.failed == 0  # no exception ever escaped an index


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_running_daemon_survives_the_file_and_keeps_indexing(
    daemon: Client, case: Case, caplog: pytest.LogCaptureFixture
) -> None:
    root = daemon.root
    path = hostile_path(root, case)
    rel = path.relative_to(root).as_posix()
    with caplog.at_level(logging.WARNING, logger="sidecar.daemon"):
        case.make(path)
        # A later save of another chat: once it is indexed, the worker (which takes paths in the
        # order their first event came) went past the hostile file.
        after = f"after-{case.id}"
        st_save(root / "default-user/chats/Aria" / f"{after}.jsonl", joined(HEADER, good(7)))

        def after_indexed() -> bool:
            chat_id = daemon.chat_id(after)
            return chat_id is not None and daemon.messages(chat_id) == [("good 7", 7)]

        wait_until(after_indexed, timeout=HANG, interval=0.05)
    if case.indexed:
        chat_id = daemon.chat_id(case.id)
        assert chat_id is not None
        assert daemon.get(f"/chats/{chat_id}").json()["problems"] == len(case.problems)
        assert_messages(case, daemon.messages(chat_id))
    assert daemon.healthy()
    assert daemon.get("/status").status_code == 200
    if not case.indexed:
        assert daemon.chat_id(case.id) is None
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []  # no exception was met (the daemon logs each one it survives)
    logged = [r.getMessage() for r in caplog.records if r.name == "sidecar.daemon"]
    for line, _part in sorted(case.problems)[:5]:  # the first five of a file are logged
        assert any(m.startswith(f"{rel}:{line}: ") for m in logged), (line, logged)
    if case.file_problem is not None:
        assert any(m.startswith(f"{rel}: ") and case.file_problem in m for m in logged), logged
    if not case.appendable:  # the 50 MB file: later tests need not hash it again
        path.unlink()
        handsoff.wrote(path)


def test_running_daemon_indexes_a_file_written_in_place_in_steps(daemon: Client) -> None:
    """Not SillyTavern's way (it renames a new file over the chat), but an editor's: the daemon
    may read any half-written state and must end with the final content."""
    root = daemon.root
    path = root / HOSTILE_DIR / "in-place.jsonl"
    lines = [HEADER, *(good(n) for n in range(1, 40))]
    with open(path, "wb") as handle:
        for line in lines:
            handle.write(line + b"\n")
            handle.flush()
    handsoff.wrote(path)
    expected = [(f"good {n}", n) for n in range(1, 40)]

    def final() -> bool:
        chat_id = daemon.chat_id("in-place")
        return chat_id is not None and daemon.messages(chat_id) == expected

    wait_until(final, timeout=HANG)
    assert daemon.healthy()


@pytest.mark.parametrize("mode", ["polling", "native"])
def test_folder_symlink_loops_do_not_stop_the_watcher(tmp_path: Path, mode: WatchMode) -> None:
    """Two folder links up the tree: watchdog's poller used to walk them 2**40 times."""
    root = tmp_path / "st"
    chats = root / "default-user" / "chats"
    st_save(chats / "Sera" / "a.jsonl", joined(HEADER, good(1)))
    os.symlink(".", chats / "Sera" / "self")
    os.symlink("..", chats / "up")
    os.symlink(".", chats / "loop")
    seen: list[Path] = []
    # The first snapshot is taken inside start(): with the loops followed, start never returned.
    observer, used = within(
        15, lambda: start_observer(root, ChatEventHandler(root, seen.append), mode, 0.05)
    )
    try:
        assert used == mode
        st_save(chats / "Sera" / "b.jsonl", joined(HEADER, good(2)))
        wait_until(lambda: chats / "Sera" / "b.jsonl" in seen, timeout=15)
    finally:
        assert within(15, lambda: stop_observer(observer))
    with running_daemon(tmp_path, root, mode) as (client, _service):
        st_save(chats / "Sera" / "c.jsonl", joined(HEADER, good(3)))
        wait_until(lambda: client.chat_id("c") is not None, timeout=15)
        assert client.healthy()
        names = {c["fileName"] for c in client.get("/chats", limit=1000).json()["items"]}
        assert names == {"a", "b", "c"}
