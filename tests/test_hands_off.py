"""sidecar never writes, moves or locks a SillyTavern file: the guard that checks it over the whole
suite (tests/handsoff.py, tests/handsoff_guard.py) and ``sidecar run`` / ``sidecar index`` on a
data root that is read-only to them.

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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sidecar.cli.recovery import write_new_file
from sidecar.config import Settings
from sidecar.daemon.wiring import create_indexer, create_registry, open_catalog, open_line_store
from sidecar.indexer.scan import full_scan
from sidecar.storage.lock import hold_lock
from tests import handsoff
from tests.conftest import GUARD
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


# -- the guard itself ------------------------------------------------------------------------

Track = Callable[[Path], handsoff.Manifest]


@pytest.fixture
def track() -> Iterator[Track]:
    """``track(root)``: a manifest of ``root`` that follows the test's own saves."""
    made: list[handsoff.Manifest] = []

    def start(root: Path) -> handsoff.Manifest:
        made.append(handsoff.track(handsoff.Manifest(root)))
        return made[-1]

    yield start
    for manifest in made:
        handsoff.untrack(manifest)


def _chat(root: Path, rel: str, n: int) -> Path:
    path = root / "default-user" / "chats" / rel
    st_save(path, [header(), *(message(f"m{i}", extra={"ext": {"i": i}}) for i in range(n))])
    return path


def test_manifest_sees_every_kind_of_change(tmp_path: Path) -> None:
    root = tmp_path / "st"
    a, b = _chat(root, "A/a.jsonl", 2), _chat(root, "A/b.jsonl", 1)
    (root / "default-user" / "link.jsonl").symlink_to(a)
    manifest = handsoff.Manifest(root)
    assert manifest.differences() == []
    assert manifest.files == 2
    info = a.stat()
    data = a.read_bytes()
    a.write_bytes(data.replace(b"m0", b"m9"))  # same size, mtime put back: content still differs
    os.utime(a, ns=(info.st_atime_ns, info.st_mtime_ns))
    b.chmod(0o600)
    (root / "default-user" / "link.jsonl").unlink()
    (root / "default-user" / "link.jsonl").symlink_to(b)
    (root / "default-user" / "chats" / "A" / "new.jsonl").write_text("{}")
    found = dict(manifest.differences())
    assert "content" in found[str(a)]
    assert "mode" in found[str(b)]
    assert "content" in found[str(root / "default-user" / "link.jsonl")]  # the target
    assert found[str(root / "default-user" / "chats" / "A" / "new.jsonl")] == "added"
    (root / "default-user" / "chats" / "A" / "new.jsonl").unlink()
    b.unlink()
    assert dict(manifest.differences())[str(b)] == "removed"


def test_manifest_follows_the_harness_saves(tmp_path: Path, track: Track) -> None:
    root = tmp_path / "st"
    a = _chat(root, "A/a.jsonl", 2)
    manifest = track(root)
    st_save(a, [header(), message("changed")])  # st_save announces its writes
    st_save(root / "default-user" / "chats" / "B" / "b.jsonl", [header()])  # a new folder too
    assert manifest.differences() == []
    with open(a, "ab") as handle:  # a write nobody announced, right after a save
        handle.write(b"\n")
    assert [path for path, _ in manifest.differences()] == [str(a)]


def _probe(action: Any) -> list[str]:
    """Problems the guard reports for what ``action`` does, in a scope of its own."""
    GUARD.push("probe")
    try:
        action()
    finally:
        problems = GUARD.pop()
    return problems


def test_guard_reports_sidecar_writing_and_locking_in_a_data_root(tmp_path: Path) -> None:
    root = tmp_path / "st"
    _chat(root, "A/a.jsonl", 1)

    def sidecar_writes() -> None:
        handsoff.using_root(root)
        target = root / "default-user" / "chats" / "A" / "restored.jsonl"
        write_new_file(target, b"{}", force=False)
        with hold_lock(root / "default-user"):  # creates and flocks a lock file in the root
            pass

    problems = "\n".join(line.removeprefix(str(root)) for line in _probe(sidecar_writes))
    folder = "/default-user/chats/A"
    assert f"{folder}/restored.jsonl: os.link by sidecar/cli/recovery.py:" in problems
    assert f"{folder}/restored.jsonl: added (data root {root})" in problems
    assert "/default-user/sidecar.lock: fcntl.flock by sidecar/storage/lock.py:" in problems
    assert "/default-user/sidecar.lock: open by sidecar/storage/lock.py:" in problems


def test_guard_accepts_the_tests_own_changes(tmp_path: Path) -> None:
    root = tmp_path / "st"
    a = _chat(root, "A/a.jsonl", 1)

    def harness_changes() -> None:
        handsoff.using_root(root)
        st_save(a, [header(), message("again")])
        (root / "default-user" / "chats" / "A").rename(root / "default-user" / "chats" / "B")
        _chat(root, "C/c.jsonl", 1).unlink()

    assert _probe(harness_changes) == []


def test_guard_finds_roots_sidecar_lists_and_checks_subprocess_changes(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    a = _chat(root, "A/a.jsonl", 3)

    def index_then_change_behind_the_back() -> None:
        settings = Settings.model_validate(
            {"storage": {"database_dir": str(db_dir)}, "sillytavern": {"data_root": str(root)}}
        )
        registry = create_registry(settings)
        registry.open()
        catalog, lines = open_catalog(settings), open_line_store(settings)
        try:  # no helper announced the root: the indexer's first listing registers it
            full_scan(create_indexer(settings, registry, catalog, lines, root))
        finally:
            lines.close()
            catalog.close()
            registry.close()
        script = f"open({str(a)!r}, 'ab').write(b'x')"  # another process: no audit hook there
        subprocess.run([sys.executable, "-c", script], check=True)

    problems = _probe(index_then_change_behind_the_back)
    assert problems == [f"{a}: changed: size, mtime_ns, ctime_ns, content (data root {root})"]


def test_sidecar_subprocess_roots_are_registered(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    a = _chat(root, "A/a.jsonl", 1)

    def index_and_tamper() -> None:
        done = subprocess.run(
            [sys.executable, "-m", "sidecar", "index", "--db-dir", str(db_dir),
             "--data-root", str(root), "--log-level", "warning"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        subprocess.run(["chmod", "0600", str(a)], check=True)

    assert _probe(index_and_tamper) == [
        f"{a}: changed: mode, ctime_ns (data root {root})",
    ]


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
