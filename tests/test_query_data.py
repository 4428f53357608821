"""``GET /data/{namespace}``: real chat files, a real index, real HTTP; every filter and page."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sidecar.config import Settings
from tests.conftest import Api, make_settings
from tests.index_harness import Harness
from tests.st_files import header, message, st_save, swiped

A = "default-user/chats/Seraphina/a.jsonl"
B = "default-user/chats/Other/b.jsonl"
C = "bob/chats/Seraphina/c.jsonl"


def chat_a() -> list[Any]:
    return [
        header(),
        message("hello", name="User", is_user=True),
        swiped(
            ["x", "y"],
            1,
            [
                {"arm": {"scene_break": False, "score": 1}},
                {"arm": {"scene_break": True, "score": 2.5}},
            ],
        ),
        message("m2", extra={"arm": {"scene_break": True, "label": "3", "score": 3}}),
        message("m3", extra={"arm": {"label": "x", "obj": {"a": [1, None]}, "flag": 1}}),
    ]


@pytest.fixture
def setup(
    tmp_path: Path, client_factory: Callable[[Settings], TestClient[Any]]
) -> Iterator[tuple[Api, Harness, dict[str, str]]]:
    db_dir = tmp_path / "db"
    h = Harness(tmp_path / "st", db_dir)
    st_save(h.root / A, chat_a())
    st_save(
        h.root / B, [header(), message("b0", extra={"arm": {"scene_break": True, "score": 10}})]
    )
    st_save(
        h.root / C, [header(), message("c0", extra={"arm": {"scene_break": True, "score": -1}})]
    )
    h.scan()
    ids = {"a": h.chat_id(A), "b": h.chat_id(B), "c": h.chat_id(C)}
    yield Api(client_factory(make_settings(db_dir))), h, ids
    h.close()


Row = tuple[str, int, int, bool, str, Any]  # chat, position, swipe, selected, key, value


def rows(ids: dict[str, str]) -> list[dict[str, Any]]:
    """Every row of namespace ``arm``, as the API must list them (chat order)."""
    table: list[Row] = [
        ("a", 1, 0, False, "scene_break", False),
        ("a", 1, 0, False, "score", 1),
        ("a", 1, 1, True, "scene_break", True),
        ("a", 1, 1, True, "score", 2.5),
        ("a", 2, 0, True, "label", "3"),
        ("a", 2, 0, True, "scene_break", True),
        ("a", 2, 0, True, "score", 3),
        ("a", 3, 0, True, "flag", 1),
        ("a", 3, 0, True, "label", "x"),
        ("a", 3, 0, True, "obj", {"a": [1, None]}),
        ("b", 0, 0, True, "scene_break", True),
        ("b", 0, 0, True, "score", 10),
        ("c", 0, 0, True, "scene_break", True),
        ("c", 0, 0, True, "score", -1),
    ]
    users = {"a": "default-user", "b": "default-user", "c": "bob"}
    items = [
        {
            "chatId": ids[chat],
            "user": users[chat],
            "position": position,
            "swipe": swipe,
            "selected": selected,
            "key": key,
            "value": value,
        }
        for chat, position, swipe, selected, key, value in table
    ]
    return sorted(items, key=lambda i: (i["chatId"], i["position"], i["swipe"], i["key"]))


def where(items: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [i for i in items if all(i[k] == v for k, v in match.items())]


def get(api: Api, params: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    response = api.get("/data/arm", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def test_every_row_in_chat_order(setup: tuple[Api, Harness, dict[str, str]]) -> None:
    api, _, ids = setup
    assert get(api, {}) == {"items": rows(ids), "nextCursor": None}


def test_scene_breaks_across_chats(setup: tuple[Api, Harness, dict[str, str]]) -> None:
    api, _, ids = setup
    body = get(api, {"key": "scene_break", "value": "true"})
    assert body["items"] == where(rows(ids), key="scene_break", value=True)
    assert [(i["position"], i["swipe"]) for i in body["items"] if i["chatId"] == ids["a"]] == [
        (1, 1),
        (2, 0),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", [("scene_break", True)]),
        ("false", [("scene_break", False)]),
        ("3", [("score", 3)]),  # a number: not the string "3", not a boolean
        ("3.0", [("score", 3)]),
        ("1", [("flag", 1), ("score", 1)]),  # never ``true``
        ('"3"', [("label", "3")]),
        ("x", [("label", "x")]),  # not JSON: a string
        ('"x"', [("label", "x")]),
        ('{"a":[1,null]}', [("obj", {"a": [1, None]})]),
        ('{"a": [1, null]}', [("obj", {"a": [1, None]})]),
        ("null", []),
    ],
)
def test_value_filter(
    setup: tuple[Api, Harness, dict[str, str]], value: str, expected: list[tuple[str, Any]]
) -> None:
    api, _, ids = setup
    wanted = [
        i
        for i in rows(ids)
        if any(
            i["key"] == k and i["value"] == v and type(i["value"]) is type(v) for k, v in expected
        )
    ]
    assert get(api, {"value": value})["items"] == wanted


def test_numeric_comparisons(setup: tuple[Api, Harness, dict[str, str]]) -> None:
    api, _, ids = setup
    numbers = [i for i in rows(ids) if type(i["value"]) in (int, float)]
    assert get(api, {"gt": "2"})["items"] == [i for i in numbers if i["value"] > 2]
    assert get(api, {"lt": "0"})["items"] == [i for i in numbers if i["value"] < 0]
    assert get(api, {"gt": "1", "lt": "3"})["items"] == [i for i in numbers if 1 < i["value"] < 3]
    assert get(api, {"gt": "-5e0", "key": "score", "chatId": ids["c"]})["items"] == where(
        rows(ids), chatId=ids["c"], key="score"
    )


@pytest.mark.parametrize("bad", ["abc", "true", '"3"', "[1]", "NaN", ""])
def test_comparisons_need_numbers(setup: tuple[Api, Harness, dict[str, str]], bad: str) -> None:
    api, _, _ = setup
    for name in ("gt", "lt"):
        response = api.get("/data/arm", params={name: bad})
        assert response.status_code == 400
        assert response.json() == {"error": f"{name} must be a number"}


def test_chat_user_and_selected_filters(setup: tuple[Api, Harness, dict[str, str]]) -> None:
    api, _, ids = setup
    everything = rows(ids)
    assert get(api, {"chatId": ids["b"]})["items"] == where(everything, chatId=ids["b"])
    assert get(api, {"chatId": "nope"}) == {"items": [], "nextCursor": None}
    assert get(api, {"user": "bob"})["items"] == where(everything, user="bob")
    assert get(api, {"user": "nobody"})["items"] == []
    assert get(api, {"selected": "true"})["items"] == where(everything, selected=True)
    assert get(api, {"selected": "false"})["items"] == where(everything, selected=False)
    assert get(api, {"key": "score", "selected": "true", "user": "default-user"})["items"] == where(
        everything, key="score", selected=True, user="default-user"
    )


def test_sillytavern_user_header_scopes(setup: tuple[Api, Harness, dict[str, str]]) -> None:
    api, _, ids = setup
    bob = {"x-sillytavern-user": "bob"}
    assert get(api, {}, bob)["items"] == where(rows(ids), user="bob")
    assert get(api, {"user": "bob"}, bob)["items"] == where(rows(ids), user="bob")
    assert get(api, {"user": "default-user"}, bob)["items"] == []
    assert get(api, {"chatId": ids["a"]}, bob)["items"] == []


@pytest.mark.parametrize("params", [{}, {"key": "score"}, {"selected": "true", "gt": "0"}])
def test_pages_of_one_walk_everything(
    setup: tuple[Api, Harness, dict[str, str]], params: dict[str, str]
) -> None:
    api, _, _ = setup
    full = get(api, params)["items"]
    walked: list[Any] = []
    cursor = None
    while True:
        page = get(api, {**params, "limit": "1", **({"cursor": cursor} if cursor else {})})
        walked += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
        assert len(page["items"]) == 1
    assert walked == full
    three = get(api, {**params, "limit": "3"})
    assert three["items"] == full[:3]
    assert get(api, {**params, "limit": str(len(full))})["nextCursor"] is None


def test_a_cursor_is_a_sort_key_not_an_offset(
    setup: tuple[Api, Harness, dict[str, str]],
) -> None:
    api, h, ids = setup
    first = get(api, {"limit": "5", "chatId": ids["a"]})
    chat = chat_a()
    chat.insert(1, message("new top", extra={"arm": {"score": 99}}))
    st_save(h.root / A, chat)
    h.index(h.root / A)
    rest = get(api, {"limit": "100", "chatId": ids["a"], "cursor": first["nextCursor"]})
    last = first["items"][-1]
    assert (last["position"], last["swipe"], last["key"]) == (2, 0, "label")
    # after the insert, the page goes on after (2, 0, "label") in the new order
    assert [(i["position"], i["swipe"], i["key"]) for i in rest["items"]] == [
        (2, 0, "scene_break"),
        (2, 0, "score"),
        (2, 1, "scene_break"),
        (2, 1, "score"),
        (3, 0, "label"),
        (3, 0, "scene_break"),
        (3, 0, "score"),
        (4, 0, "flag"),
        (4, 0, "label"),
        (4, 0, "obj"),
    ]
    assert rest["nextCursor"] is None


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"limit": "0"}, "limit must be between 1 and 1000"),
        ({"limit": "1001"}, "limit must be between 1 and 1000"),
        ({"cursor": "!!!"}, "Invalid cursor"),
        ({"cursor": "WzFd"}, "Invalid cursor"),  # [1]: wrong size
        ({"cursor": "WzEsMiwzLDRd"}, "Invalid cursor"),  # [1,2,3,4]: wrong types
    ],
)
def test_bad_parameters(
    setup: tuple[Api, Harness, dict[str, str]], params: dict[str, str], error: str
) -> None:
    api, _, _ = setup
    response = api.get("/data/arm", params=params)
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert api.get("/data/arm", params={"limit": "x"}).status_code == 400
    assert api.get("/data/arm", params={"selected": "maybe"}).status_code == 400


def test_unknown_namespace(setup: tuple[Api, Harness, dict[str, str]]) -> None:
    api, _, _ = setup
    response = api.get("/data/nothing_here")
    assert response.status_code == 404
    assert response.json() == {"error": "Namespace not found"}


def test_nothing_indexed_yet(anon: Api) -> None:
    assert anon.get("/data/arm").json() == {"error": "Namespace not found"}
