"""The data of one instance: every route, exact JSON, and exact JSON types on the way back."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import Api

VALUES: list[Any] = [
    "10",
    "true",
    "null",
    "",
    0,
    -0.5,
    1.0,
    123456789012345678901234567890,
    False,
    True,
    None,
    [],
    {},
    {"nested": {"list": [1, "1", None, {"deep": [True]}]}},
    "ünïcödé ✓ 字 😀",
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_round_trip_with_their_json_type(api: Api, value: Any) -> None:
    saved = api.post("/instances/i1/data", json={"key": "v", "value": value})
    assert saved.json() == {"success": True, "key": "v", "value": value}
    for body in (
        api.get("/instances/i1/data/v").json(),
        api.get("/instances/i1/data").json(),
        api.get("/instances/i1").json()["data"],
        api.get("/characters/c1").json()["instances"][0]["data"],
    ):
        assert body == {"v": value}
        assert type(body["v"]) is type(value)
    assert api.get("/instances/i1/data/v").text in (
        '{"v":' + _json(value) + "}",
        '{"v": ' + _json(value) + "}",
    )


def _json(value: Any) -> str:
    import msgspec  # noqa: PLC0415

    return msgspec.json.encode(value).decode()


@pytest.mark.parametrize("key", ["ключ", "a/b", "with space", "100%", "?q=1&x#y", "k" * 512])
def test_odd_keys_round_trip_in_paths(api: Api, key: str) -> None:
    assert api.put("/instances/i1/data", json={"key": key, "value": 1}).status_code == 200
    assert api.get("/instances/i1/data").json() == {key: 1}
    path = "/instances/i1/data/" + quote(key, safe="")
    assert api.get(path).json() == {key: 1}
    assert api.delete(path).json() == {"success": True}
    assert api.get("/instances/i1/data").json() == {}


@pytest.mark.parametrize("key", ["override", "merge", "remove"])
def test_keys_named_like_bulk_routes_are_still_reachable(api: Api, key: str) -> None:
    api.post("/instances/i1/data", json={"key": key, "value": [key]})
    assert api.get(f"/instances/i1/data/{key}").json() == {key: [key]}
    assert api.delete(f"/instances/i1/data/{key}").json() == {"success": True}
    assert api.get(f"/instances/i1/data/{key}").json() == {"error": "Data key not found"}


def test_set_get_delete_one_key(api: Api) -> None:
    assert api.get("/instances/i1/data").json() == {}
    api.post("/instances/i1/data", json={"key": "a", "value": 1})
    api.put("/instances/i1/data", json={"key": "a", "value": "2"})
    assert api.get("/instances/i1/data/a").json() == {"a": "2"}
    assert api.delete("/instances/i1/data/a").json() == {"success": True}
    missing = api.delete("/instances/i1/data/a")
    assert (missing.status_code, missing.json()) == (404, {"error": "Data key not found"})
    read = api.get("/instances/i1/data/a")
    assert (read.status_code, read.json()) == (404, {"error": "Data key not found"})


def test_set_key_errors(api: Api) -> None:
    no_value = api.post("/instances/i1/data", json={"key": "a"})
    assert no_value.status_code == 400
    assert "value" in no_value.json()["error"]
    no_key = api.post("/instances/i1/data", json={"value": 1})
    assert no_key.status_code == 400
    assert "key" in no_key.json()["error"]
    assert api.post("/instances/i1/data", json={"key": "", "value": 1}).json() == {
        "error": "Data key must be a non-empty string"
    }
    too_long = api.post("/instances/i1/data", json={"key": "k" * 513, "value": 1})
    assert too_long.json() == {"error": "Data key is longer than 512 characters"}
    assert api.post("/instances/i1/data", json={"key": 5, "value": 1}).status_code == 400
    ghost = api.post("/instances/ghost/data", json={"key": "a", "value": 1})
    assert (ghost.status_code, ghost.json()) == (404, {"error": "Instance not found"})
    assert api.get("/instances/ghost/data").json() == {"error": "Instance not found"}
    assert api.get("/instances/ghost/data/a").json() == {"error": "Instance not found"}
    assert api.delete("/instances/ghost/data/a").json() == {"error": "Instance not found"}
    assert api.delete("/instances/ghost/data").json() == {"error": "Instance not found"}


def test_delete_all_data(api: Api) -> None:
    api.put("/instances/i1/data/override", json={"a": 1, "b": 2, "c": 3})
    assert api.delete("/instances/i1/data").json() == {"success": True, "deletedCount": 3}
    assert api.delete("/instances/i1/data").json() == {"success": True, "deletedCount": 0}


def test_override(api: Api) -> None:
    api.put("/instances/i1/data/override", json={"old": 1, "kept": "x"})
    response = api.put("/instances/i1/data/override", json={"kept": "y", "new": [None]})
    assert response.json() == {"success": True, "message": "Instance data overridden successfully"}
    assert api.get("/instances/i1/data").json() == {"kept": "y", "new": [None]}
    assert api.put("/instances/i1/data/override", json={}).status_code == 200
    assert api.get("/instances/i1/data").json() == {}


@pytest.mark.parametrize("route", ["override", "merge"])
@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null", b"not json", b""])
def test_bulk_bodies_must_be_objects_and_leave_data_alone(
    api: Api, route: str, body: bytes
) -> None:
    api.post("/instances/i1/data", json={"key": "safe", "value": True})
    response = api.put(
        f"/instances/i1/data/{route}", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert list(response.json()) == ["error"]
    assert api.get("/instances/i1/data").json() == {"safe": True}


def test_bulk_routes_404_for_unknown_instance(api: Api) -> None:
    for route in ("override", "merge"):
        response = api.put(f"/instances/ghost/data/{route}", json={"a": 1})
        assert (response.status_code, response.json()) == (404, {"error": "Instance not found"})
    removed = api.put("/instances/ghost/data/remove", json={"keys": ["a"]})
    assert (removed.status_code, removed.json()) == (404, {"error": "Instance not found"})


def test_merge_shallow_and_deep(api: Api) -> None:
    api.put("/instances/i1/data/override", json={"a": {"x": 1, "y": {"z": 1}}, "b": 1})
    response = api.put("/instances/i1/data/merge", json={"a": {"y": {"w": 2}}, "c": "new"})
    assert response.json() == {"success": True, "message": "Instance data merged successfully"}
    assert api.get("/instances/i1/data").json() == {"a": {"y": {"w": 2}}, "b": 1, "c": "new"}
    api.put("/instances/i1/data/override", json={"a": {"x": 1, "y": {"z": 1}, "l": [1]}})
    deep = api.put(
        "/instances/i1/data/merge",
        params={"deep": "true"},
        json={"a": {"y": {"w": 2}, "l": [2], "x": None}, "b": {"n": 1}},
    )
    assert deep.status_code == 200
    assert api.get("/instances/i1/data").json() == {
        "a": {"x": None, "y": {"z": 1, "w": 2}, "l": [2]},
        "b": {"n": 1},
    }
    assert api.put("/instances/i1/data/merge", params={"deep": "maybe"}, json={}).status_code == 400


def test_remove_keys(api: Api) -> None:
    api.put("/instances/i1/data/override", json={"a": 1, "b": 2, "c": 3})
    response = api.put("/instances/i1/data/remove", json={"keys": ["a", "c", "zzz", "a"]})
    assert response.json() == {"success": True, "removedCount": 2}
    assert api.get("/instances/i1/data").json() == {"b": 2}
    for bad in ({"keys": "a"}, {"keys": [1]}, {}, {"keys": None}):
        response = api.put("/instances/i1/data/remove", json=bad)
        assert response.status_code == 400, bad
        assert list(response.json()) == ["error"]
    assert api.get("/instances/i1/data").json() == {"b": 2}


def test_data_changes_touch_the_instance(api: Api) -> None:
    before = api.get("/instances/i1").json()["instance"]["updatedAt"]
    api.post("/instances/i1/data", json={"key": "a", "value": 1})
    after = api.get("/instances/i1").json()["instance"]["updatedAt"]
    assert after >= before


def test_large_value_round_trips(api: Api) -> None:
    big = {"text": "x" * 1_000_000, "list": list(range(10_000))}
    assert api.post("/instances/i1/data", json={"key": "big", "value": big}).status_code == 200
    assert api.get("/instances/i1/data/big").json() == {"big": big}
