"""Cross-extension reads: no header, read-only, 404s for unknown things, 405 for writes."""

from __future__ import annotations

import pytest

from tests.conftest import Api


@pytest.fixture
def other(api: Api) -> Api:
    api.post("/instances", json={"id": "i2", "characterId": "c1", "name": "two"})
    api.put("/instances/i1/data/override", json={"hp": 10, "tag": "10", "a/b": None})
    return api.for_ext(None)


def test_reads_match_the_owning_extension(api: Api, other: Api) -> None:
    X = "/cross-extension"
    assert other.get(f"{X}/characters/ext1").json() == api.get("/characters").json()
    assert other.get(f"{X}/characters/ext1/c1").json() == api.get("/characters/c1").json()
    assert (
        other.get(f"{X}/characters/ext1/c1/instances").json()
        == api.get("/characters/c1/instances").json()
    )
    assert other.get(f"{X}/instances/ext1/i1").json() == api.get("/instances/i1").json()
    assert other.get(f"{X}/instances/ext1/i1/data").json() == {"hp": 10, "tag": "10", "a/b": None}
    assert other.get(f"{X}/instances/ext1/i1/data/tag").json() == {"tag": "10"}
    assert other.get(f"{X}/instances/ext1/i1/data/a%2Fb").json() == {"a/b": None}


def test_cross_extension_errors(other: Api) -> None:
    X = "/cross-extension"
    not_registered = {"error": "Database not found for extension: ghost"}
    for path in (
        f"{X}/characters/ghost",
        f"{X}/characters/ghost/c1",
        f"{X}/characters/ghost/c1/instances",
        f"{X}/instances/ghost/i1",
        f"{X}/instances/ghost/i1/data",
        f"{X}/instances/ghost/i1/data/k",
    ):
        response = other.get(path)
        assert (response.status_code, response.json()) == (404, not_registered), path
    assert other.get(f"{X}/characters/ext1/nobody").json() == {"error": "Character not found"}
    assert other.get(f"{X}/instances/ext1/nope").json() == {"error": "Instance not found"}
    assert other.get(f"{X}/instances/ext1/nope/data").json() == {"error": "Instance not found"}
    assert other.get(f"{X}/instances/ext1/i1/data/nokey").json() == {"error": "Data key not found"}
    assert other.get(f"{X}/characters/bad.ext").json() == {"error": "Invalid extension ID"}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize(
    "path",
    [
        "/cross-extension/characters/ext1",
        "/cross-extension/characters/ext1/c1",
        "/cross-extension/instances/ext1/i1/data",
        "/cross-extension/instances/ext1/i1/data/hp",
        "/cross-extension/anything/else",
    ],
)
def test_no_writes_under_cross_extension(other: Api, api: Api, method: str, path: str) -> None:
    response = other.request(method, path, json={"key": "hp", "value": 0})
    assert response.status_code == 405
    assert list(response.json()) == ["error"]
    assert api.get("/instances/i1/data/hp").json() == {"hp": 10}
