"""Hostile requests, part 2: methods, tokens, CORS, query parameters and the change feed's
parameters, against a real server (see test_hostile_requests.py). Every refusal is a 4xx
``{"error": <string>}`` that creates no file and changes no database row."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from sidecar.api.app import create_app
from sidecar.config import Settings
from tests.conftest import make_settings
from tests.hostile_http import (
    AS_EXT,
    EXT,
    JSON,
    PREFIX,
    TOKEN,
    Site,
    openapi_document,
    site_fixtures,
)

site, unchanged = site_fixtures()


# -- methods, tokens, CORS ----------------------------------------------------------------------

CROSS = [
    f"/cross-extension/characters/{EXT}",
    f"/cross-extension/characters/{EXT}/c1",
    f"/cross-extension/characters/{EXT}/c1/instances",
    f"/cross-extension/instances/{EXT}/i1",
    f"/cross-extension/instances/{EXT}/i1/data",
    f"/cross-extension/instances/{EXT}/i1/data/k1",
    f"/cross-extension/instances/{EXT}/i1/data/override",
    "/cross-extension/anything/else/at/all",
    "/cross-extension/",
]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_writes_under_cross_extension_are_405(unchanged: Site, method: str) -> None:
    for target in CROSS:
        body = b'{"key": "k1", "value": 2}'
        answer = unchanged.server.send(method, target, body, {**JSON, **AS_EXT})
        assert answer.error(405) == f"Method {method} is not allowed here", target
        allowed = {m.strip() for m in answer.headers["allow"].split(",")}
        assert allowed <= {"GET", "OPTIONS"}, (target, allowed)


# Method names its HTTP parser does not know (``FOO``) uvicorn refuses itself, before the app,
# with a plain-text 400; the app's own answer to them is checked in test_unknown_method_token.
@pytest.mark.parametrize("method", ["PATCH", "TRACE", "PROPFIND", "CONNECT", "MKCOL", "QUERY"])
@pytest.mark.parametrize(
    "target", ["/register", "/characters", "/instances/i1/data", "/chats", "/probe", "/events"]
)
def test_unknown_methods_are_405(unchanged: Site, method: str, target: str) -> None:
    answer = unchanged.server.send(method, target, b"{}", {**JSON, **AS_EXT})
    assert answer.error(405) == f"Method {method} is not allowed here"
    assert method not in answer.headers["allow"]


def _operations(chat: str) -> list[tuple[str, str]]:
    """(method, full path) of every operation in the schema, with existing ids filled in."""
    values = {
        "extension_id": EXT,
        "character_id": "c1",
        "instance_id": "i1",
        "key": "k1",
        "chat_id": chat,
        "position": "1",
        "namespace": "arm",
        "version": "1",
    }
    return [
        (method.upper(), path.format(**values))
        for path, operations in OPENAPI["paths"].items()
        for method in operations
    ]


OPENAPI = openapi_document()
PUBLIC = {("GET", PREFIX + "/probe"): 204, ("GET", "/healthz"): 200}
BAD_AUTH = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer wrong",
    f"Bearer {TOKEN}x",
    f"Bearer {TOKEN[:-1]}",
    f"Basic {TOKEN}",
    "Basic eDp0MGtlbg==",
    TOKEN,
    f"Token {TOKEN}",
    f"Bearer\t{TOKEN}x",
    f"{TOKEN} Bearer",
]


@pytest.mark.parametrize("authorization", BAD_AUTH, ids=repr)
def test_missing_or_wrong_token_is_401_everywhere_but_probe(
    unchanged: Site, authorization: str | None
) -> None:
    headers = {**JSON, **AS_EXT}
    if authorization is not None:
        headers["authorization"] = authorization
    operations = [*_operations(unchanged.chat), ("GET", "/schema/openapi.json")]
    assert len(operations) > 40
    for method, path in operations:
        answer = unchanged.server.send(
            method, path, b'{"extensionId": "x"}', headers, token=None, prefix=""
        )
        if (method, path) in PUBLIC:
            assert answer.status == PUBLIC[method, path], (method, path)
            continue
        message = answer.error(401)
        assert message == "Missing or invalid bearer token (Authorization: Bearer <token>)"
        assert answer.headers["www-authenticate"] == "Bearer", (method, path)


UNLISTED = [
    "http://evil.example",
    "null",
    "http://127.0.0.1:8000.evil.example",
    "https://127.0.0.1:8000",
    "http://localhost:8001",
    "http://127.0.0.1",
]


@pytest.mark.parametrize("origin", UNLISTED)
def test_unlisted_origins_get_no_cors_grant(unchanged: Site, origin: str) -> None:
    server = unchanged.server
    for method, target in [
        ("POST", "/register"),
        ("GET", "/characters"),
        ("DELETE", "/register"),
        ("PUT", "/instances/i1/data/override"),
        ("GET", "/probe"),
    ]:
        preflight = server.send(
            "OPTIONS",
            target,
            headers={
                "origin": origin,
                "access-control-request-method": method,
                "access-control-request-headers": "content-type, x-extension-id, authorization",
            },
            token=None,
        )
        assert preflight.error(400) == "Disallowed CORS Origin"
        assert "access-control-allow-origin" not in preflight.headers
    # Simple requests (no preflight) are answered, but the browser may not read the answer,
    # and one with a body the browser can send this way (text/plain) writes nothing.
    read = server.send("GET", "/characters", headers={"origin": origin, **AS_EXT})
    assert read.status == 200
    assert "access-control-allow-origin" not in read.headers
    body = json.dumps({"extensionId": "csrf"}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"origin": origin, **({"content-type": content_type} if content_type else {})}
        write = server.send("POST", "/register", body, headers, token=None)
        assert write.status == 401  # the token comes first
        write = server.send("POST", "/register", body, headers)
        assert write.error(415) == "Content-Type must be application/json"
        assert "access-control-allow-origin" not in write.headers


def test_listed_origin_preflight_is_granted(site: Site) -> None:
    """The contrast to the test above: SillyTavern's own origin gets its grant."""
    preflight = site.server.send(
        "OPTIONS",
        "/register",
        headers={"origin": "http://127.0.0.1:8000", "access-control-request-method": "DELETE"},
        token=None,
    )
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"


def test_options_lists_every_method_of_the_path(site: Site) -> None:
    """Litestar 2 listed only a path's first handler (``OPTIONS, POST`` for /register)."""
    for target, allow in [
        ("/register", "DELETE, OPTIONS, POST"),
        ("/characters", "GET, OPTIONS, POST"),
        ("/instances/i1/data", "DELETE, GET, OPTIONS, POST, PUT"),
        ("/instances/i1/data/k1", "DELETE, GET, OPTIONS"),
    ]:
        answer = site.server.send("OPTIONS", target)
        assert (answer.status, answer.headers["allow"]) == (204, allow), target


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


def test_unknown_method_token_gets_the_error_shape_from_the_app(tmp_path: Path) -> None:
    """uvicorn's parser refuses a method it does not know before the app sees it (plain-text
    400); behind a server that passes it on, the app answers 405 in its own shape."""
    with TestClient(create_app(make_settings(tmp_path / "db", token=TOKEN))) as client:
        response = client.request("FOO", PREFIX + "/register", headers={"authorization": "x"})
    assert (response.status_code, response.json()) == (
        405,
        {"error": "Method FOO is not allowed here"},
    )


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


def test_no_cross_site_writes_without_a_token(
    tmp_path: Path, client_factory: Callable[[Settings], TestClient[Any]]
) -> None:
    """With no ``api.token`` (the default), the content type is what stops a web page: a form
    or ``text/plain`` POST from any site reached /register before (no preflight needed)."""
    db_dir = tmp_path / "db"
    client = client_factory(make_settings(db_dir))
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"origin": "http://evil.example"}
        if content_type:
            headers["content-type"] = content_type
        body = json.dumps({"extensionId": "csrf", "dbPath": "csrf.db"})
        response = client.post(PREFIX + "/register", content=body, headers=headers)
        assert (response.status_code, response.json()) == (
            415,
            {"error": "Content-Type must be application/json"},
        )
    assert client.get(PREFIX + "/extensions").json() == []
    assert not (db_dir / "csrf.db").exists()
