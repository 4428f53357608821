"""A full disk for real: the database folder on a small tmpfs, filled up while ``sidecar run``
serves and indexes. Shared by ``tests/test_faults_disk.py`` and ``benchmarks/faults.py``."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests import faultkit as fk
from tests.live_server import wait_until
from tests.st_files import st_save

NEW_CHATS = 8


@contextmanager
def small_disk(where: Path, size_mb: int = 30) -> Iterator[Path | None]:
    """A tmpfs of ``size_mb`` at ``where``; None when mounting is refused (not root, no
    permission in a container)."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        yield None
        return
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` with one file; returns it."""
    filler = disk / f"filler-{len(list(disk.glob('filler-*')))}"
    try:
        fh = filler.open("wb")
    except OSError:  # full already
        return filler
    with suppress(OSError), fh:  # closing flushes, and fails too: both are expected
        while True:
            fh.write(b"\0" * (1 << 16))
            fh.flush()
    return filler


def new_chats(root: Path, salt: str) -> None:
    for n in range(NEW_CHATS):
        st_save(
            root / f"default-user/chats/Big/{salt}{n}.jsonl", fk.chat_lines(100 + n, "y" * 2000)
        )


def run_disk_full(disk: Path, root: Path) -> dict[str, str]:
    """The daemon meets a full disk, then space comes back; then ``sidecar index`` meets one.
    Asserts everything the issue asks; returns the table row."""
    db = disk / "db"
    with fk.Daemon(db, root) as d:
        d.wait_indexed()
        assert d.api("POST", "/register", json={"extensionId": fk.TRACKER}).is_success
        fk.write_tracker(d, 0)
        acknowledged = fk.tracker_rows(db / "tracker.db")
        filler = fill(disk)
        new_chats(root, "a")
        wait_until(lambda: d.request("GET", "/healthz").status_code == 503, timeout=30)
        health = d.request("GET", "/healthz").json()["reason"]
        assert health.startswith("disk full: "), health
        register = d.api("POST", "/register", json={"extensionId": "newext"})
        assert register.status_code == 507, register.text
        assert register.json()["error"].startswith("disk full: ")
        assert not list(db.glob("newext.db*")), "a failed create left a file"
        write = d.api("POST", "/characters", fk.TRACKER, json={"id": "late", "name": "L"})
        assert write.status_code == 507, write.text
        reads = {p: d.api("GET", p, ext).status_code for p, ext in (
            ("/instances/c0-i0/data", fk.TRACKER), ("/characters", fk.TRACKER), ("/chats", None),
            ("/extensions", None), ("/status", None))}  # fmt: skip
        assert set(reads.values()) == {200}, reads
        storage = d.api("GET", "/status").json()["storage"]
        assert storage["damaged"] == [], storage  # a full disk is never reported as damage
        assert storage["diskFull"], storage
        filler.unlink()  # space comes back: the failed chats are indexed, no restart
        wait_until(lambda: d.indexed(len(fk.CHATS) + NEW_CHATS), timeout=60)
        wait_until(lambda: d.request("GET", "/healthz").status_code == 200, timeout=60)
        assert d.api("POST", "/characters", fk.TRACKER, json={"id": "late"}).is_success
    lines = d.output.count("\n")
    assert lines < 80, d.output  # the log says it once, not once per request
    assert "Traceback" not in d.output, d.output
    after = fk.tracker_rows(db / "tracker.db")
    assert all(
        set(map(tuple, rows)) <= set(map(tuple, after[t])) for t, rows in acknowledged.items()
    )
    filler = fill(disk)
    new_chats(root, "b")
    failed = fk.run_cli("index", db_dir=db, root=root)
    assert failed.returncode != 0, failed.stdout
    summary = failed.stderr.strip().splitlines()[-1]
    assert "disk full" in summary, failed.stderr
    filler.unlink(missing_ok=True)
    again = fk.run_cli("index", db_dir=db, root=root)
    assert again.returncode == 0, again.stdout + again.stderr
    shutil.rmtree(root / "default-user/chats/Big")
    return {
        "fault": "disk full (db folder on a 30 MB tmpfs, filled)",
        "detection": health,
        "kept working": "reads: " + ", ".join(reads),
        "failed": "writes 507 (register left no file), chats unindexed until space came back",
        "repair": "automatic: failed chats retried with backoff once writes succeed; "
        f"sidecar index exits {failed.returncode}: {summary}",
        "data lost": "none",
    }
