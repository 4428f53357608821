"""Storage guarantees: one file per extension, its own tables only, WAL, foreign keys, restarts."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from sidecar.config import Settings
from sidecar.storage.registry import REGISTRY_FILE
from tests.conftest import Api
from tests.test_data import VALUES

EXTENSION_TABLES = {
    "sidecar_meta",
    "characters",
    "instances",
    "instance_data",
    "message_data",
    "chat_data",
    "data_history",
    # full-text search over string values (FTS5 and its shadow tables)
    "data_fts",
    "data_fts_data",
    "data_fts_idx",
    "data_fts_docsize",
    "data_fts_config",
    # segmented copies of CJK values for that index (sidecar.storage.fts)
    "data_fts_seg",
}


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def test_each_database_holds_only_its_own_tables(api: Api, db_dir: Path) -> None:
    assert tables(db_dir / "ext1.db") == EXTENSION_TABLES  # no registry or catalog tables
    assert tables(db_dir / REGISTRY_FILE) == {"extensions"}
    assert sorted(p.name for p in db_dir.glob("*.db")) == ["ext1.db", REGISTRY_FILE]


def test_wal_mode_and_foreign_keys(api: Api, db_dir: Path) -> None:
    with sqlite3.connect(db_dir / "ext1.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        fks = conn.execute("PRAGMA foreign_key_list(instance_data)").fetchall()
    assert any(row[2] == "instances" and row[6] == "CASCADE" for row in fks)
    registry = api.client.app.state.registry
    with registry.get("ext1").write() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_restart_keeps_registrations_and_every_value(
    settings: Settings, client_factory: Callable[[Settings], TestClient[Any]], db_dir: Path
) -> None:
    first = Api(client_factory(settings))
    first.post("/register", json={"extensionId": "ext1"})
    first.post("/register", json={"extensionId": "gone"})
    first.post("/register", json={"extensionId": "renamed", "dbPath": "elsewhere.db"})
    first.delete("/register", json={"extensionId": "gone"})
    ext = first.for_ext("ext1")
    ext.post("/characters", json={"id": "c1", "name": "Alice"})
    ext.post("/instances", json={"id": "i1", "characterId": "c1", "name": "main"})
    body = {f"k{i}": value for i, value in enumerate(VALUES)}
    ext.put("/instances/i1/data/override", json=body)
    first.for_ext("renamed").post("/characters", json={"id": "r"})
    before = ext.get("/characters/c1").json()
    listing = first.get("/extensions").json()
    first.client.__exit__(None, None, None)  # shut the first app down

    second = Api(client_factory(settings))
    assert second.get("/extensions").json() == listing
    after = second.for_ext("ext1").get("/characters/c1").json()
    assert after == before
    data = after["instances"][0]["data"]
    assert data == body
    assert [type(v) for v in data.values()] == [type(v) for v in VALUES]
    assert second.for_ext("gone").get("/characters").status_code == 404
    assert [c["id"] for c in second.for_ext("renamed").get("/characters").json()] == ["r"]
