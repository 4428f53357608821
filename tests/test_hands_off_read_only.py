"""``sidecar run`` / ``sidecar index`` on a data root that is read-only to them.

Tests run as root here, and permissions do not stop root. So when running as root, the data root
is owned by ``nobody`` (65534) with files 0444 and folders 0555, and sidecar runs as root with every
capability dropped from its bounding set before ``exec``: it keeps uid 0 (this Python lives under
``/root``, which ``nobody`` cannot reach) but no longer bypasses permissions, so to it the data root
is read-only like to any other user. The test checks the process really has no capabilities.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import handsoff
from tests.common_fixtures import Track
from tests.live_server import free_port, wait_until
from tests.st_files import header, message, st_save, swiped

PREFIX = "/api/plugins/valuetracker"
NOBODY = 65534
# Runs in the child: drop every capability from the bounding set, then exec the real command.
# Root's capabilities after exec are limited by the bounding set, so the command has none.
DROP_CAPABILITIES = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
last = int(open("/proc/sys/kernel/cap_last_cap").read())
for cap in range(last + 1):
    if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        raise OSError(ctypes.get_errno(), "cannot drop capability %d" % cap)
os.execv(sys.argv[1], sys.argv[1:])
"""


# -- a data root that is read-only to sidecar ----------------------------------------------------


def _launcher() -> list[str]:
    return [sys.executable, "-c", DROP_CAPABILITIES] if os.geteuid() == 0 else []


def _lock_down(path: Path) -> None:
    """Files 0444, folders 0555; owned by nobody when we are root (see the module docstring)."""
    for folder, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            _lock_one(Path(folder, name))
    _lock_one(path)


def _lock_one(path: Path) -> None:
    if os.geteuid() == 0:
        os.chown(path, NOBODY, NOBODY, follow_symlinks=False)
    path.chmod(0o555 if path.is_dir() else 0o444)


@pytest.fixture
def read_only_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "st"
    seraphina = root / "default-user" / "chats" / "Seraphina"
    swipes: list[dict[str, Any] | None] = [{"qvink_memory": {"memory": m}} for m in "ab"]
    st_save(seraphina / "first.jsonl", [
        header(qvink_memory={"enabled": True}),
        message("hello", is_user=True, name="User"),
        swiped(["a", "b"], 1, swipes),
    ])  # fmt: skip
    st_save(seraphina / "second.jsonl", [header(), message("x", extra={"tracker": {"hp": 3}})])
    st_save(root / "bob" / "chats" / "Aqua" / "third.jsonl", [header(), message("bob's")])
    _lock_down(root)
    yield root
    for folder, _, _ in os.walk(root):  # let pytest clean up later (as a non-root user too)
        Path(folder).chmod(0o755)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "XDG_"))}
    env.pop("SILLYTAVERN_DATAROOT", None)
    env |= {"HOME": str(tmp_path), "SIDECAR_WATCH__QUIET_PERIOD_MS": "100",
            "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    return env


def _capabilities(pid: int) -> str:
    status = Path(f"/proc/{pid}/status").read_text()
    return next(line.split()[1] for line in status.splitlines() if line.startswith("CapEff:"))


def _get(base: str, path: str, **params: Any) -> Any:
    response = httpx.get(base + PREFIX + path, params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _status(base: str) -> dict[str, Any]:
    try:
        return dict(httpx.get(base + PREFIX + "/status", timeout=5).json())
    except httpx.TransportError:
        return {}


def test_run_serves_and_follows_a_read_only_data_root(
    read_only_root: Path, tmp_path: Path, track: Track
) -> None:
    root = read_only_root
    manifest = track(root)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [*_launcher(), sys.executable, "-m", "sidecar", "run", "--port", str(port),
               "--db-dir", str(tmp_path / "db"), "--data-root", str(root)]  # fmt: skip
    process = subprocess.Popen(
        command, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_until(lambda: _status(base).get("chats") == 3 or process.poll() is not None, 30)
        assert process.poll() is None, process.communicate()[0]
        if os.geteuid() == 0:
            assert _capabilities(process.pid) == "0000000000000000"
        wait_until(lambda: _status(base).get("reconciling") is False, 30)
        chats = {c["fileName"]: c for c in _get(base, "/chats")["items"]}
        assert sorted(chats) == ["first", "second", "third"]
        first = chats["first"]["chatId"]
        data = _get(base, f"/chats/{first}/messages/1/data/qvink_memory", swipe="all")
        assert data == {"0": {"memory": "a"}, "1": {"memory": "b"}}
        assert _get(base, "/search", q="bob's")["items"]

        # SillyTavern saves: the folder is writable for a moment, then read-only again.
        folder = root / "default-user" / "chats" / "Seraphina"
        folder.chmod(0o755)
        path = folder / "second.jsonl"
        st_save(path, [header(), message("x", extra={"tracker": {"hp": 2}}), message("y")])
        _lock_one(path)
        _lock_one(folder)
        handsoff.wrote(folder)
        second = chats["second"]["chatId"]
        wait_until(lambda: _get(base, f"/chats/{second}")["messageCount"] == 2, 15)
        hp = _get(base, f"/chats/{second}/messages/0/data/tracker/hp")
        assert hp == {"hp": 2}
        history = _get(base, f"/chats/{second}/messages/0/history/tracker/hp")["items"]
        assert [(h["value"], h["reason"]) for h in history] == [(3, "changed"), (2, None)]

        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert "Traceback" not in output
    assert "ERROR" not in output, output
    assert manifest.differences() == []


def test_index_command_on_a_read_only_data_root(read_only_root: Path, tmp_path: Path) -> None:
    manifest = handsoff.Manifest(read_only_root)
    done = subprocess.run(
        [*_launcher(), sys.executable, "-m", "sidecar", "index", "--db-dir", str(tmp_path / "db"),
         "--data-root", str(read_only_root)],
        env=_env(tmp_path), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "catalog: 3 chats, 4 messages" in done.stdout
    assert "problems: none" in done.stdout
    assert "Traceback" not in done.stderr
    assert manifest.differences() == []
