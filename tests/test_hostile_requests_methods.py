"""Hostile requests: methods, tokens and CORS, against a real server (see tests/hostile_http.py).
Every refusal is a 4xx ``{"error": <string>}`` that creates no file and changes no database row."""

from __future__ import annotations

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


def test_unknown_method_token_gets_the_error_shape_from_the_app(tmp_path: Path) -> None:
    """uvicorn's parser refuses a method it does not know before the app sees it (plain-text
    400); behind a server that passes it on, the app answers 405 in its own shape."""
    with TestClient(create_app(make_settings(tmp_path / "db", token=TOKEN))) as client:
        response = client.request("FOO", PREFIX + "/register", headers={"authorization": "x"})
    assert (response.status_code, response.json()) == (
        405,
        {"error": "Method FOO is not allowed here"},
    )


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
