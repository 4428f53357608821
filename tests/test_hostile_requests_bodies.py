"""Hostile request bodies: size (413), content type (415), JSON syntax and depth (400), against a
real server (see tests/hostile_http.py); a refused request creates no file and changes no row."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sidecar.api.request import MAX_JSON_DEPTH
from tests.hostile_http import AS_EXT, EXT, JSON, LIMIT, PREFIX, TOKEN, Site, site_fixtures

site, unchanged = site_fixtures()


# -- bodies: size, type, syntax -----------------------------------------------------------------

BODY_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/register", {"extensionId": "newext"}),
    ("DELETE", "/register", {"extensionId": EXT}),
    ("POST", "/ping", {"message": "hi"}),
    ("POST", "/characters", {"id": "c9"}),
    ("POST", "/instances", {"id": "i9", "characterId": "c1"}),
    ("POST", "/instances/i1/data", {"key": "k9", "value": 1}),
    ("PUT", "/instances/i1/data", {"key": "k9", "value": 1}),
    ("PUT", "/instances/i1/data/override", {"k9": 1}),
    ("PUT", "/instances/i1/data/merge", {"k9": 1}),
    ("PUT", "/instances/i1/data/remove", {"keys": ["k1"]}),
]
ROUTE_IDS = [f"{method} {target}" for method, target, _ in BODY_ROUTES]


def _padded(body: Any, size: int) -> bytes:
    """``body`` as JSON of exactly ``size`` bytes (whitespace before the closing brace)."""
    text = json.dumps(body).encode()
    return text[:-1] + b" " * (size - len(text)) + b"}"


@pytest.mark.parametrize(("method", "target", "body"), BODY_ROUTES, ids=ROUTE_IDS)
def test_body_over_the_limit_is_413(unchanged: Site, method: str, target: str, body: Any) -> None:
    server = unchanged.server
    answer = server.send(method, target, _padded(body, LIMIT + 1), {**JSON, **AS_EXT})
    assert answer.error(413) == "Request body is too large"
    # A body of exactly the limit is read (it is valid JSON; the route answers as usual).
    assert server.send("POST", "/ping", _padded({"message": "x"}, LIMIT), JSON).status == 200


def test_huge_content_length_with_a_small_body_is_413_at_once(unchanged: Site) -> None:
    head = (
        f"POST {PREFIX}/instances/i1/data HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\nx-extension-id: {EXT}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000000000000"
    ).encode()
    started = time.monotonic()
    answer = unchanged.server.send_raw(head, b'{"key": "k9", "value": 1}', timeout=5)
    assert answer.error(413) == "Request body is too large"
    assert time.monotonic() - started < 3  # answered without waiting for the promised bytes


def _send_all_then_read(site: Site, head: str, size: int) -> tuple[int, bytes]:
    """Send ``head`` and ``size`` body bytes in pieces, then read the answer, on a connection
    the client closes after it (``Connection: close``, as Node's http client, and so the proxy
    plugin, sends). A server that answered and closed early with the body unread makes the
    kernel reset the connection: ``sendall`` fails and the answer is never read."""
    with socket.create_connection(("127.0.0.1", site.server.port), timeout=20) as sock:
        tail = f"\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n"
        sock.sendall(head.encode() + tail.encode())
        piece = b" " * 65536
        for start in range(0, size, len(piece)):
            sock.sendall(piece[: size - start])
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        return response.status, response.read()


def test_a_client_still_sending_a_body_over_the_limit_reads_the_413(unchanged: Site) -> None:
    """The 413 comes once the body is in (read and dropped): the client reads it."""
    head = (
        f"POST {PREFIX}/instances/i1/data HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\nx-extension-id: {EXT}\r\n"
        "Content-Type: application/json"
    )
    status, body = _send_all_then_read(unchanged, head, LIMIT * 24)
    assert (status, json.loads(body)) == (413, {"error": "Request body is too large"})


def test_a_client_sending_a_body_without_the_token_reads_the_401(unchanged: Site) -> None:
    head = f"POST {PREFIX}/instances/i1/data HTTP/1.1\r\nHost: 127.0.0.1\r\nx-extension-id: {EXT}"
    status, body = _send_all_then_read(unchanged, head, LIMIT // 2)
    assert status == 401
    assert "bearer token" in json.loads(body)["error"]


def test_chunked_body_over_the_limit_is_413(unchanged: Site) -> None:
    chunk = b" " * 16384

    def body() -> Iterator[bytes]:
        yield b'{"key": "k9", "value": "'
        for _ in range(LIMIT // len(chunk) + 2):
            yield chunk
        yield b'"}'

    headers = {**JSON, **AS_EXT, "transfer-encoding": "chunked"}
    answer = unchanged.server.send("POST", "/instances/i1/data", body(), headers)
    assert answer.error(413) == "Request body is too large"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
        "application/xml",
        "json",
    ],
)
@pytest.mark.parametrize(("method", "target", "body"), BODY_ROUTES, ids=ROUTE_IDS)
def test_wrong_content_type_is_415(
    unchanged: Site, method: str, target: str, body: Any, content_type: str | None
) -> None:
    """Browsers send these cross-origin without a preflight: refusing them keeps any web page
    from writing through the user's browser."""
    headers = {**AS_EXT, **({"content-type": content_type} if content_type else {})}
    answer = unchanged.server.send(method, target, json.dumps(body).encode(), headers)
    assert answer.error(415) == "Content-Type must be application/json"


def test_json_content_types_are_accepted(site: Site) -> None:
    for content_type in (
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/merge-patch+json",
    ):
        body = b'{"message": "x"}'
        answer = site.server.send("POST", "/ping", body, {"content-type": content_type})
        assert (answer.status, answer.json()) == (200, {"message": "Pong! x"}), content_type


BAD_JSON = [
    b"{",
    b'{"id": "c9", "na',
    b"[1, 2]",
    b"[]",
    b"42",
    b'"c9"',
    b"null",
    b"true",
    b'{"id": "\xff\xfe"}',
    b"\xff\xfe{\x00}\x00",
    b'{"id": "\xed\xa0\x80"}',
    b'{"id": "c9"} {"id": "c8"}',
    b'{"key": "k9", "value": NaN}',
    b'{"key": "k9", "value": Infinity}',
    b"{'key': 'k9'}",
    b'{"key": "k9", "value": 1,}',
    b"\xef\xbb\xbf{}",
    b"",
    b"   ",
]


@pytest.mark.parametrize("raw", BAD_JSON, ids=repr)
@pytest.mark.parametrize(("method", "target", "body"), BODY_ROUTES, ids=ROUTE_IDS)
def test_bad_json_is_400(unchanged: Site, method: str, target: str, body: Any, raw: bytes) -> None:
    del body  # only the route matters
    answer = unchanged.server.send(method, target, raw, {**JSON, **AS_EXT})
    answer.error(400)


def _nested(depth: int, kind: str) -> bytes:
    opening, closing = (b"[", b"]") if kind == "array" else (b'{"a":', b"}")
    return opening * depth + b"1" + closing * depth


@pytest.mark.parametrize("kind", ["array", "object"])
@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 10_000, 100_000])
def test_too_deeply_nested_json_is_400(unchanged: Site, depth: int, kind: str) -> None:
    server, deep = unchanged.server, _nested(depth, kind)
    headers = {**JSON, **AS_EXT}
    for method, target, body in [
        ("POST", "/instances/i1/data", b'{"key": "deep", "value": ' + deep + b"}"),
        ("PUT", "/instances/i1/data/override", b'{"deep": ' + deep + b"}"),
        ("PUT", "/instances/i1/data/merge?deep=true", b'{"deep": ' + deep + b"}"),
        ("POST", "/characters", b'{"id": "c9", "name": ' + deep + b"}"),
    ]:
        message = server.send(method, target, body, headers).error(400)
        assert message == f"JSON is nested more than {MAX_JSON_DEPTH} levels deep"


@pytest.mark.parametrize("kind", ["array", "object"])
def test_nesting_up_to_the_limit_is_stored_and_returned_exactly(site: Site, kind: str) -> None:
    server, headers = site.server, {**JSON, **AS_EXT}
    deep = _nested(MAX_JSON_DEPTH - 1, kind)  # inside the body object: the limit exactly
    body = b'{"key": "deep", "value": ' + deep + b"}"
    assert server.send("POST", "/instances/i1/data", body, headers).status == 200
    stored = server.send("GET", "/instances/i1/data/deep", headers=AS_EXT)
    assert stored.body == b'{"deep":' + deep + b"}"
    merge = b'{"deep": ' + deep + b"}"
    answer = server.send("PUT", "/instances/i1/data/merge?deep=true", merge, headers)
    assert answer.status == 200, answer.body[:200]
    assert server.send("DELETE", "/instances/i1/data/deep", headers=AS_EXT).status == 200
