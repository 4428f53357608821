"""``sidecar index`` as a user runs it, and history retention."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sidecar.indexer.retention import apply_retention, cutoff
from tests.index_harness import Harness
from tests.st_files import SOLO, header, message, st_save


def run_index(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", "index", "--log-level", "warning", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def db_checksums(db_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in db_dir.glob("*.db")}


def test_index_command_summary_and_idempotence(tmp_path: Path) -> None:
    root, db_dir = tmp_path / "st", tmp_path / "db"
    st_save(root / SOLO / "a.jsonl", [header(), message("one", extra={"ext": {"k": 1}}),
                                      "{broken", message("two")])  # fmt: skip
    st_save(root / "default-user" / "chats" / "b.jsonl", [header(), message("three")])
    first = run_index("--data-root", str(root), "--db-dir", str(db_dir))
    assert first.returncode == 0, first.stderr
    assert "2 chat files" in first.stdout
    assert "2 new" in first.stdout
    assert "catalog: 2 chats, 3 messages; namespaces: ext" in first.stdout
    assert "problems: 1" in first.stdout
    assert f"{SOLO}/a.jsonl:3: invalid JSON" in first.stdout
    before = db_checksums(db_dir)
    second = run_index("--data-root", str(root), "--db-dir", str(db_dir))
    assert second.returncode == 0, second.stderr
    assert "2 unchanged" in second.stdout
    assert db_checksums(db_dir) == before  # nothing written the second time


def test_index_command_without_a_data_root(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "index", "--db-dir", str(tmp_path / "db")],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "no SillyTavern data folder" in result.stderr


def test_history_retention(tmp_path: Path) -> None:
    h = Harness(tmp_path / "st", tmp_path / "db")
    try:
        path = h.root / SOLO / "c.jsonl"
        for value in (1, 2, 3):
            st_save(path, [header(), message("x", extra={"ext": {"k": value}})])
            h.index(path)
        assert len(h.query("ext.db", "SELECT * FROM data_history")) == 2
        old = cutoff(10, datetime.now(UTC) - timedelta(days=0))
        with h.registry.index_database("ext").write() as conn:  # type: ignore[union-attr]
            conn.exec_driver_sql(
                "UPDATE data_history SET replaced_at = ? WHERE value = '1'", (old,)
            )
        assert apply_retention(h.registry.index_database, ["ext"], days=5) == 1
        assert h.query("ext.db", "SELECT value FROM data_history") == [("2",)]
        assert apply_retention(h.registry.index_database, ["ext"], days=5) == 0
    finally:
        h.close()
