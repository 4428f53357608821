"""Backups of what cannot be rebuilt, taken while sidecar serves, and ``sidecar restore-db``
putting an extension's value-tracker data back byte for byte."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from sidecar.recovery.backup import backup_now, list_backups, registrations_in
from sidecar.recovery.backup_schedule import BackupSchedule
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.storage.sqlite import SqliteOptions
from tests import faultkit as fk
from tests.conftest import Api


def fill(api: Api, n: int, salt: str) -> None:
    ext = api.for_ext("ext1")
    for i in range(n):
        r = ext.post(
            "/instances/i1/data", json={"key": f"k{salt}{i}", "value": {"n": i, "s": salt}}
        )
        assert r.status_code == 200, r.text


def test_backup_while_serving_then_restore_db_gives_the_same_bytes(
    api: Api, db_dir: Path, tmp_path: Path
) -> None:
    fill(api, 20, "a")
    taken = fk.run_cli("backup", db_dir=db_dir)  # online: the app keeps the files open
    assert taken.returncode == 0, taken.stderr
    assert "ext1.db: 1 characters, 1 instances, 20 data keys" in taken.stdout
    at_backup = fk.tracker_rows(db_dir / "ext1.db")
    [backup] = list_backups(db_dir / "backups")
    with closing(sqlite3.connect(backup.path / "ext1.db")) as conn:  # value-tracker data only
        assert conn.execute("SELECT count(*) FROM message_data").fetchone() == (0,)
    fill(api, 5, "b")  # written after the backup: kept in the replaced file, not restored
    listed = fk.run_cli("restore-db", "ext1", "--dry-run", db_dir=db_dir)
    assert listed.returncode == 0, listed.stderr
    assert str(backup.path) in listed.stdout
    assert "would restore ext1.db" in listed.stdout
    assert fk.tracker_rows(db_dir / "ext1.db") != at_backup  # a dry run changes nothing

    api.client.__exit__(None, None, None)  # stop serving: restore-db needs the folder's lock
    fk.smash_page(db_dir / "ext1.db")
    done = fk.run_cli("restore-db", "ext1", db_dir=db_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert fk.tracker_rows(db_dir / "ext1.db") == at_backup
    replaced = list(db_dir.glob("ext1.replaced-*.db"))
    assert len(replaced) == 1  # the damaged file is kept
    ExtensionDatabase("ext1", db_dir / "ext1.db", SqliteOptions()).close()  # opens cleanly


def test_backups_are_pruned_to_keep(api: Api, db_dir: Path) -> None:
    registrations = registrations_in(db_dir)
    assert [r.extension_id for r in registrations] == ["ext1"]
    for _ in range(3):
        backup_now(db_dir, db_dir / "backups", registrations, keep=2)
    kept = list_backups(db_dir / "backups")
    assert len(kept) == 2
    assert kept[0].created > kept[1].created


def test_schedule_backs_up_at_start_when_none_is_recent(api: Api, db_dir: Path) -> None:
    calls: list[Any] = []

    def registrations() -> list[Any]:
        calls.append(1)
        return registrations_in(db_dir)

    schedule = BackupSchedule(db_dir, db_dir / "backups", 24, 3, registrations, start_delay=7)
    assert schedule._first_wait() == 7  # no backup yet: one soon after start
    assert schedule.run_once()
    assert calls
    assert 24 * 3600 - 60 < schedule._first_wait() <= 24 * 3600  # a fresh one: wait a day
    schedule.start()
    schedule.stop()
