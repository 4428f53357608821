"""``sidecar import-valuetracker``: files and folders, files that are not plugin databases,
files in use, and sidecar's own folder."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from sidecar.cli import cli
from sidecar.exit_codes import ExitCode
from sidecar.storage.lock import hold_lock
from sidecar.storage.registry import REGISTRY_FILE
from tests.old_valuetracker_db import (
    add_character,
    add_instance,
    failed,
    get_json,
    ok,
    old_db,
    run,
    served,
    sha256,
    upsert_data,
)

# -- files and folders --------------------------------------------------------------------------


def _small(path: Path, cid: str) -> None:
    with old_db(path) as conn:
        add_character(conn, cid, cid.title())
        add_instance(conn, f"{cid}-i", cid, None)
        upsert_data(conn, f"{cid}-i", "n", "1")


def test_folder_imports_each_file_as_its_extension(tmp_path: Path, db_dir: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    _small(folder / "outfits.db", "alice")
    _small(folder / "moods.db", "bob")
    (folder / "notes.txt").write_text("not a database")
    result = ok(folder, "--db-dir", db_dir)
    assert result.output.count("registered now") == 2
    assert "Imported 2 database(s)" in result.output
    with served(db_dir) as anon:
        assert get_json(anon.for_ext("outfits"), "/instances/alice-i/data") == {"n": 1}
        assert get_json(anon.for_ext("moods"), "/instances/bob-i/data") == {"n": 1}
    usage = run(folder, "--db-dir", db_dir, "--extension", "x")
    assert usage.exit_code == 2
    assert "--extension is for importing one file" in usage.output


def test_one_bad_file_in_a_folder_imports_nothing(tmp_path: Path, db_dir: Path) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    _small(folder / "good.db", "alice")
    (folder / "broken.db").write_bytes(b"definitely not sqlite " * 100)
    _small(folder / "my.ext.db", "bob")
    result = failed(folder, "--db-dir", db_dir)
    assert "nothing was imported" in result.output
    assert f"\n  {folder / 'broken.db'} is not an SQLite database\n" in result.output
    assert f"\n  {folder / 'my.ext.db'}: 'my.ext' is not a valid" in result.output
    assert "'my.ext' is not a valid sidecar extension id" in result.output
    assert not (db_dir / REGISTRY_FILE).exists()
    assert not (db_dir / "good.db").exists()


def test_file_name_and_extension_option(tmp_path: Path, db_dir: Path) -> None:
    path = tmp_path / "my.ext.db"
    _small(path, "alice")
    assert "--extension <id>" in failed(path, "--db-dir", db_dir).output
    bad = run(path, "--db-dir", db_dir, "--extension", "no way")
    assert bad.exit_code == 2
    assert "--extension" in bad.output
    ok(path, "--db-dir", db_dir, "--extension", "my_ext")
    with served(db_dir, "my_ext") as api:
        assert get_json(api, "/instances/alice-i/data") == {"n": 1}


def test_a_registered_extension_keeps_its_database_file(tmp_path: Path, db_dir: Path) -> None:
    with served(db_dir) as anon:
        body = {"extensionId": "outfits", "dbPath": "custom.db"}
        assert anon.post("/register", json=body).is_success
    path = tmp_path / "outfits.db"
    _small(path, "alice")
    assert "extension outfits (registered)" in ok(path, "--db-dir", db_dir).output
    assert not (db_dir / "outfits.db").exists()
    with served(db_dir, "outfits") as api:
        assert get_json(api, "/instances/alice-i/data") == {"n": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"hello, I am a text file\n" * 50, "is not an SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 2000, "is not an SQLite database"),
        (None, "does not exist"),
    ],
    ids=["empty", "text", "bad-header", "missing"],
)
def test_files_that_are_not_databases(
    tmp_path: Path, db_dir: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "ext.db"
    if content is not None:
        path.write_bytes(content)
    assert message in failed(path, "--db-dir", db_dir).output
    assert not (db_dir / REGISTRY_FILE).exists()


@pytest.mark.parametrize(
    ("schema", "missing"),
    [
        (["CREATE TABLE characters (id TEXT PRIMARY KEY, name TEXT)"], "no table instances, data"),
        (
            [
                "CREATE TABLE characters (id TEXT)",
                "CREATE TABLE instances (id TEXT, character_id TEXT)",
                "CREATE TABLE data (instance_id TEXT, value TEXT)",
            ],
            "no column data.key",
        ),
    ],
    ids=["tables", "columns"],
)
def test_databases_of_something_else(
    tmp_path: Path, db_dir: Path, schema: Sequence[str], missing: str
) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    for statement in schema:
        conn.execute(statement)
    conn.commit()
    conn.close()
    out = failed(path, "--db-dir", db_dir).output
    assert "is not a Value Tracker plugin database" in out
    assert missing in out


def test_an_unfinished_transaction_is_left_alone(tmp_path: Path, db_dir: Path) -> None:
    """A plugin that died mid-write leaves a hot journal: a read-only reader cannot roll it
    back, so the import says so and touches neither file."""
    live = tmp_path / "live.db"
    _small(live, "alice")
    writer = sqlite3.connect(live, isolation_level=None)
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    try:
        writer.execute("PRAGMA cache_size=1")  # spill pages to the file mid-transaction
        writer.execute("BEGIN")
        for n in range(500):
            writer.execute("INSERT INTO characters (id, name) VALUES (?, ?)", (f"x{n}", "y" * 300))
        shutil.copy(live, crashed / "ext.db")  # the state a crash would leave on disk
        shutil.copy(tmp_path / "live.db-journal", crashed / "ext.db-journal")
        writer.execute("ROLLBACK")
    finally:
        writer.close()
    digests = {p.name: sha256(p) for p in crashed.iterdir()}
    out = failed(crashed / "ext.db", "--db-dir", db_dir).output
    assert "has an unfinished transaction (ext.db-journal beside it)" in out
    assert {p.name: sha256(p) for p in crashed.iterdir()} == digests


def test_a_file_the_plugin_is_writing_is_waited_for_then_refused(
    tmp_path: Path, db_dir: Path
) -> None:
    path = tmp_path / "busy.db"
    _small(path, "alice")
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")  # what better-sqlite3 holds while it commits
        result = CliRunner().invoke(
            cli,
            ["import-valuetracker", str(path), "--db-dir", str(db_dir)],
            env={"SIDECAR_STORAGE__BUSY_TIMEOUT_MS": "200"},
        )
    finally:
        writer.close()
    assert result.exit_code == 1, result.output
    assert "is locked by another program" in result.output
    assert "stop SillyTavern" in result.output
    ok(path, "--db-dir", db_dir)  # once the writer is gone


def test_refuses_while_sidecar_holds_the_folder(plugin_file: Path, db_dir: Path) -> None:
    with hold_lock(db_dir):
        result = failed(plugin_file, "--db-dir", db_dir, code=ExitCode.LOCKED)
        # A dry run only reads, so it works meanwhile and says what the real run needs.
        preview = ok(plugin_file, "--db-dir", db_dir, "--dry-run")
    assert "sidecar is running" in result.output
    assert "stop it first" in result.output
    assert "HTTP API" in result.output
    assert "stop it before the real import" in preview.output
    assert not (db_dir / REGISTRY_FILE).exists()
    ok(plugin_file, "--db-dir", db_dir)  # once it is released


def test_sidecars_own_database_folder_is_not_a_source(db_dir: Path) -> None:
    with served(db_dir) as anon:
        assert anon.post("/register", json={"extensionId": "ext"}).is_success
    assert "sidecar's own database folder" in failed(db_dir, "--db-dir", db_dir).output
    own_file = failed(db_dir / "ext.db", "--db-dir", db_dir, "--extension", "copy").output
    assert "sidecar's own database folder" in own_file
