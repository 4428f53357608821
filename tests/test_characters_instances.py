"""Characters and instances: every route, success and every listed error, with exact JSON."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import Api

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def strip_times(item: dict[str, Any]) -> dict[str, Any]:
    assert TIMESTAMP.fullmatch(item["createdAt"]), item
    assert TIMESTAMP.fullmatch(item["updatedAt"]), item
    return {k: v for k, v in item.items() if k not in ("createdAt", "updatedAt")}


def test_character_create_update_list(api: Api) -> None:
    created = api.post("/characters", json={"id": "c2", "name": "Bea"})
    assert created.status_code == 200
    assert strip_times(created.json()) == {"id": "c2", "name": "Bea"}
    renamed = api.post("/characters", json={"id": "c2", "name": "Beatrice"}).json()
    assert renamed["name"] == "Beatrice"
    assert renamed["createdAt"] == created.json()["createdAt"]
    kept = api.post("/characters", json={"id": "c2"}).json()
    assert kept["name"] == "Beatrice"
    nameless = api.post("/characters", json={"id": "c3"}).json()
    assert nameless["name"] is None
    listed = api.get("/characters").json()
    assert [strip_times(c) for c in listed] == [
        {"id": "c1", "name": "Alice"},
        {"id": "c2", "name": "Beatrice"},
        {"id": "c3", "name": None},
    ]


def test_character_errors(api: Api) -> None:
    assert api.post("/characters", json={"id": "bad id"}).json() == {
        "error": "Invalid character ID"
    }
    assert api.post("/characters", json={"id": "x", "name": 3}).status_code == 400
    assert api.post("/characters", json={"name": "no id"}).status_code == 400
    missing = api.get("/characters/nobody")
    assert (missing.status_code, missing.json()) == (404, {"error": "Character not found"})
    gone = api.delete("/characters/nobody")
    assert (gone.status_code, gone.json()) == (404, {"error": "Character not found"})


def test_full_character(api: Api) -> None:
    api.post("/instances", json={"id": "i2", "characterId": "c1", "name": "second"})
    api.post("/instances/i1/data", json={"key": "hp", "value": 10})
    body = api.get("/characters/c1").json()
    assert strip_times(body["character"]) == {"id": "c1", "name": "Alice"}
    assert [(strip_times(item["instance"]), item["data"]) for item in body["instances"]] == [
        ({"id": "i1", "characterId": "c1", "name": None}, {"hp": 10}),
        ({"id": "i2", "characterId": "c1", "name": "second"}, {}),
    ]


def test_instances_routes(api: Api) -> None:
    created = api.post("/instances", json={"id": "i2", "characterId": "c1", "name": "two"})
    assert strip_times(created.json()) == {"id": "i2", "characterId": "c1", "name": "two"}
    by_query = api.get("/instances", params={"characterId": "c1"}).json()
    by_path = api.get("/characters/c1/instances").json()
    assert by_query == by_path
    assert [i["id"] for i in by_query] == ["i1", "i2"]
    api.post("/characters", json={"id": "lonely"})
    assert api.get("/instances", params={"characterId": "lonely"}).json() == []
    assert api.get("/characters/lonely/instances").json() == []
    full = api.get("/instances/i2").json()
    assert strip_times(full["instance"]) == {"id": "i2", "characterId": "c1", "name": "two"}
    assert full["data"] == {}
    assert (
        api.post("/instances", json={"id": "i2", "characterId": "c1", "name": "2"}).json()["name"]
        == "2"
    )
    deleted = api.delete("/instances/i2")
    assert (deleted.status_code, deleted.json()) == (200, {"success": True})
    assert api.get("/instances/i2").json() == {"error": "Instance not found"}


def test_instance_errors(api: Api) -> None:
    missing_query = api.get("/instances")
    assert missing_query.status_code == 400
    assert missing_query.json() == {"error": "Query parameter characterId is required"}
    assert api.get("/instances", params={"characterId": "a/b"}).json() == {
        "error": "Invalid character ID"
    }
    assert api.get("/characters/bad.id/instances").json() == {"error": "Invalid character ID"}
    assert api.post("/instances", json={"id": "x y", "characterId": "c1"}).json() == {
        "error": "Invalid instance ID"
    }
    no_char = api.post("/instances", json={"id": "i9", "characterId": "ghost"})
    assert (no_char.status_code, no_char.json()) == (404, {"error": "Character not found"})
    api.post("/characters", json={"id": "c2"})
    moved = api.post("/instances", json={"id": "i1", "characterId": "c2"})
    assert (moved.status_code, moved.json()) == (
        409,
        {"error": "Instance i1 belongs to another character"},
    )
    assert api.get("/instances/i1").json()["instance"]["characterId"] == "c1"
    assert api.get("/instances/nope").status_code == 404
    assert api.delete("/instances/nope").json() == {"error": "Instance not found"}


def test_delete_character_instances(api: Api) -> None:
    api.post("/instances", json={"id": "i2", "characterId": "c1"})
    api.post("/instances/i1/data", json={"key": "k", "value": 1})
    response = api.delete("/characters/c1/instances")
    assert response.json() == {"success": True, "deletedCount": 2}
    assert api.get("/characters/c1/instances").json() == []
    assert api.get("/characters/c1").status_code == 200
    missing = api.delete("/characters/ghost/instances")
    assert (missing.status_code, missing.json()) == (404, {"error": "Character not found"})


def test_delete_character_cascades_and_leaves_no_orphans(api: Api, db_dir: Path) -> None:
    api.post("/instances", json={"id": "i2", "characterId": "c1"})
    api.put("/instances/i1/data/override", json={"a": 1, "b": [1, 2]})
    api.put("/instances/i2/data/override", json={"c": {"d": None}})
    api.post("/characters", json={"id": "keep"})
    api.post("/instances", json={"id": "k1", "characterId": "keep"})
    api.post("/instances/k1/data", json={"key": "x", "value": "y"})
    response = api.delete("/characters/c1")
    assert (response.status_code, response.json()) == (200, {"success": True})
    assert api.get("/instances/i1").status_code == 404
    with sqlite3.connect(db_dir / "ext1.db") as conn:
        assert conn.execute("SELECT id FROM characters").fetchall() == [("keep",)]
        assert conn.execute("SELECT id FROM instances").fetchall() == [("k1",)]
        assert conn.execute("SELECT instance_id, key FROM instance_data").fetchall() == [
            ("k1", "x")
        ]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
