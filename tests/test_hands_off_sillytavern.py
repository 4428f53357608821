"""The hands-off guard on a data root that SillyTavern writes itself (the end-to-end harness):
SillyTavern's own writes are accepted, sidecar's are still reported, in this process and in a
``sidecar`` subprocess started with ``child_env``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sidecar.cli.recovery import write_new_file
from tests.conftest import GUARD
from tests.st_files import header, message, st_save

# Runs in a subprocess that has the child hook (all of that process is "sidecar" to the guard).
CHILD_WRITES = """
import os, sqlite3, sys
root = sys.argv[1]
open(os.path.join(root, "default-user", "chats", "A", "a.jsonl"), "rb").read()  # reading is fine
open(os.path.join(root, "default-user", "chats", "A", "a.jsonl"), "ab").write(b"x")
os.rename(os.path.join(root, "default-user", "chats", "A", "b.jsonl"),
          os.path.join(root, "default-user", "chats", "A", "c.jsonl"))
sqlite3.connect(os.path.join(root, "index.db")).close()
"""


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "st"
    for name in ("a", "b"):
        st_save(root / "default-user" / "chats" / "A" / f"{name}.jsonl", [header(), message(name)])
    return root


def test_sillytavern_writes_are_accepted_and_sidecar_writes_reported(tmp_path: Path) -> None:
    root = _root(tmp_path)
    log = tmp_path / "children.log"
    chat = root / "default-user" / "chats" / "A" / "a.jsonl"

    def sillytavern_then_sidecar() -> None:
        GUARD.written_by_sillytavern(root, log)
        # SillyTavern (another process, no hook) saves, backs up and writes its settings.
        script = (
            f"import os; open({str(chat)!r}, 'ab').write(b'y');"
            f"os.makedirs({str(root / 'default-user' / 'backups')!r});"
            f"open({str(root / 'default-user' / 'settings.json')!r}, 'w').write('{{}}')"
        )
        subprocess.run([sys.executable, "-c", script], check=True)
        # sidecar code in this process restoring into the root: still caught.
        write_new_file(root / "default-user" / "chats" / "A" / "restored.jsonl", b"{}", force=False)

    problems = GUARD.problems_of(sillytavern_then_sidecar)
    # Only sidecar's restore shows (its temporary file, the link, the removal), nothing else.
    assert problems
    assert all(" by sidecar/cli/recovery.py:" in line for line in problems), problems
    assert f"{root}/default-user/chats/A/restored.jsonl: os.link by sidecar/" in "\n".join(problems)


def test_a_sidecar_subprocess_writing_there_is_reported(tmp_path: Path) -> None:
    root = _root(tmp_path)
    log = tmp_path / "children.log"
    chats = root / "default-user" / "chats" / "A"

    def child_writes() -> None:
        env = {**os.environ, **GUARD.written_by_sillytavern(root, log)}
        subprocess.run([sys.executable, "-c", CHILD_WRITES, str(root)], env=env, check=True)

    problems = GUARD.problems_of(child_writes)
    found = sorted(line.split(" (pid ")[0] for line in problems)
    assert found == sorted(
        [
            f"{chats}/a.jsonl: open by a sidecar subprocess",
            f"{chats}/b.jsonl: os.rename by a sidecar subprocess",
            f"{chats}/c.jsonl: os.rename by a sidecar subprocess",
            f"{root}/index.db: sqlite3.connect by a sidecar subprocess",
        ]
    )
    assert GUARD.problems_of(lambda: None) == []  # each write is reported once


def test_a_real_sidecar_index_there_writes_nothing(tmp_path: Path) -> None:
    root = _root(tmp_path)
    log = tmp_path / "children.log"

    def index() -> None:
        env = {**os.environ, **GUARD.written_by_sillytavern(root, log)}
        done = subprocess.run(
            [sys.executable, "-m", "sidecar", "index", "--db-dir", str(tmp_path / "db"),
             "--data-root", str(root), "--log-level", "warning"],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    assert GUARD.problems_of(index) == []
    assert log.exists()  # the hook ran in the child (it opens its log at start)
