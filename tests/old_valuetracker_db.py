"""Databases written the way the old Value Tracker plugin wrote them, and helpers that run
``sidecar import-valuetracker`` and read the result back through the HTTP API."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.cli import cli
from sidecar.exit_codes import ExitCode
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
