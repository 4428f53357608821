"""``sidecar import-valuetracker``: databases written the way the old Value Tracker plugin wrote
them (its exact schema, both timestamp styles, values stored with ``String(v)`` or
``JSON.stringify(v)``), imported through the real CLI, then read back through the real HTTP API."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.cli import cli
from sidecar.exit_codes import ExitCode
from sidecar.storage.lock import hold_lock
from sidecar.storage.registry import REGISTRY_FILE
from tests.conftest import Api, make_settings

# The old plugin's DatabaseManager.ts, verbatim.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS characters (id TEXT PRIMARY KEY, name TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, character_id TEXT NOT NULL, name TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  FOREIGN KEY (character_id) REFERENCES characters (id));
CREATE TABLE IF NOT EXISTS data (instance_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT,
  created_at DATETIME DEFAULT CURRENT_TIMESTAMP, updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (instance_id, key), FOREIGN KEY (instance_id) REFERENCES instances (id));
"""
ISO = "2025-03-01T10:20:30.123Z"  # new Date().toISOString()
ISO_LATER = "2025-03-02T08:00:00.456Z"
SQLITE_TS = "2025-03-01 10:20:30"  # CURRENT_TIMESTAMP
SQLITE_TS_AS_ISO = "2025-03-01T10:20:30.000Z"


def js_stored(value: Any) -> str:
    """``typeof value === 'object' ? JSON.stringify(value) : String(value)``."""
    if value is None or isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@contextmanager
def old_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A database the plugin would have created (foreign keys not enforced, as in sql.js)."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(OLD_SCHEMA)
        yield conn
        conn.commit()
    finally:
        conn.close()


def add_character(conn: sqlite3.Connection, cid: Any, name: Any, *stamps: Any) -> None:
    if stamps:
        conn.execute("INSERT INTO characters VALUES (?, ?, ?, ?)", (cid, name, *stamps))
    else:  # the plugin's CURRENT_TIMESTAMP defaults
        conn.execute("INSERT INTO characters (id, name) VALUES (?, ?)", (cid, name))


def add_instance(conn: sqlite3.Connection, iid: Any, cid: Any, name: Any, *stamps: Any) -> None:
    if stamps:
        conn.execute("INSERT INTO instances VALUES (?, ?, ?, ?, ?)", (iid, cid, name, *stamps))
    else:
        conn.execute(
            "INSERT INTO instances (id, character_id, name) VALUES (?, ?, ?)", (iid, cid, name)
        )


def upsert_data(conn: sqlite3.Connection, iid: Any, key: Any, text: str | None) -> None:
    """What upsertData ran: created_at falls back to CURRENT_TIMESTAMP, updated_at is ISO."""
    conn.execute(
        "INSERT OR REPLACE INTO data (instance_id, key, value, updated_at) VALUES (?, ?, ?, ?)",
        (iid, key, text, ISO_LATER),
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["import-valuetracker", *map(str, args)])


def ok(*args: str | Path) -> Result:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result


def failed(*args: str | Path, code: int = ExitCode.FAILURE) -> Result:
    result = run(*args)
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)  # a click error, not a crash
    assert "Traceback" not in result.output
    return result


@contextmanager
def served(db_dir: Path, ext: str | None = None) -> Iterator[Api]:
    with TestClient(create_app(make_settings(db_dir))) as client:
        yield Api(client, ext)


def get_json(api: Api, path: str) -> Any:
    response = api.get(path)
    assert response.status_code == 200, response.text
    return response.json()


# -- values, timestamps, names ------------------------------------------------------------------

# value as the extension sent it -> what the old plugin served (and sidecar must serve now)
VALUES: list[tuple[str, Any, Any]] = [
    ("int", 42, 42),
    ("negative", -3.5, -3.5),
    ("zero", 0, 0),
    ("true", True, True),
    ("false", False, False),
    ("null", None, None),
    ("object", {"a": [1, "x", None], "b": {"c": True}}, {"a": [1, "x", None], "b": {"c": True}}),
    ("array", [1, 2.5, "three", [], {}], [1, 2.5, "three", [], {}]),
    ("empty_object", {}, {}),
    ("text", "hello world", "hello world"),
    ("unicode", "héllo ✓ 日本", "héllo ✓ 日本"),
    ("empty_text", "", ""),
    ("numeric_text", "10", 10),  # the plugin already lost this: "10" was served as 10
    ("bool_text", "true", True),  # likewise
    ("quoted_text", '"quoted"', "quoted"),
    ("nan_text", "NaN", "NaN"),  # not JSON for JSON.parse: stays a string
    ("infinity_text", "-Infinity", "-Infinity"),
    ("padded_number", " 7 ", 7),
    ("almost_json", "{not json}", "{not json}"),
    ("big_int", 12345678901234567890, 12345678901234567890),
]


@pytest.fixture
def plugin_file(tmp_path: Path) -> Path:
    path = tmp_path / "st" / "db" / "outfits.db"
    path.parent.mkdir(parents=True)
    with old_db(path) as conn:
        add_character(conn, "alice", "Alice", ISO, ISO_LATER)
        add_character(conn, "bob", None, SQLITE_TS, SQLITE_TS)  # defaults, name never set
        add_character(conn, "carol", "Carol", None, "yesterday")  # unreadable: import time
        add_instance(conn, "alice-1", "alice", "Summer", ISO, ISO_LATER)
        add_instance(conn, "alice-2", "alice", None, SQLITE_TS, ISO)
        add_instance(conn, "bob-1", "bob", "Only")
        for key, value, _served in VALUES:
            upsert_data(conn, "alice-1", key, js_stored(value))
        conn.execute("INSERT INTO data VALUES ('alice-1', 'sql_null', NULL, ?, ?)", (ISO, ISO))
        conn.execute("INSERT INTO data VALUES ('alice-2', 'k', '1', ?, ?)", (SQLITE_TS, ISO))
        upsert_data(conn, "bob-1", "outfit", js_stored({"top": "shirt"}))
    return path


def test_import_serves_what_the_old_plugin_served(plugin_file: Path, db_dir: Path) -> None:
    folder = sorted(p.name for p in plugin_file.parent.iterdir())
    digest = sha256(plugin_file)
    before = datetime.now(UTC)
    result = ok(plugin_file, "--db-dir", db_dir)
    assert "extension outfits (new extension, registered now)" in result.output
    assert "characters: 3 imported" in result.output
    assert "instances: 3 imported" in result.output
    assert f"data keys: {len(VALUES) + 3} imported" in result.output
    assert "set to the import time: 2" in result.output  # carol's two stamps
    assert "skipped: none" in result.output
    # The old file is only read: same bytes, no journal or WAL file left beside it.
    assert sha256(plugin_file) == digest
    assert sorted(p.name for p in plugin_file.parent.iterdir()) == folder

    with served(db_dir, "outfits") as api:
        alice = get_json(api, "/characters/alice")
        assert alice["character"] == {
            "id": "alice",
            "name": "Alice",
            "createdAt": ISO,
            "updatedAt": ISO_LATER,
        }
        first, second = alice["instances"]
        assert first["instance"] == {
            "id": "alice-2",  # created earlier (2025-03-01 10:20:30.000 < .123)
            "characterId": "alice",
            "name": None,
            "createdAt": SQLITE_TS_AS_ISO,
            "updatedAt": ISO,
        }
        assert first["data"] == {"k": 1}
        assert second["instance"]["name"] == "Summer"
        expected = {key: served_value for key, _v, served_value in VALUES} | {"sql_null": None}
        assert second["data"] == expected
        assert json.dumps(second["data"], sort_keys=True) == json.dumps(expected, sort_keys=True)
        one = get_json(api, "/instances/alice-1/data/numeric_text")
        assert one == {"numeric_text": 10}
        bob = get_json(api, "/characters/bob")["character"]
        assert bob == {
            "id": "bob",
            "name": None,
            "createdAt": SQLITE_TS_AS_ISO,
            "updatedAt": SQLITE_TS_AS_ISO,
        }
        assert get_json(api, "/instances/bob-1/data") == {"outfit": {"top": "shirt"}}
        carol = get_json(api, "/characters/carol")["character"]
        assert carol["createdAt"] == carol["updatedAt"]
        stamp = datetime.fromisoformat(carol["createdAt"])
        assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC)
        # Ordered by createdAt: bob's 10:20:30 (.000) comes before alice's 10:20:30.123.
        assert [c["id"] for c in get_json(api, "/characters")] == ["bob", "alice", "carol"]
        extensions = get_json(Api(api.client), "/extensions")
        assert [(e["extensionId"], e["registered"], e["dataKeys"]) for e in extensions] == [
            ("outfits", True, len(VALUES) + 3)
        ]
        # Imported data is ordinary data: the API can change it.
        assert api.post("/instances/alice-1/data", json={"key": "int", "value": "10"}).is_success
        assert get_json(api, "/instances/alice-1/data/int") == {"int": "10"}


def test_values_json_parse_would_not_have_returned_are_kept_as_text(
    tmp_path: Path, db_dir: Path
) -> None:
    path = tmp_path / "edge.db"
    with old_db(path) as conn:
        add_character(conn, "c", "C")
        add_instance(conn, "i", "c", None)
        upsert_data(conn, "i", "huge", "1e400")  # JSON.parse: Infinity, served as null
        upsert_data(conn, "i", "deep", "[" * 50_000 + "]" * 50_000)
    result = ok(path, "--db-dir", db_dir)
    assert "values kept as text" in result.output
    assert 'instance "i" key "huge"' in result.output
    assert 'instance "i" key "deep"' in result.output
    with served(db_dir, "edge") as api:
        data = get_json(api, "/instances/i/data")
    assert data["huge"] == "1e400"
    assert data["deep"] == "[" * 50_000 + "]" * 50_000


# -- orphans and rows sidecar cannot hold -------------------------------------------------------


def test_orphans_and_invalid_rows_are_reported_not_dropped(tmp_path: Path, db_dir: Path) -> None:
    path = tmp_path / "ext.db"
    with old_db(path) as conn:
        add_character(conn, "hero", "Hero")
        add_character(conn, "bad id!", "Spaces")
        add_instance(conn, "h1", "hero", "fine")
        add_instance(conn, "lost", "gone", "orphan")  # its character was deleted
        add_instance(conn, "under-bad", "bad id!", None)
        add_instance(conn, "bad/instance", "hero", None)
        upsert_data(conn, "h1", "ok", "1")
        upsert_data(conn, "h1", "k" * 512, "512")
        upsert_data(conn, "h1", "k" * 513, "513")
        upsert_data(conn, "h1", "", "empty key")
        upsert_data(conn, "lost", "hp", "10")
        upsert_data(conn, "ghost", "hp", "5")  # instance never existed
        upsert_data(conn, "ghost", "mp", "6")
        upsert_data(conn, "under-bad", "x", "1")
    result = ok(path, "--db-dir", db_dir)
    out = result.output
    assert "characters: 1 imported" in out
    assert "instances: 2 imported" in out
    assert "data keys: 3 imported" in out
    assert "orphans: 1 instance(s)" in out
    assert "(name null): 1 (gone)" in out
    assert "skipped: 8 row(s)" in out
    assert 'character "bad id!": invalid id' in out
    assert 'instance "under-bad": its character id "bad id!" is not a valid id' in out
    assert 'instance "bad/instance": invalid id' in out
    assert 'data of instance "ghost", 2 key(s) "hp", "mp": its instance is not in the old' in out
    assert f'"{"k" * 77}...": the key is longer than 512 characters' in out
    assert 'data of instance "h1", 1 key(s) "": the key is empty' in out
    assert 'data of instance "under-bad", 1 key(s) "x": its instance was skipped' in out
    with served(db_dir, "ext") as api:
        gone = get_json(api, "/characters/gone")
        assert gone["character"]["name"] is None
        assert [i["instance"]["id"] for i in gone["instances"]] == ["lost"]
        assert gone["instances"][0]["data"] == {"hp": 10}
        assert get_json(api, "/instances/h1/data") == {"k" * 512: 512, "ok": 1}
        assert api.get("/characters/bad%20id!").status_code == 400
        assert api.get("/instances/ghost").status_code == 404


# -- merge rules --------------------------------------------------------------------------------


def _existing(db_dir: Path) -> None:
    """Sidecar data for extension ``outfits`` before the import."""
    with served(db_dir) as anon:
        assert anon.post("/register", json={"extensionId": "outfits"}).is_success
        api = anon.for_ext("outfits")
        for body in ({"id": "alice", "name": "Old Alice"}, {"id": "zed", "name": "Zed"}):
            assert api.post("/characters", json=body).is_success
        for body in (
            {"id": "alice-1", "characterId": "alice", "name": "old"},
            {"id": "bob-1", "characterId": "zed", "name": "taken"},  # bob-1 is bob's in the file
        ):
            assert api.post("/instances", json=body).is_success
        assert api.put(
            "/instances/alice-1/data/override", json={"int": 1, "kept": "yes"}
        ).is_success
        assert api.put("/instances/bob-1/data/override", json={"zed": True}).is_success


def test_existing_characters_need_merge(plugin_file: Path, db_dir: Path) -> None:
    _existing(db_dir)
    refused = failed(plugin_file, "--db-dir", db_dir)
    assert "already has 2 character(s)" in refused.output
    assert "--merge" in refused.output
    with served(db_dir, "outfits") as api:
        assert get_json(api, "/characters/alice")["character"]["name"] == "Old Alice"
        assert [c["id"] for c in get_json(api, "/characters")] == ["alice", "zed"]

    merged = ok(plugin_file, "--db-dir", db_dir, "--merge")
    out = merged.output
    assert "characters: 3 imported (1 replaced characters already in sidecar)" in out
    assert "instances: 2 imported (1 replaced instances already in sidecar)" in out
    assert 'instance "bob-1": in sidecar this instance id belongs to character "zed"' in out
    assert 'data of instance "bob-1", 1 key(s) "outfit": its instance was skipped' in out
    with served(db_dir, "outfits") as api:
        alice = get_json(api, "/characters/alice")
        assert alice["character"]["name"] == "Alice"  # imported rows win
        assert alice["character"]["createdAt"] == ISO
        data = get_json(api, "/instances/alice-1/data")
        assert data["int"] == 42
        assert data["kept"] == "yes"  # other rows are kept
        assert get_json(api, "/instances/bob-1")["instance"]["characterId"] == "zed"
        assert get_json(api, "/instances/bob-1/data") == {"zed": True}
        assert get_json(api, "/characters/bob")["instances"] == []
        assert [c["id"] for c in get_json(api, "/characters")] == ["bob", "alice", "zed", "carol"]


def test_dry_run_writes_nothing(plugin_file: Path, db_dir: Path) -> None:
    preview = ok(plugin_file, "--db-dir", db_dir, "--dry-run")
    assert "new extension, would be registered" in preview.output
    assert "characters: 3 would import" in preview.output
    assert "Dry run: nothing was written" in preview.output
    assert not db_dir.exists()

    _existing(db_dir)
    files = {p.name: sha256(p) for p in db_dir.glob("*.db")}
    refused = failed(plugin_file, "--db-dir", db_dir, "--dry-run")
    assert "already has 2 character(s)" in refused.output
    preview = ok(plugin_file, "--db-dir", db_dir, "--dry-run", "--merge")
    assert "(1 would replace characters already in sidecar)" in preview.output
    assert {p.name: sha256(p) for p in db_dir.glob("*.db")} == files
    with served(db_dir, "outfits") as api:
        assert [c["id"] for c in get_json(api, "/characters")] == ["alice", "zed"]
        assert get_json(api, "/instances/alice-1/data") == {"int": 1, "kept": "yes"}


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


# -- size and the real command ------------------------------------------------------------------


def test_a_big_file(tmp_path: Path, db_dir: Path) -> None:
    path = tmp_path / "big.db"
    with old_db(path) as conn:
        for c in range(20):
            add_character(conn, f"char-{c:02d}", f"Character {c}", ISO, ISO)
            for i in range(10):
                iid = f"inst-{c:02d}-{i}"
                add_instance(conn, iid, f"char-{c:02d}", None, ISO, ISO)
                for k in range(20):
                    value = {"n": k, "tags": ["a", "b"]} if k % 2 else f"text {k}"
                    upsert_data(conn, iid, f"key-{k:02d}", js_stored(value))
    started = time.perf_counter()
    result = ok(path, "--db-dir", db_dir)
    elapsed = time.perf_counter() - started
    assert "data keys: 4000 imported" in result.output
    assert elapsed < 20, elapsed
    with served(db_dir, "big") as api:
        [info] = get_json(Api(api.client), "/extensions")
        assert (info["characters"], info["instances"], info["dataKeys"]) == (20, 200, 4000)
        full = get_json(api, "/characters/char-07")
        assert len(full["instances"]) == 10
        data = full["instances"][3]["data"]
        assert list(data) == [f"key-{k:02d}" for k in range(20)]
        assert data["key-05"] == {"n": 5, "tags": ["a", "b"]}
        assert data["key-04"] == "text 4"


def test_the_installed_command(plugin_file: Path, tmp_path: Path) -> None:
    """``python -m sidecar``, settings from a config file, exit codes, no traceback."""
    db_dir = tmp_path / "from-config"
    config = tmp_path / "sidecar.yaml"
    config.write_text(f"storage:\n  database_dir: {json.dumps(str(db_dir))}\n")

    def sidecar(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sidecar", "import-valuetracker", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = sidecar(plugin_file, "--config", config)
    assert done.returncode == 0, done.stderr
    assert "Imported 1 database(s)" in done.stdout
    again = sidecar(plugin_file, "--config", config)
    assert again.returncode == 1
    assert "already has 3 character(s)" in again.stderr
    assert "Traceback" not in again.stderr
    junk = tmp_path / "junk.db"
    junk.write_text("junk")
    bad = sidecar(junk, "--config", config)
    assert bad.returncode == 1
    assert "is not an SQLite database" in bad.stderr
    assert "Traceback" not in bad.stderr
    with served(db_dir, "outfits") as api:
        assert get_json(api, "/instances/bob-1/data") == {"outfit": {"top": "shirt"}}


def test_sidecars_own_database_folder_is_not_a_source(db_dir: Path) -> None:
    with served(db_dir) as anon:
        assert anon.post("/register", json={"extensionId": "ext"}).is_success
    assert "sidecar's own database folder" in failed(db_dir, "--db-dir", db_dir).output
    own_file = failed(db_dir / "ext.db", "--db-dir", db_dir, "--extension", "copy").output
    assert "sidecar's own database folder" in own_file
