"""sidecar never writes, moves or locks a SillyTavern file: the guard that checks it over the whole
suite (tests/handsoff.py, tests/handsoff_guard.py) sees every kind of change and finds the roots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sidecar.cli.recovery import write_new_file
from sidecar.config import Settings
from sidecar.daemon.wiring import create_indexer, create_registry, open_catalog, open_line_store
from sidecar.indexer.scan import full_scan
from sidecar.storage.lock import hold_lock
from tests import handsoff
from tests.common_fixtures import Track
from tests.conftest import GUARD
from tests.st_files import header, message, st_save

# -- the guard itself ------------------------------------------------------------------------


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


def test_guard_reports_sidecar_writing_and_locking_in_a_data_root(tmp_path: Path) -> None:
    root = tmp_path / "st"
    _chat(root, "A/a.jsonl", 1)

    def sidecar_writes() -> None:
        handsoff.using_root(root)
        target = root / "default-user" / "chats" / "A" / "restored.jsonl"
        write_new_file(target, b"{}", force=False)
        with hold_lock(root / "default-user"):  # creates and flocks a lock file in the root
            pass

    problems = "\n".join(line.removeprefix(str(root)) for line in GUARD.problems_of(sidecar_writes))
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

    assert GUARD.problems_of(harness_changes) == []


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

    problems = GUARD.problems_of(index_then_change_behind_the_back)
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

    assert GUARD.problems_of(index_and_tamper) == [
        f"{a}: changed: mode, ctime_ns (data root {root})",
    ]
