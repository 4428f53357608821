"""Ids, dbPath, token, body limit and CORS: hostile input is refused and touches no file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import TestClient

from sidecar.config import Settings
from tests.conftest import Api, make_settings

ODD_IDS = ["../x", "a/b", ".hidden", "", "x" * 129, "ünï", "%2e%2e", "..", "a b", "a\n", "a.db"]


def all_files(root: Path) -> set[Path]:
    return {Path(dirpath) / name for dirpath, _, names in os.walk(root) for name in names}


@pytest.fixture
def files_before(tmp_path: Path, api: Api) -> set[Path]:
    return all_files(tmp_path)


@pytest.mark.parametrize("bad", ODD_IDS, ids=repr)
def test_odd_extension_ids_are_refused_without_touching_files(
    anon: Api, tmp_path: Path, files_before: set[Path], bad: str
) -> None:
    register = anon.post("/register", json={"extensionId": bad})
    assert register.status_code == 400
    assert register.json() in (
        {"error": "Invalid extension ID"},
        {"error": "Extension ID is required in header: x-extension-id"},
    )
    if bad.isprintable():  # a control character cannot be sent in a header at all
        header = anon.get("/characters", headers={"x-extension-id": bad.encode()})
        assert header.status_code == 400
    cross = anon.get("/cross-extension/characters/" + quote(bad, safe="/"))
    assert cross.status_code in (400, 404)
    assert list(cross.json()) == ["error"]
    assert all_files(tmp_path) == files_before


@pytest.mark.parametrize("bad", ODD_IDS, ids=repr)
def test_odd_character_and_instance_ids(
    api: Api, tmp_path: Path, files_before: set[Path], bad: str
) -> None:
    assert api.post("/characters", json={"id": bad}).status_code == 400
    assert api.post("/instances", json={"id": bad, "characterId": "c1"}).status_code == 400
    assert api.post("/instances", json={"id": "ok", "characterId": bad}).status_code == 400
    in_path = quote(bad, safe="/")
    for path in (f"/characters/{in_path}", f"/instances/{in_path}", f"/instances/{in_path}/data"):
        if not bad:
            continue  # "/characters/" is the list route, not an empty id
        response = api.get(path)
        assert response.status_code in (400, 404), path
        assert list(response.json()) == ["error"]
    assert [c["id"] for c in api.get("/characters").json()] == ["c1"]
    assert all_files(tmp_path) == files_before


@pytest.mark.parametrize(
    "db_path",
    [
        "/tmp/evil.db",
        "../evil.db",
        "sub/evil.db",
        "evil.txt",
        "evil",
        "..db",
        ".hidden.db",
        "sidecar.registry.db",
        "a\\b.db",
        "",
        5,
    ],
    ids=repr,
)
def test_db_path_outside_the_folder_is_refused(
    anon: Api, tmp_path: Path, files_before: set[Path], db_path: object
) -> None:
    response = anon.post("/register", json={"extensionId": "evil", "dbPath": db_path})
    assert response.status_code == 400
    assert list(response.json()) == ["error"]
    assert all_files(tmp_path) == files_before
    assert anon.for_ext("evil").get("/characters").status_code == 404


def test_db_path_through_a_symlink_out_of_the_folder_is_refused(
    anon: Api, tmp_path: Path, db_dir: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (db_dir / "link.db").symlink_to(outside / "target.db")
    response = anon.post("/register", json={"extensionId": "evil", "dbPath": "link.db"})
    assert response.json() == {"error": "Invalid dbPath: it resolves outside the database folder"}
    assert list(outside.iterdir()) == []


def test_token_is_required_when_configured(
    db_dir: Path, client_factory: Callable[[Settings], TestClient[Any]]
) -> None:
    api = Api(client_factory(make_settings(db_dir, token="s3cret")))
    assert api.get("/probe").status_code == 204
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic s3cret"}):
        response = api.post("/register", json={"extensionId": "e"}, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert list(response.json()) == ["error"]
    assert api.get("/extensions").status_code == 401
    assert api.get("/cross-extension/characters/e").status_code == 401
    assert not (db_dir / "e.db").exists()
    ok = api.post(
        "/register", json={"extensionId": "e"}, headers={"authorization": "Bearer s3cret"}
    )
    assert ok.status_code == 200


def test_body_over_the_limit_is_413(
    db_dir: Path, client_factory: Callable[[Settings], TestClient[Any]]
) -> None:
    api = Api(client_factory(make_settings(db_dir, max_body_bytes=4096)), "e")
    api.for_ext(None).post("/register", json={"extensionId": "e"})
    api.post("/characters", json={"id": "c"})
    api.post("/instances", json={"id": "i", "characterId": "c"})
    response = api.post("/instances/i/data", json={"key": "k", "value": "x" * 5000})
    assert response.status_code == 413
    assert response.json() == {"error": "Request body is too large"}
    assert api.get("/instances/i/data").json() == {}


def test_cors_preflight_only_for_configured_origins(client: TestClient[Any]) -> None:
    def preflight(origin: str) -> Any:
        return client.options(
            "/api/plugins/valuetracker/characters",
            headers={
                "origin": origin,
                "access-control-request-method": "GET",
                "access-control-request-headers": "x-extension-id",
            },
        )

    allowed = preflight("http://127.0.0.1:8000")
    assert allowed.status_code in (200, 204)
    assert allowed.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    denied = preflight("http://evil.example")
    assert denied.status_code >= 400 or "access-control-allow-origin" not in denied.headers
    simple = client.get(
        "/api/plugins/valuetracker/probe", headers={"origin": "http://evil.example"}
    )
    assert "access-control-allow-origin" not in simple.headers


def test_cors_preflight_passes_without_token(
    db_dir: Path, client_factory: Callable[[Settings], TestClient[Any]]
) -> None:
    client = client_factory(make_settings(db_dir, token="s3cret"))
    response = client.options(
        "/api/plugins/valuetracker/characters",
        headers={
            "origin": "http://localhost:8000",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, x-extension-id, content-type",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["access-control-allow-origin"] == "http://localhost:8000"
