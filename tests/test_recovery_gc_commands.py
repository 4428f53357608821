"""Disk usage, and the real ``sidecar gc`` and ``sidecar status`` commands as subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from sidecar.recovery.disk_usage import disk_usage
from sidecar.storage.lock import hold_lock
from tests.gc_chat import CHAT, Chat, pack_bytes
from tests.index_harness import Harness
from tests.st_files import header, message, st_save


def test_disk_usage(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    h = Harness(root, db_dir)
    chat = Chat(h)
    chat.save()  # the header's chat_metadata "note" goes to note.db
    h.close()
    usage = disk_usage(db_dir)
    assert usage["catalog"] > 0
    assert usage["line_store"] == pack_bytes(db_dir) > 0
    assert usage["registry"] > 0
    assert usage["extensions"]["note"] > 0
    assert usage["total"] == (
        usage["catalog"] + usage["line_store"] + usage["registry"] + usage["extensions"]["note"]
    )
    assert disk_usage(tmp_path / "nothing")["total"] == 0


def _sidecar(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_gc_and_status_commands(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "storage": {"database_dir": str(db_dir)},
                "sillytavern": {"data_root": str(root)},
                "index": {"versions_keep_count": 2},
                "log": {"level": "warning"},
            }
        )
    )
    path = root / CHAT
    for n in range(4):
        st_save(path, [header(), *(message(f"message {i} of save {n}") for i in range(3))])
        indexed = _sidecar("index", "--config", str(config))
        assert indexed.returncode == 0, indexed.stderr

    status = _sidecar("status", "--config", str(config))
    assert status.returncode == 0, status.stderr
    assert "chats: 1 (0 missing)" in status.stdout
    assert "messages: 3" in status.stdout
    assert "versions: 4" in status.stdout
    assert "problems: 0" in status.stdout
    assert "line store:" in status.stdout

    with hold_lock(db_dir):
        # status is read-only: it works while another process holds the lock
        assert _sidecar("status", "--config", str(config)).returncode == 0
        refused = _sidecar("gc", "--config", str(config))
        assert refused.returncode != 0
        assert "sidecar is running; stop it first" in refused.stderr

    collected = _sidecar("gc", "--config", str(config))
    assert collected.returncode == 0, collected.stderr
    assert "keeping the newest 2 versions of each chat" in collected.stdout
    assert "versions removed: 2" in collected.stdout
    assert "lines removed: 6" in collected.stdout
    assert "freed" in collected.stdout

    status = _sidecar("status", "--config", str(config))
    assert "versions: 2" in status.stdout
    empty = _sidecar("status", "--db-dir", str(tmp_path / "empty"))
    assert empty.returncode == 0, empty.stderr
    assert "catalog: none yet" in empty.stdout
