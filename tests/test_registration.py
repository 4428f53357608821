"""POST/DELETE /register, GET /extensions, /probe, /ping."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Api


def test_register_creates_the_database_file(anon: Api, db_dir: Path) -> None:
    response = anon.post("/register", json={"extensionId": "my-ext_1"})
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Extension my-ext_1 registered successfully",
    }
    assert (db_dir / "my-ext_1.db").is_file()


def test_register_is_idempotent(anon: Api) -> None:
    for _ in range(2):
        assert anon.post("/register", json={"extensionId": "ext"}).status_code == 200
    ext = anon.for_ext("ext")
    assert ext.post("/characters", json={"id": "c"}).status_code == 200
    assert anon.post("/register", json={"extensionId": "ext"}).status_code == 200
    assert [c["id"] for c in ext.get("/characters").json()] == ["c"]


def test_register_errors(anon: Api) -> None:
    missing = anon.post("/register", json={})
    assert missing.status_code == 400
    assert "extensionId" in missing.json()["error"]
    assert anon.post("/register", json={"extensionId": "a b"}).json() == {
        "error": "Invalid extension ID"
    }
    wrong_type = anon.post("/register", json={"extensionId": 5})
    assert wrong_type.status_code == 400
    assert set(wrong_type.json()) == {"error"}


def test_register_with_db_path(anon: Api, db_dir: Path) -> None:
    response = anon.post("/register", json={"extensionId": "ext", "dbPath": "custom.name.db"})
    assert response.status_code == 200
    assert (db_dir / "custom.name.db").is_file()
    assert not (db_dir / "ext.db").exists()


def test_db_path_used_by_another_extension_is_a_conflict(anon: Api) -> None:
    assert (
        anon.post("/register", json={"extensionId": "a", "dbPath": "shared.db"}).status_code == 200
    )
    response = anon.post("/register", json={"extensionId": "b", "dbPath": "shared.db"})
    assert response.status_code == 409
    assert response.json() == {"error": "dbPath shared.db is already used by extension a"}
    clash = anon.post("/register", json={"extensionId": "x", "dbPath": "a.db"})
    assert clash.status_code == 200  # a.db is free: extension a lives in shared.db
    # Extension "shared" would live in shared.db by default, which extension a already uses.
    assert anon.post("/register", json={"extensionId": "shared"}).status_code == 409


def test_deregister_keeps_the_data(anon: Api, db_dir: Path) -> None:
    anon.post("/register", json={"extensionId": "ext"})
    ext = anon.for_ext("ext")
    ext.post("/characters", json={"id": "c", "name": "Bob"})
    response = anon.delete("/register", json={"extensionId": "ext"})
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Extension ext deregistered successfully",
    }
    assert (db_dir / "ext.db").is_file()
    assert ext.get("/characters").status_code == 404
    assert ext.get("/characters").json() == {"error": "Database not found for extension: ext"}
    anon.post("/register", json={"extensionId": "ext"})
    assert [c["name"] for c in ext.get("/characters").json()] == ["Bob"]


def test_deregister_errors(anon: Api) -> None:
    assert anon.delete("/register", json={"extensionId": "nope"}).status_code == 404
    assert anon.delete("/register", json={"extensionId": "nope"}).json() == {
        "error": "Database not found for extension: nope"
    }
    assert anon.delete("/register", json={"extensionId": "../x"}).json() == {
        "error": "Invalid extension ID"
    }
    assert anon.delete("/register", json={"extensionId": "../x"}).status_code == 400


def test_list_extensions(anon: Api) -> None:
    assert anon.get("/extensions").json() == []
    anon.post("/register", json={"extensionId": "one"})
    anon.post("/register", json={"extensionId": "two"})
    one = anon.for_ext("one")
    one.post("/characters", json={"id": "c"})
    one.post("/instances", json={"id": "i", "characterId": "c"})
    one.put("/instances/i/data/override", json={"a": 1, "b": 2})
    anon.delete("/register", json={"extensionId": "two"})
    listed = anon.get("/extensions").json()
    for item in listed:
        assert item.pop("createdAt").endswith("Z")
    assert listed == [
        {"extensionId": "one", "registered": True, "characters": 1, "instances": 1, "dataKeys": 2},
        {"extensionId": "two", "registered": False, "characters": 0, "instances": 0, "dataKeys": 0},
    ]


def test_header_rules(anon: Api) -> None:
    assert anon.get("/characters").status_code == 400
    assert anon.get("/characters").json() == {
        "error": "Extension ID is required in header: x-extension-id"
    }
    empty = anon.get("/characters", headers={"x-extension-id": ""})
    assert empty.json() == {"error": "Extension ID is required in header: x-extension-id"}
    bad = anon.get("/characters", headers={"x-extension-id": "a.b"})
    assert (bad.status_code, bad.json()) == (400, {"error": "Invalid extension ID"})
    unknown = anon.get("/characters", headers={"x-extension-id": "ghost"})
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"error": "Database not found for extension: ghost"},
    )


def test_probe_and_ping(anon: Api) -> None:
    probe = anon.get("/probe")
    assert probe.status_code == 204
    assert probe.content == b""
    pong = anon.post("/ping", json={"message": "hello"})
    assert (pong.status_code, pong.json()) == (200, {"message": "Pong! hello"})
    assert anon.post("/ping", json={}).status_code == 400
