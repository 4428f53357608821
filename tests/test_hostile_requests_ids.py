"""Hostile requests: bad ids (path traversal and worse) in paths, queries, bodies and headers,
against a real server (see tests/hostile_http.py). Every one gets a 4xx ``{"error": <string>}``,
and a refused request creates no file and changes no row of any database."""

from __future__ import annotations

import pytest

from tests.hostile_http import AS_EXT, EXT, Site, site_fixtures

site, unchanged = site_fixtures()


# -- ids: path traversal and worse --------------------------------------------------------------

# Written into request targets as they are (percent-escapes included).
PATH_IDS = [
    "/",
    "%2F",
    "..",
    "%2e%2e",
    "%2e%2e%2f",
    "..%2f..%2fetc",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "\\",
    "..\\..\\x",
    "%5c",
    "%00",
    "a%00b",
    "C:%5cWindows",
    "%ff",
    "x" * 129,
    "x" * 5000,
]

ID_TARGETS = [
    # extension ids (in the path of cross-extension reads)
    ("GET", "/cross-extension/characters/{x}"),
    ("GET", "/cross-extension/characters/{x}/c1"),
    ("GET", "/cross-extension/characters/{x}/c1/instances"),
    ("GET", "/cross-extension/instances/{x}/i1"),
    ("GET", "/cross-extension/instances/{x}/i1/data"),
    ("GET", "/cross-extension/instances/{x}/i1/data/k1"),
    # character ids
    ("GET", "/characters/{x}"),
    ("DELETE", "/characters/{x}"),
    ("GET", "/characters/{x}/instances"),
    ("DELETE", "/characters/{x}/instances"),
    ("GET", "/instances?characterId={x}"),
    ("GET", f"/cross-extension/characters/{EXT}/{{x}}"),
    ("GET", f"/cross-extension/characters/{EXT}/{{x}}/instances"),
    # instance ids
    ("GET", "/instances/{x}"),
    ("DELETE", "/instances/{x}"),
    ("GET", "/instances/{x}/data"),
    ("DELETE", "/instances/{x}/data"),
    ("GET", "/instances/{x}/data/k1"),
    ("DELETE", "/instances/{x}/data/k1"),
    ("GET", f"/cross-extension/instances/{EXT}/{{x}}"),
    ("GET", f"/cross-extension/instances/{EXT}/{{x}}/data/k1"),
    # chat ids
    ("GET", "/chats/{x}"),
    ("GET", "/chats/{x}/messages"),
    ("GET", "/chats/{x}/messages/0"),
    ("GET", "/chats/{x}/messages/1/data/arm"),
    ("GET", "/chats/{x}/messages/1/data/arm/score"),
    ("GET", "/chats/{x}/messages/1/history/arm/score"),
    ("GET", "/chats/{x}/history"),
    ("GET", "/chats/{x}/versions"),
    ("GET", "/chats/{x}/versions/1/file"),
    ("GET", "/chats/{x}/versions/2/diff"),
    ("GET", "/search?q=hello&chatId={x}"),
    ("GET", "/data/arm?chatId={x}"),
    ("GET", "/events?chatId={x}"),
    # namespaces
    ("GET", "/data/{x}"),
    ("GET", "/chats/{chat}/messages/1/data/{x}"),
    ("GET", "/chats/{chat}/messages/1/data/{x}/score"),
    ("GET", "/chats/{chat}/messages/1/history/{x}/score"),
    ("GET", "/chats?namespace={x}"),
    ("GET", "/search?q=hello&namespace={x}"),
    ("GET", "/chats/{chat}/messages?namespace={x}"),
]
# Query parameters that only filter or select: a strange value finds nothing, not an error.
FILTERS = ("?namespace=", "&namespace=", "?chatId=", "&chatId=")


@pytest.mark.parametrize("bad", PATH_IDS, ids=repr)
def test_bad_ids_in_paths_and_queries(unchanged: Site, bad: str) -> None:
    for method, template in ID_TARGETS:
        target = template.format(x=bad, chat=unchanged.chat)
        answer = unchanged.server.send(method, target, headers=AS_EXT)
        where = (method, target[:120])
        if any(f + "{x}" in template for f in FILTERS) and "/events" not in template:
            assert answer.status in (200, 400), where
            answer.json()  # a JSON answer in any case (and nothing written: see ``unchanged``)
            continue
        if bad in ("/", "%2F") and answer.status in (200, 405) and "?" not in template:
            # An empty id segment: the router drops it, so this names the collection (a list
            # for GET, 405 for DELETE), never another resource.
            assert answer.status == (200 if method == "GET" else 405), where
            continue
        assert answer.status in (400, 404), (where, answer.status, answer.body[:200])
        answer.error(400, 404)


BODY_IDS = [
    "",
    "..",
    "../x",
    "/",
    "\\",
    "a/b",
    "\x00",
    "a\x00b",
    "/etc/passwd",
    "C:\\x",
    "%2e%2e%2f",
    "x" * 129,
    "x" * 5000,
    "ünï",
    "a\n",
    " ",
]


@pytest.mark.parametrize("bad", BODY_IDS, ids=repr)
def test_bad_ids_in_bodies_and_headers(unchanged: Site, bad: str) -> None:
    server = unchanged.server
    for method, target, body in [
        ("POST", "/register", {"extensionId": bad}),
        ("DELETE", "/register", {"extensionId": bad}),
        ("POST", "/characters", {"id": bad}),
        ("POST", "/instances", {"id": bad, "characterId": "c1"}),
        ("POST", "/instances", {"id": "i9", "characterId": bad}),
    ]:
        message = server.json(method, target, body, headers=AS_EXT).error(400)
        assert "ID" in message, (target, body, message)
    if bad.isprintable() and bad.isascii():  # a header value cannot carry the others
        for method, target in [("GET", "/characters"), ("DELETE", "/instances/i1/data")]:
            answer = server.send(method, target, headers={"x-extension-id": bad})
            answer.error(400)


@pytest.mark.parametrize(
    "db_path",
    [
        "../evil.db",
        "/tmp/evil.db",
        "/dev/null",
        "..\\evil.db",
        "sub/../../evil.db",
        "./../evil.db",
        "evil.db\x00.txt",
        "\x00",
        "C:\\evil.db",
        "~/evil.db",
        "%2e%2e%2fevil.db",
        "x" * 300 + ".db",
        ".",
        "..",
        "/",
        ["evil.db"],
    ],
    ids=repr,
)
def test_bad_db_path_on_register(unchanged: Site, db_path: object) -> None:
    body = {"extensionId": "dbpath", "dbPath": db_path}
    unchanged.server.json("POST", "/register", body).error(400)
