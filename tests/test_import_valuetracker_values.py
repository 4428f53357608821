"""``sidecar import-valuetracker``: values, timestamps and names served as the old plugin served
them; orphans and rows sidecar cannot hold are reported, not dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import Api
from tests.old_valuetracker_db import (
    ISO,
    ISO_LATER,
    SQLITE_TS_AS_ISO,
    VALUES,
    add_character,
    add_instance,
    get_json,
    ok,
    old_db,
    served,
    sha256,
    upsert_data,
)


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
