"""GET /chats/{chatId}/messages[/{position}[/data/{namespace}[/{key}]]] over HTTP, on the corpus
of test_query_chats (real files, real indexer, real databases)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_query_chats import BOB, GROUP, SOLO_A, Corpus, corpus

__all__ = ["corpus"]  # the module-scoped fixture, shared with test_query_chats

DATE = "2026-03-02T18:05:47.221Z"


def msg(position: int, text: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "position": position,
        "name": "Seraphina",
        "isUser": False,
        "isSystem": False,
        "sendDate": DATE,
        "sendDateRaw": DATE,
        "text": text,
        "swipeId": 0,
        "swipeCount": 0,
        "extra": {},
        "namespaces": [],
    }
    base.update(fields)
    return base


MESSAGES = [
    msg(0, "hi", name="Alice", isUser=True),
    msg(1, "s1", swipeId=1, swipeCount=3, extra={"api": "openai", "model": "m1"},
        namespaces=["mood"]),
    msg(2, "plain", namespaces=["mood"]),
    msg(3, "x0", swipeCount=2, namespaces=["mood", "notes"]),
    msg(4, "noted", namespaces=["notes"]),
]  # fmt: skip


def base(corpus: Corpus, chat: str = SOLO_A) -> str:
    return f"/chats/{corpus.ids[chat]}/messages"


def test_list_messages(corpus: Corpus) -> None:
    assert corpus.ok(base(corpus)) == {"items": MESSAGES, "nextCursor": None}


def test_list_range(corpus: Corpus) -> None:
    cases: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
        ({"from": 1, "to": 3}, MESSAGES[1:4]),
        ({"from": 3}, MESSAGES[3:]),
        ({"to": 0}, MESSAGES[:1]),
        ({"from": 2, "to": 2}, MESSAGES[2:3]),
        ({"from": 9}, []),
    ]
    for params, expected in cases:
        assert corpus.ok(base(corpus), **params)["items"] == expected, params


def test_list_with_namespace_data_of_selected_swipe(corpus: Corpus) -> None:
    items = corpus.ok(base(corpus), namespace="mood")["items"]
    assert [entry.pop("data") for entry in items] == [None, {"v": 1}, {"v": 5}, {"v": 7}, None]
    assert items == MESSAGES
    notes = corpus.ok(base(corpus), namespace="notes")["items"]
    assert [entry["data"] for entry in notes] == [
        None,
        None,
        None,
        None,
        {"$value": "just a string"},
    ]
    unknown = corpus.ok(base(corpus), namespace="nothing-here")["items"]
    assert [entry["data"] for entry in unknown] == [None] * 5


def test_list_pages(corpus: Corpus) -> None:
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1, "from": 1}
    while True:
        page = corpus.ok(base(corpus), **params)
        assert len(page["items"]) == 1
        seen += page["items"]
        if page["nextCursor"] is None:
            break
        params["cursor"] = page["nextCursor"]
    assert seen == MESSAGES[1:]
    page = corpus.ok(base(corpus), limit=2, to=3)
    assert page["items"] == MESSAGES[:2]
    rest = corpus.ok(base(corpus), limit=2, to=3, cursor=page["nextCursor"])
    assert rest == {"items": MESSAGES[2:4], "nextCursor": None}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "limit must be between 1 and 1000"),
        ({"limit": 1001}, "limit must be between 1 and 1000"),
        ({"cursor": "%%%"}, "Invalid cursor"),
        ({"cursor": "WyJhIl0"}, "Invalid cursor"),  # ["a"]: a chat-list cursor
        ({"from": -1}, "from and to must be positions (0 or more)"),
        ({"from": 3, "to": 2}, "from must not be greater than to"),
    ],
)
def test_list_bad_parameters(corpus: Corpus, params: dict[str, Any], message: str) -> None:
    assert corpus.error(400, base(corpus), **params) == message


def test_list_not_found_and_scoped(corpus: Corpus) -> None:
    assert corpus.error(404, "/chats/nope/messages") == "Chat not found"
    assert corpus.error(404, base(corpus), as_user="bob") == "Chat not found"
    assert len(corpus.ok(base(corpus), as_user="alice")["items"]) == 5


def test_message_with_all_swipes(corpus: Corpus) -> None:
    assert corpus.ok(base(corpus) + "/1") == {
        **MESSAGES[1],
        "problems": [],
        "swipes": [
            {"swipe": 0, "selected": False, "data": {"mood": {"tag": "calm", "v": 0}}},
            {"swipe": 1, "selected": True, "data": {"mood": {"v": 1}}},
        ],  # swipe 2 has no swipe_info: no data
    }
    assert corpus.ok(base(corpus) + "/3")["swipes"] == [
        {"swipe": 0, "selected": True, "data": {"mood": {"v": 7}}},
        {"swipe": 1, "selected": False, "data": {"mood": {"v": 8}, "notes": {"$value": "n1"}}},
    ]
    assert corpus.ok(base(corpus) + "/4") == {
        **MESSAGES[4],
        "problems": [],
        "swipes": [{"swipe": 0, "selected": True, "data": {"notes": {"$value": "just a string"}}}],
    }
    assert corpus.ok(base(corpus) + "/0") == {**MESSAGES[0], "problems": [], "swipes": []}
    assert corpus.ok(base(corpus, GROUP) + "/0")["swipes"] == [
        {"swipe": 0, "selected": True, "data": {"party": {"hp": 3}}}
    ]


def test_message_not_found(corpus: Corpus) -> None:
    assert corpus.error(404, base(corpus) + "/5") == "Message not found"
    assert corpus.error(404, base(corpus) + "/-1") == "Message not found"
    assert corpus.error(404, "/chats/nope/messages/0") == "Chat not found"
    assert corpus.error(404, base(corpus) + "/1", as_user="bob") == "Chat not found"
    assert corpus.ok(base(corpus, BOB) + "/0", as_user="bob")["text"] == "yo"


@pytest.mark.parametrize(
    ("position", "swipe", "expected"),
    [
        (1, None, {"v": 1}),
        (1, "selected", {"v": 1}),
        (1, "previous", {"tag": "calm", "v": 0}),
        (1, "0", {"tag": "calm", "v": 0}),
        (1, "1", {"v": 1}),
        (1, "all", {"0": {"tag": "calm", "v": 0}, "1": {"v": 1}}),
        (2, None, {"v": 5}),  # no swipes at all: swipe 0
        (2, "0", {"v": 5}),
        (2, "all", {"0": {"v": 5}}),
        (3, "1", {"v": 8}),
        (3, "all", {"0": {"v": 7}, "1": {"v": 8}}),
    ],
)
def test_namespace_data(
    corpus: Corpus, position: int, swipe: str | None, expected: dict[str, Any]
) -> None:
    params = {} if swipe is None else {"swipe": swipe}
    assert corpus.ok(f"{base(corpus)}/{position}/data/mood", **params) == expected


def test_non_object_namespace(corpus: Corpus) -> None:
    assert corpus.ok(base(corpus) + "/4/data/notes") == {"$value": "just a string"}
    assert corpus.ok(base(corpus) + "/4/data/notes/$value") == {"$value": "just a string"}
    assert corpus.ok(base(corpus) + "/3/data/notes", swipe="all") == {"1": {"$value": "n1"}}


@pytest.mark.parametrize(
    ("path", "swipe", "status", "message"),
    [
        ("/9/data/mood", None, 404, "Message not found"),
        ("/0/data/mood", None, 404, "Namespace not found"),  # the message has none
        ("/1/data/nothing-here", None, 404, "Namespace not found"),
        ("/1/data/mood", "2", 404, "Namespace not found"),  # swipe 2 exists, holds no data
        ("/1/data/mood", "3", 404, "Swipe not found"),
        ("/2/data/mood", "1", 404, "Swipe not found"),  # no swipes: only swipe 0
        (
            "/3/data/mood",
            "previous",
            404,
            "Swipe not found: the selected swipe is the first (0), there is no previous one",
        ),
        (
            "/2/data/mood",
            "previous",
            404,
            "Swipe not found: the selected swipe is the first (0), there is no previous one",
        ),
        ("/3/data/notes", None, 404, "Namespace not found"),  # only swipe 1 has notes
        ("/1/data/mood/nope", None, 404, "Data key not found"),
        ("/1/data/mood/tag", "1", 404, "Data key not found"),
        ("/1/data/mood/nope", "all", 404, "Data key not found"),
        ("/1/data/nothing-here/v", "all", 404, "Namespace not found"),
    ],
)
def test_data_not_found(
    corpus: Corpus, path: str, swipe: str | None, status: int, message: str
) -> None:
    params = {} if swipe is None else {"swipe": swipe}
    assert corpus.error(status, base(corpus) + path, **params) == message


@pytest.mark.parametrize(
    "swipe", ["latest", "-1", "1.5", "", "\u0661"]
)  # the last: a non-ASCII digit
@pytest.mark.parametrize("path", ["/1/data/mood", "/1/data/mood/v"])
def test_bad_swipe(corpus: Corpus, path: str, swipe: str) -> None:
    assert corpus.error(400, base(corpus) + path, swipe=swipe) == (
        "swipe must be selected, previous, all or a swipe number (0, 1, ...)"
    )


@pytest.mark.parametrize(
    ("position", "key", "swipe", "expected"),
    [
        (1, "v", None, {"v": 1}),
        (1, "v", "previous", {"v": 0}),
        (1, "tag", "0", {"tag": "calm"}),
        (1, "v", "all", {"0": 0, "1": 1}),
        (1, "tag", "all", {"0": "calm"}),
        (2, "v", None, {"v": 5}),
        (3, "v", "1", {"v": 8}),
    ],
)
def test_key_data(
    corpus: Corpus, position: int, key: str, swipe: str | None, expected: dict[str, Any]
) -> None:
    params = {} if swipe is None else {"swipe": swipe}
    assert corpus.ok(f"{base(corpus)}/{position}/data/mood/{key}", **params) == expected


def test_data_scoped_by_user(corpus: Corpus) -> None:
    assert corpus.error(404, base(corpus) + "/1/data/mood", as_user="bob") == "Chat not found"
    assert corpus.error(404, base(corpus) + "/1/data/mood/v", as_user="bob") == "Chat not found"
    assert corpus.ok(base(corpus) + "/1/data/mood/v", as_user="alice") == {"v": 1}
    assert corpus.ok(base(corpus, BOB) + "/0/data/mood", as_user="bob") == {"v": 9}
    assert corpus.error(404, "/chats/nope/messages/0/data/mood") == "Chat not found"
