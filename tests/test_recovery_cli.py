"""``sidecar versions`` and ``sidecar restore`` as a user runs them: a real index of real files, the
real command in a subprocess."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sidecar.storage.registry import CATALOG_FILE
from tests.index_harness import Harness
from tests.st_files import SOLO, encode, header, message, st_save

REL = f"{SOLO}/adventure.jsonl"
OTHER = "default-user/chats/Lilith/adventure.jsonl"
# Fixed "seen at" times, so a local time on the command line picks a known version.
SEEN = [
    "2026-03-01T10:00:00.000Z",
    "2026-03-02T10:00:30.500Z",
    "2026-03-03T10:00:00.000Z",
    "2026-03-04T10:00:00.000Z",
]
TZ = "Asia/Kolkata"  # UTC+05:30, no daylight saving time


@dataclass
class Indexed:
    root: Path
    db_dir: Path
    home: Path
    chat_id: str
    other_id: str
    saved: list[bytes]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Indexed:
    base = tmp_path_factory.mktemp("recovery")
    h = Harness(base / "st", base / "db")
    path = h.root / REL
    chat: list[object] = [header(integrity="r")]
    saved: list[bytes] = []
    try:
        for save in range(len(SEEN)):
            chat.append(message(f"message {save}", extra={"qvink_memory": {"n": save}}))
            if save == 2:
                chat = chat[:2]  # the "loss": most messages gone
            data = encode(chat, bom=save == 1, trailing=save % 2 == 0)
            st_save(path, data)
            saved.append(data)
            h.index(path)
        st_save(h.root / OTHER, [header(), message("elsewhere", name="Lilith")])
        h.index(h.root / OTHER)
        chat_id, other_id = h.chat_id(REL), h.chat_id(OTHER)
    finally:
        h.close()
    with sqlite3.connect(base / "db" / CATALOG_FILE) as conn:
        for number, seen in enumerate(SEEN, start=1):
            conn.execute(
                "UPDATE versions SET seen_at = ? WHERE chat_id = ? AND version = ?",
                (seen, chat_id, number),
            )
    (base / "home").mkdir()
    return Indexed(h.root, h.db_dir, base / "home", chat_id, other_id, saved)


def sidecar(ix: Indexed, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIDECAR_", "XDG_"))}
    env.pop("SILLYTAVERN_DATAROOT", None)
    env |= {"HOME": str(ix.home), "TZ": TZ}
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args, "--db-dir", str(ix.db_dir)],
        env=env,
        cwd=ix.home,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def checksums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    } | {str(p.relative_to(root)) + "/": "dir" for p in root.rglob("*") if p.is_dir()}


def test_versions_by_chat_id_lists_every_version(indexed: Indexed) -> None:
    result = sidecar(indexed, "versions", indexed.chat_id)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert indexed.chat_id in out
    assert REL in out
    rows = [row for row in map(str.split, out.splitlines()) if row and row[-1] == REL]
    assert [row[0] for row in rows] == ["1", "2", "3", "4"]
    # Local time (UTC+05:30), message count, size, path.
    assert rows[1][1:3] == ["2026-03-02", "15:30:30"]
    assert [int(row[-3]) for row in rows] == [1, 2, 1, 2]
    assert [int(row[-2]) for row in rows] == [len(data) for data in indexed.saved]


@pytest.mark.parametrize("name", ["Seraphina/adventure", "Seraphina/adventure.jsonl", REL])
def test_versions_by_path(indexed: Indexed, name: str) -> None:
    result = sidecar(indexed, "versions", name)
    assert result.returncode == 0, result.stderr
    assert f"chat {indexed.chat_id}" in result.stdout


def test_versions_by_unique_file_name(indexed: Indexed, tmp_path: Path) -> None:
    h = Harness(tmp_path / "st", tmp_path / "db")
    try:
        st_save(h.root / SOLO / "solo.jsonl", [header(), message("one")])
        h.index(h.root / SOLO / "solo.jsonl")
        chat_id = h.chat_id(f"{SOLO}/solo.jsonl")
    finally:
        h.close()
    ix = Indexed(h.root, h.db_dir, indexed.home, chat_id, "", [])
    for name in ("solo", "solo.jsonl"):
        result = sidecar(ix, "versions", name)
        assert result.returncode == 0, result.stderr
        assert f"chat {chat_id}" in result.stdout


def test_renamed_chat_is_found_by_its_old_name(indexed: Indexed, tmp_path: Path) -> None:
    h = Harness(tmp_path / "st", tmp_path / "db")
    try:
        old = h.root / SOLO / "before.jsonl"
        st_save(old, [header(), message("one")])
        h.scan()
        old.rename(old.with_name("after.jsonl"))
        h.scan()
        chat_id = h.chat_id(f"{SOLO}/after.jsonl")
    finally:
        h.close()
    ix = Indexed(h.root, h.db_dir, indexed.home, chat_id, "", [])
    result = sidecar(ix, "versions", "before")
    assert result.returncode == 0, result.stderr
    assert f"chat {chat_id}  {SOLO}/after.jsonl" in result.stdout
    assert f"{SOLO}/before.jsonl" in result.stdout


def test_ambiguous_name_lists_candidates(indexed: Indexed) -> None:
    result = sidecar(indexed, "versions", "adventure.jsonl")
    assert result.returncode == 1
    assert "names 2 chats" in result.stderr
    assert indexed.chat_id in result.stderr
    assert indexed.other_id in result.stderr
    assert REL in result.stderr
    assert OTHER in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_chat_is_a_clear_error(indexed: Indexed) -> None:
    result = sidecar(indexed, "versions", "no-such-chat")
    assert result.returncode == 1
    assert "no indexed chat is called 'no-such-chat'" in result.stderr
    assert "Traceback" not in result.stderr


def test_restore_by_version_and_by_time(indexed: Indexed, tmp_path: Path) -> None:
    before = checksums(indexed.root)
    cases = [
        ("2", 2),
        ("1", 1),
        ("2026-03-02 15:30", 2),  # local: up to 15:30:59 = 10:00:59Z
        ("2026-03-02 15:29", 1),
        ("2026-03-02T10:00:30Z", 2),  # the whole second: includes 10:00:30.500
        ("2026-03-02T10:00:30.499Z", 1),
        ("2026-03-03T15:30:00+05:30", 3),
        ("2030-01-01", 4),
    ]
    for at, version in cases:
        out = tmp_path / f"restored-{version}-{len(at)}.jsonl"
        result = sidecar(indexed, "restore", indexed.chat_id, "--at", at, "--output", str(out))
        assert result.returncode == 0, (at, result.stderr)
        assert out.read_bytes() == indexed.saved[version - 1], at
        assert f"Wrote version {version} " in result.stdout
        assert f"{len(indexed.saved[version - 1])} bytes" in result.stdout
        assert "Import Chat" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"restored-{v}-{len(at)}.jsonl" for at, v in cases
    )  # no temp files left behind
    assert checksums(indexed.root) == before


def test_restore_before_first_version_or_missing_version(indexed: Indexed, tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    for at, error in [("2026-02-01 00:00", "no version"), ("9", "no version 9"), ("soon", "--at")]:
        result = sidecar(indexed, "restore", indexed.chat_id, "--at", at, "-o", str(out))
        assert result.returncode != 0, at
        assert error in result.stderr, (at, result.stderr)
    assert not out.exists()


def test_restore_refuses_to_overwrite_without_force(indexed: Indexed, tmp_path: Path) -> None:
    out = tmp_path / "keep.jsonl"
    out.write_bytes(b"precious")
    result = sidecar(indexed, "restore", "Seraphina/adventure", "--at", "2", "--output", str(out))
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.jsonl"]

    result = sidecar(
        indexed, "restore", "Seraphina/adventure", "--at", "2", "--output", str(out), "--force"
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == indexed.saved[1]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.jsonl"]


def test_restore_into_missing_folder_writes_nothing(indexed: Indexed, tmp_path: Path) -> None:
    out = tmp_path / "absent" / "x.jsonl"
    result = sidecar(indexed, "restore", indexed.chat_id, "--at", "1", "--output", str(out))
    assert result.returncode == 1
    assert "does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_no_index_is_a_clear_error(indexed: Indexed, tmp_path: Path) -> None:
    ix = Indexed(indexed.root, tmp_path / "empty", indexed.home, "", "", [])
    result = sidecar(ix, "versions", "adventure")
    assert result.returncode == 1
    assert "no index in" in result.stderr
    assert not (tmp_path / "empty").exists()
