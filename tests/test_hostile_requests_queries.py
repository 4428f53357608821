"""Hostile query parameters, search text, change-feed parameters and crafted cursors, against a
real server (see tests/hostile_http.py): a 4xx ``{"error": <string>}`` or a page, no change."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.hostile_http import (
    AS_EXT,
    Site,
    site_fixtures,
)

site, unchanged = site_fixtures()


# -- query parameters ---------------------------------------------------------------------------

PAGED = [
    "/chats",
    "/chats/{chat}/messages",
    "/chats/{chat}/versions",
    "/data/arm",
    "/chats/{chat}/messages/1/history/arm/score",
]
BAD_QUERIES: list[tuple[str, str]] = [
    *(
        (p, q)
        for p in PAGED
        for q in [
            "limit=-1",
            "limit=0",
            "limit=abc",
            "limit=1000000000",
            "limit=1001",
            "limit=1.5",
            "limit=%00",
            "limit=",
            "limit=99999999999999999999999",
            "cursor=zzz",
            "cursor=",
            "cursor=%00",
            "cursor=eyJhIjoxfQ",
            "cursor=" + "A" * 5000,
            "cursor=-1",
        ]
    ),
    *(("/search?q=hello", q) for q in ["limit=-1", "limit=abc", "limit=1000000000", "limit=0"]),
    *(
        (route, f"swipe={s}")
        for route in (
            "/chats/{chat}/messages/1/data/arm",
            "/chats/{chat}/messages/1/data/arm/score",
        )
        for s in [
            "-1",
            "abc",
            "1.5",
            "%00",
            "%201",
            "1%20",
            "0x1",
            "+1",
            "ALL",
            "99999999999999999999",
        ]
    ),
    *(
        ("/chats/{chat}/messages", q)
        for q in ["from=abc", "to=abc", "from=-1", "to=-5", "from=3&to=1", "from=1.5"]
    ),
    *(
        ("/chats/{chat}/versions/2/diff", q)
        for q in ["against=abc", "against=1.5", "against=-1", "against=99999999999999999999"]
    ),
    ("/data/arm", "selected=maybe"),
    ("/data/arm", "selected=2"),
    ("/chats/{chat}/messages/99999999999999999999999", ""),
    ("/chats/{chat}/messages/-1", ""),
    ("/chats/{chat}/versions/99999999999999999999999/file", ""),
    ("/chats/{chat}/versions/-1/diff", ""),
    ("/instances?characterId=", ""),
    ("/search?q=", ""),
    ("/search?q=" + "a" * 5000, ""),
]


@pytest.mark.parametrize(
    ("route", "query"), BAD_QUERIES, ids=[f"{r}?{q}"[:80] for r, q in BAD_QUERIES]
)
def test_query_parameters_of_the_wrong_type_or_range(
    unchanged: Site, route: str, query: str
) -> None:
    target = route.format(chat=unchanged.chat) + ("&" if "?" in route else "?") + query
    answer = unchanged.server.send("GET", target.rstrip("?&"), headers=AS_EXT)
    answer.error(400, 404)


@pytest.mark.parametrize(
    "q",
    [
        "0%00",
        "hello%00there",
        "%00",
        "%00%00hello",
        '"',
        "hello*",
        "NEAR(a%20b)",
        "a%20OR%20b",
        "-hello",
        "^hello",
        "%ff",
        "%ed%a0%80",
    ],
)
def test_search_takes_any_text(unchanged: Site, q: str) -> None:
    """Found by the fuzzer: a NUL in ``q`` cut FTS5's query string short (a 500)."""
    answer = unchanged.server.send("GET", f"/search?q={q}")
    assert answer.status == 200, answer.body
    assert set(answer.json()) == {"items", "nextCursor"}


def test_search_with_a_nul_still_finds_the_words(site: Site) -> None:
    found = site.server.send("GET", "/search?q=hello%00there").json()["items"]
    assert [(hit["chatId"], hit["position"]) for hit in found] == [(site.chat, 0)]


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("lastEventId=abc", {}),
        ("lastEventId=-1", {}),
        ("lastEventId=1e3", {}),
        ("lastEventId=1.0", {}),
        ("lastEventId=0x10", {}),
        ("lastEventId=%201", {}),
        ("lastEventId=99999999999999999999", {}),
        ("", {"last-event-id": "abc"}),
        ("", {"last-event-id": "-1"}),
        ("", {"last-event-id": "99999999999999999999"}),
        ("", {"last-event-id": " 1 x"}),
        ("lastEventId=1", {"last-event-id": "x"}),
        ("chatId=../x", {}),
        ("chatId=%00", {}),
        ("chatId=" + "x" * 129, {}),
        ("namespace=" + "n" * 513, {}),
    ],
)
def test_events_with_bad_parameters_are_400_without_a_stream(
    unchanged: Site, query: str, headers: dict[str, str]
) -> None:
    answer = unchanged.server.send("GET", "/events?" + query, headers=headers, timeout=5)
    answer.error(400)


CURSOR_SIZES = {
    "/chats": 1,
    "/chats/{chat}/messages": 1,
    "/chats/{chat}/versions": 1,
    "/data/arm": 4,
    "/chats/{chat}/messages/1/history/arm/score": 2,
}


@pytest.mark.parametrize(
    "element",
    [10**30, -(10**30), 2**63, {"a": 1}, [1], None, "x", 1.5, True, -1, "\x00", 2**63 - 1],
    ids=repr,
)
def test_crafted_cursors_are_400_or_a_page(unchanged: Site, element: Any) -> None:
    """A cursor is base64url JSON, so a client can forge one of the right length: its values
    must not reach SQLite unchecked (huge ints overflowed, objects could not be bound)."""
    for route, size in CURSOR_SIZES.items():
        encoded = base64.urlsafe_b64encode(json.dumps([element] * size).encode()).decode()
        target = route.format(chat=unchanged.chat) + "?cursor=" + encoded.rstrip("=")
        answer = unchanged.server.send("GET", target)
        assert answer.status in (200, 400), (route, answer.status, answer.body[:200])
        if answer.status == 400:
            assert answer.error(400) == "Invalid cursor", route
        else:
            assert set(answer.json()) == {"items", "nextCursor"}, route


def test_validation_errors_name_the_parameter_as_sent(site: Site) -> None:
    """``from``/``to`` are ``start``/``end`` in the handler; the message says what was sent."""
    chat = site.chat
    for query, name in [
        ("from=abc", "query from"),
        ("to=x", "query to"),
        ("limit=x", "query limit"),
    ]:
        answer = site.server.send("GET", f"/chats/{chat}/messages?{query}")
        assert answer.error(400).startswith(f"Invalid request: {name}: "), query
    answer = site.server.send("GET", f"/chats/{chat}/messages/99999999999999999999")
    assert answer.error(400).startswith("Invalid request: path position: "), answer.body
