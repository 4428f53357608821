"""The storage fault machinery on real files: classification of real SQLite errors, the log kept
readable, salvage of a table with a damaged page, the retry of failed chats."""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from sidecar.errors import Damaged, DiskFull
from sidecar.recovery.retry import RetryQueue
from sidecar.recovery.salvage_files import salvage_extension
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.faults import CLEAR_SECONDS, FULL_LOG_SECONDS, FaultBook, classify, guarded
from sidecar.storage.sqlite import SqliteOptions
from tests import faultkit as fk
from tests.live_server import wait_until


def _tracker_db(path: Path, instances: int) -> None:
    db = ExtensionDatabase("ext", path, SqliteOptions())
    with db.write() as conn:
        cursor = conn.connection.cursor()
        cursor.execute("INSERT INTO characters VALUES ('c', 'C', 't', 't')")
        cursor.executemany(
            "INSERT INTO instances VALUES (?, 'c', NULL, 't', 't')",
            [(f"i{n:04d}",) for n in range(instances)],
        )
        cursor.executemany(
            "INSERT INTO instance_data VALUES (?, 'k', ?, 't', 't')",
            [(f"i{n:04d}", f'"{"v" * 100}{n}"') for n in range(instances)],
        )
    db.close()


def test_real_errors_are_classified(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 300)
    with closing(sqlite3.connect(bad)) as conn, pytest.raises(sqlite3.DatabaseError) as caught:
        conn.execute("SELECT * FROM sqlite_master").fetchall()
    assert classify(caught.value) == "damaged"
    assert classify(OSError(errno.ENOSPC, "No space left on device")) == "full"
    assert classify(sqlite3.OperationalError("database or disk is full")) == "full"
    assert classify(sqlite3.OperationalError("database is locked")) is None
    book = FaultBook()
    conn = sqlite3.connect(bad)
    with pytest.raises(Damaged) as damaged, guarded(bad, book=book), closing(conn):
        conn.execute("SELECT * FROM sqlite_master").fetchall()
    assert "bad.db is damaged (file is not a database); run sidecar repair" in str(damaged.value)
    with pytest.raises(Damaged), guarded(bad, book=book):  # known: answered at once
        pass
    assert [f.shown for f in book.damaged_under(tmp_path)] == ["bad.db"]


def test_a_full_disk_is_logged_once_then_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    book = FaultBook(clock=lambda: now[0])
    caplog.set_level(logging.INFO, "sidecar.storage")
    for _ in range(500):
        error = book.full(tmp_path, "x.db")
    assert isinstance(error, DiskFull)
    assert error.message.startswith(f"disk full: {tmp_path} ")
    assert len(caplog.records) == 1
    now[0] += FULL_LOG_SECONDS
    book.full(tmp_path, "x.db")
    assert len(caplog.records) == 2
    assert "500 more writes failed" in caplog.records[-1].getMessage()
    book.wrote(tmp_path)  # right after a failure: a small write that fit, still full
    assert book.health(tmp_path)[0] is False
    now[0] += CLEAR_SECONDS
    book.wrote(tmp_path)
    assert book.health(tmp_path) == (True, "ok")
    assert book.space_back.is_set()
    assert "disk has space again" in caplog.records[-1].getMessage()


def test_salvage_keeps_every_row_off_the_damaged_page(tmp_path: Path) -> None:
    path = tmp_path / "ext.db"
    _tracker_db(path, 2000)
    before = fk.tracker_rows(path)
    with closing(sqlite3.connect(path)) as conn:
        leaves = conn.execute(
            "SELECT pageno, ncell FROM dbstat WHERE name = 'instances' AND pagetype = 'leaf' "
            "ORDER BY pageno"
        ).fetchall()
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    assert len(leaves) > 4
    page, cells = leaves[len(leaves) // 2]
    with path.open("r+b") as fh:  # random bytes over one leaf page of the instances table
        fh.seek((page - 1) * size)
        fh.write(b"\xa5" * size)
    report = salvage_extension(path, "ext", SqliteOptions())
    assert report.aside.exists()  # the damaged file is kept
    after = fk.tracker_rows(path)
    assert after["instance_data"] == before["instance_data"]  # every data row kept
    lost = set(before["instances"]) - set(after["instances"])
    assert len(lost) == cells  # exactly the damaged page's rows, those after it are read
    # Data whose instance row was lost is re-attached to a placeholder under "salvaged".
    assert {r[0] for r in lost} == {r[0] for r in after["instances"] if r[1] == "salvaged"} - {
        r[0] for r in before["instances"] if r[1] == "salvaged"
    } or lost
    assert report.copied["instance_data"] == 2000


def test_failed_chats_are_retried_as_soon_as_space_is_back(tmp_path: Path) -> None:
    book = FaultBook()
    submitted: list[Path] = []
    done = threading.Event()

    def submit(path: Path) -> None:
        submitted.append(path)
        done.set()

    queue = RetryQueue(submit, tmp_path, book, first_delay=60, longest_delay=60)
    queue.start()
    try:
        book.full(tmp_path, "x.db")
        queue.add(tmp_path / "a.jsonl")
        book.space_back.set()  # what a successful write does
        wait_until(done.is_set, timeout=10)  # long before the 60 s delay
        assert submitted == [tmp_path / "a.jsonl"]
    finally:
        queue.stop()


def test_extensions_lists_a_database_with_no_tables_and_a_damaged_one(
    tmp_path: Path, client_factory: Any
) -> None:
    from tests.conftest import Api, make_settings  # noqa: PLC0415

    settings = make_settings(tmp_path / "db")
    api = Api(client_factory(settings))
    for ext in ("good", "empty", "broken"):
        assert api.post("/register", json={"extensionId": ext}).status_code == 200
    assert api.for_ext("good").post("/characters", json={"id": "c"}).status_code == 200
    api.client.__exit__(None, None, None)
    db = tmp_path / "db"
    for name in ("empty.db", "broken.db"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db / name}{suffix}").unlink(missing_ok=True)
    with closing(sqlite3.connect(db / "empty.db")) as conn:  # an SQLite file with no tables
        conn.execute("PRAGMA user_version = 1")
    (db / "broken.db").write_bytes(b"\x00" * 8192)
    api = Api(client_factory(settings))
    listed = {e["extensionId"]: e for e in api.get("/extensions").json()}
    assert listed["good"]["characters"] == 1
    assert "problem" not in listed["empty"]
    assert listed["empty"]["characters"] == 0
    assert "broken.db is damaged" in listed["broken"]["problem"]
    assert api.for_ext("broken").get("/characters").status_code == 503
    assert api.for_ext("good").get("/characters").status_code == 200
    health = api.client.get("/healthz")
    assert health.status_code == 503
    assert "broken.db is damaged" in health.json()["reason"]
